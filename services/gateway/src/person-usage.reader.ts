import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';

import type { Period, WindowRef } from '@vevee/contracts';
import { PERIODS, windowFor } from '@vevee/domain';
import { PG_POOL } from '@vevee/postgres';

import type { WorkspaceContext } from './auth';

/** One meter's quota in the current window of one period. */
export interface MeterUsage {
  meter: string;
  period: Period;
  used: number;
  reserved: number;
  /** Null when the plan sets no limit for this period. */
  limit: number | null;
  remaining: number | null;
  resetsAt: Date;
  windowStart: Date;
}

export interface PersonUsageRequest {
  personId: string;
  meter: string;
  /** Unset reads every period. */
  period?: Period;
  /** The instant whose windows are read, in epoch milliseconds. */
  now: number;
}

interface WindowTotalsRow {
  period: Period;
  used: string;
  reserved: string;
}

/** Converts a NUMERIC column, which pg returns as a string. */
function parseNumeric(value: string, column: string): number {
  const number = Number(value);
  if (!Number.isFinite(number)) {
    throw new Error(`${column} is "${value}", which is not a finite number`);
  }
  return number;
}

/** Reads a person's quota usage from the PostgreSQL read models. */
@Injectable()
export class PersonUsageReader {
  constructor(@Inject(PG_POOL) private readonly pool: pg.Pool) {}

  /** Returns the person an alias merged this id into, or null. */
  async mergedInto(workspace: WorkspaceContext, personId: string): Promise<string | null> {
    const result = await this.pool.query<{ merged_into: string }>('SELECT merged_into FROM person_merges WHERE workspace_id = $1 AND person_id = $2', [
      workspace.workspaceId,
      personId,
    ]);
    return result.rows[0]?.merged_into ?? null;
  }

  /**
   * Returns one entry per period (or only `request.period`) for the calendar
   * windows that contain `request.now` in the workspace's time zone. Each
   * period's limit comes from `limits`, which the caller reads from the
   * person's plan after checking the meter.
   */
  async read(workspace: WorkspaceContext, request: PersonUsageRequest, limits: Partial<Record<Period, number>>): Promise<MeterUsage[]> {
    const periods = request.period === undefined ? PERIODS : [request.period];
    const windows = periods.map((period) => windowFor(period, request.now, workspace.timeZone));
    const totals = await this.windowTotals(workspace.workspaceId, request, windows);

    return windows.map((window, index) => {
      const row = totals[index];
      if (row === undefined || row.period !== window.period) {
        throw new Error(`usage query returned no row for the ${window.period} window`);
      }
      const used = parseNumeric(row.used, 'usage_counters.used');
      const reserved = parseNumeric(row.reserved, 'sum of reservations.quantity');
      const limit = limits[window.period] ?? null;
      return {
        meter: request.meter,
        period: window.period,
        used,
        reserved,
        limit,
        remaining: limit === null ? null : Math.max(0, limit - used - reserved),
        resetsAt: new Date(window.end),
        windowStart: new Date(window.start),
      };
    });
  }

  /**
   * Reads `used` from the counter of each window (0 without a row) and sums the
   * holds made in the window that are still active at `now`. A hold past its
   * expiry is left out even while its row says 'active', because the row
   * changes only when the projector applies the QuotaExpired event, which can
   * come later than the expiry time.
   */
  private async windowTotals(workspaceId: string, request: PersonUsageRequest, windows: WindowRef[]): Promise<WindowTotalsRow[]> {
    const result = await this.pool.query<WindowTotalsRow>(
      `SELECT w.period,
         COALESCE((
           SELECT c.used FROM usage_counters c
           WHERE c.workspace_id = $1 AND c.person_id = $2 AND c.meter = $3
             AND c.period = w.period AND c.window_start = w.window_start AND c.window_end = w.window_end
         ), 0)::text AS used,
         (
           SELECT COALESCE(SUM(r.quantity), 0) FROM reservations r
           WHERE r.workspace_id = $1 AND r.person_id = $2 AND r.meter = $3
             AND r.status = 'active' AND r.expires_at > $4
             AND r.reserved_at >= w.window_start AND r.reserved_at < w.window_end
         )::text AS reserved
       FROM unnest($5::text[], $6::timestamptz[], $7::timestamptz[]) WITH ORDINALITY AS w(period, window_start, window_end, position)
       ORDER BY w.position`,
      [
        workspaceId,
        request.personId,
        request.meter,
        new Date(request.now),
        windows.map((window) => window.period),
        windows.map((window) => new Date(window.start)),
        windows.map((window) => new Date(window.end)),
      ],
    );
    return result.rows;
  }
}
