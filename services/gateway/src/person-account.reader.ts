import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';

import type { Period, SubscriptionStatus, SubscriptionTerms, WindowRef } from '@vevee/contracts';
import {
  counterKey,
  emptyPersonState,
  limitStatuses,
  planOf,
  type Enforcement,
  type PersonState,
  type WindowKind,
  type WorkspaceCatalog,
} from '@vevee/domain';
import { PG_POOL } from '@vevee/postgres';

import type { WorkspaceContext } from './auth';
import { badUserInput } from './errors';
import { loadWorkspaceCatalog } from './workspace-catalog';

export interface TermsView {
  planId: string;
  status: SubscriptionStatus;
  startsAt: Date;
}

/** The parent of PersonSubscription's fields. */
export interface SubscriptionView {
  personId: string;
  current: TermsView | null;
  scheduled: { terms: TermsView; effectiveAt: Date } | null;
  planId: string;
}

export interface SubscriptionChangeView {
  eventId: string;
  at: Date;
  occurredAt: Date;
  effectiveAt: Date;
  from: TermsView | null;
  to: TermsView;
  reason: string;
  source: string;
  externalId: string;
}

export interface CreditBalanceView {
  meter: string;
  balance: number;
  grants: number;
}

export interface CreditEntryView {
  eventId: string;
  grantId: string;
  meter: string;
  kind: string;
  amount: number;
  reservationId: string | null;
  usageEventId: string | null;
  at: Date;
  effectiveAt: Date;
}

export interface Page<T> {
  nodes: T[];
  endCursor: string | null;
  hasMore: boolean;
}

export interface LimitUsageView {
  limitId: string;
  meter: string;
  period: Period;
  window: WindowKind;
  enforcement: Enforcement;
  credits: boolean;
  amount: number;
  used: number;
  reserved: number;
  remaining: number;
  windowStart: Date;
  resetsAt: Date;
}

export const MAX_PAGE_SIZE = 100;

/** Converts a NUMERIC column, which pg returns as a string. */
function parseNumeric(value: string, column: string): number {
  const number = Number(value);
  if (!Number.isFinite(number)) throw new Error(`${column} is "${value}", which is not a finite number`);
  return number;
}

/** Rounds to 9 decimal places like the decider, so 0.1 + 0.2 reads as 0.3. */
function round(amount: number): number {
  return Math.round(amount * 1e9) / 1e9;
}

function termsOf(planId: string | null, status: SubscriptionStatus | null, startsAt: Date | null): TermsView | null {
  return planId === null || status === null || startsAt === null ? null : { planId, status, startsAt };
}

function toTerms(view: TermsView): SubscriptionTerms {
  return { planId: view.planId, status: view.status, startsAt: view.startsAt.getTime() };
}

/** A page position: the sort key of the last row of the previous page. */
type Cursor = [at: string, eventId: string, grantId: string];

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

function decodeCursor(after: string | null | undefined): Cursor | undefined {
  if (after === null || after === undefined) return undefined;
  const invalid = () => badUserInput('after', 'argument "after" is not a cursor of this list: pass the endCursor of the previous page, or leave it out for the first page');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(after, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || !parsed.every((part) => typeof part === 'string') || Number.isNaN(Date.parse(parsed[0] as string))) {
    throw invalid();
  }
  return parsed as Cursor;
}

function checkFirst(first: number | null | undefined): number {
  const size = first ?? 20;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw badUserInput('first', `argument "first" is ${String(first)}: send a whole number from 1 to ${MAX_PAGE_SIZE}`);
  }
  return size;
}

function pageOf<R, T>(rows: R[], size: number, view: (row: R) => T, cursor: (row: R) => Cursor): Page<T> {
  const hasMore = rows.length > size;
  const kept = rows.slice(0, size);
  const last = kept.at(-1);
  return { nodes: kept.map(view), endCursor: last === undefined ? null : encodeCursor(cursor(last)), hasMore };
}

interface SubscriptionRecord {
  plan_id: string | null;
  status: SubscriptionStatus | null;
  starts_at: Date | null;
  scheduled_plan_id: string | null;
  scheduled_status: SubscriptionStatus | null;
  scheduled_starts_at: Date | null;
  scheduled_effective_at: Date | null;
}

interface HistoryRecord {
  event_id: string;
  at: Date;
  occurred_at: Date;
  effective_at: Date;
  from_plan_id: string | null;
  from_status: SubscriptionStatus | null;
  from_starts_at: Date | null;
  to_plan_id: string;
  to_status: SubscriptionStatus;
  to_starts_at: Date;
  reason: string;
  source: string;
  external_id: string;
}

interface EntryRecord {
  event_id: string;
  grant_id: string;
  meter: string;
  kind: string;
  amount: string;
  reservation_id: string | null;
  usage_event_id: string | null;
  at: Date;
  effective_at: Date;
}

/** Reads a person's subscription, credits and limits from the PostgreSQL read models. */
@Injectable()
export class PersonAccountReader {
  constructor(@Inject(PG_POOL) private readonly pool: pg.Pool) {}

  private async catalog(workspace: WorkspaceContext): Promise<WorkspaceCatalog> {
    const catalog = await loadWorkspaceCatalog(this.pool, workspace.workspaceId);
    if (catalog === undefined) throw new Error(`workspace "${workspace.workspaceId}" of the API key has no row in PostgreSQL`);
    return catalog;
  }

  /**
   * Returns the subscription in force at `now`. A scheduled change whose time
   * has come is current, as the decider's fold treats it, even before the
   * person's next event records anything.
   */
  private async termsAt(workspaceId: string, personId: string, now: number): Promise<Pick<SubscriptionView, 'current' | 'scheduled'>> {
    const result = await this.pool.query<SubscriptionRecord>('SELECT * FROM subscriptions WHERE workspace_id = $1 AND person_id = $2', [workspaceId, personId]);
    const row = result.rows[0];
    if (row === undefined) return { current: null, scheduled: null };
    const current = termsOf(row.plan_id, row.status, row.starts_at);
    const scheduledTerms = termsOf(row.scheduled_plan_id, row.scheduled_status, row.scheduled_starts_at);
    if (scheduledTerms === null || row.scheduled_effective_at === null) return { current, scheduled: null };
    if (row.scheduled_effective_at.getTime() <= now) return { current: scheduledTerms, scheduled: null };
    return { current, scheduled: { terms: scheduledTerms, effectiveAt: row.scheduled_effective_at } };
  }

  /** Returns a decider state that holds only the subscription, for the domain's plan and window rules. */
  private static stateWith(current: TermsView | null): PersonState {
    const state = emptyPersonState();
    state.subscription.current = current === null ? null : toTerms(current);
    return state;
  }

  async subscription(workspace: WorkspaceContext, personId: string, now: number): Promise<SubscriptionView> {
    const [catalog, terms] = await Promise.all([this.catalog(workspace), this.termsAt(workspace.workspaceId, personId, now)]);
    const plan = planOf(PersonAccountReader.stateWith(terms.current), catalog);
    return { personId, ...terms, planId: plan.planId };
  }

  async subscriptionHistory(workspace: WorkspaceContext, personId: string, first: number | null | undefined, after: string | null | undefined): Promise<Page<SubscriptionChangeView>> {
    const size = checkFirst(first);
    const cursor = decodeCursor(after);
    const result = await this.pool.query<HistoryRecord>(
      `SELECT * FROM subscription_history
       WHERE workspace_id = $1 AND person_id = $2 AND ($3::timestamptz IS NULL OR (at, event_id) < ($3::timestamptz, $4::text))
       ORDER BY at DESC, event_id DESC LIMIT $5`,
      [workspace.workspaceId, personId, cursor?.[0] ?? null, cursor?.[1] ?? null, size + 1],
    );
    return pageOf(
      result.rows,
      size,
      (row) => ({
        eventId: row.event_id,
        at: row.at,
        occurredAt: row.occurred_at,
        effectiveAt: row.effective_at,
        from: termsOf(row.from_plan_id, row.from_status, row.from_starts_at),
        to: { planId: row.to_plan_id, status: row.to_status, startsAt: row.to_starts_at },
        reason: row.reason,
        source: row.source,
        externalId: row.external_id,
      }),
      (row) => [row.at.toISOString(), row.event_id, ''],
    );
  }

  /**
   * Sums the remaining credit of the grants that are effective at `now` and
   * not expired, per meter or currency. A recurring grant's own row is its
   * schedule and holds nothing; its renewals carry the credit.
   */
  async creditBalances(workspace: WorkspaceContext, personId: string, meter: string | null | undefined, now: number): Promise<CreditBalanceView[]> {
    const result = await this.pool.query<{ meter: string; balance: string; grants: number }>(
      `SELECT meter, sum(remaining)::text AS balance, count(*)::int AS grants FROM credit_grants
       WHERE workspace_id = $1 AND person_id = $2 AND recurrence IS NULL AND remaining > 0
         AND effective_at <= $3 AND (expires_at IS NULL OR expires_at > $3) AND ($4::text IS NULL OR meter = $4)
       GROUP BY meter ORDER BY meter`,
      [workspace.workspaceId, personId, new Date(now), meter ?? null],
    );
    return result.rows.map((row) => ({ meter: row.meter, balance: parseNumeric(row.balance, 'sum of credit_grants.remaining'), grants: row.grants }));
  }

  async creditEntries(workspace: WorkspaceContext, personId: string, first: number | null | undefined, after: string | null | undefined): Promise<Page<CreditEntryView>> {
    const size = checkFirst(first);
    const cursor = decodeCursor(after);
    const result = await this.pool.query<EntryRecord>(
      `SELECT event_id, grant_id, meter, kind, amount::text, reservation_id, usage_event_id, at, effective_at FROM credit_entries
       WHERE workspace_id = $1 AND person_id = $2
         AND ($3::timestamptz IS NULL OR (at, event_id, grant_id) < ($3::timestamptz, $4::text, $5::text))
       ORDER BY at DESC, event_id DESC, grant_id DESC LIMIT $6`,
      [workspace.workspaceId, personId, cursor?.[0] ?? null, cursor?.[1] ?? null, cursor?.[2] ?? null, size + 1],
    );
    return pageOf(
      result.rows,
      size,
      (row) => ({
        eventId: row.event_id,
        grantId: row.grant_id,
        meter: row.meter,
        kind: row.kind,
        amount: parseNumeric(row.amount, 'credit_entries.amount'),
        reservationId: row.reservation_id,
        usageEventId: row.usage_event_id,
        at: row.at,
        effectiveAt: row.effective_at,
      }),
      (row) => [row.at.toISOString(), row.event_id, row.grant_id],
    );
  }

  /**
   * Returns each limit of the person's plan at `now` (only those on `meter`
   * when given) with its window, computed by the domain's rules from the
   * subscription, and the usage of that window: `used` from usage_counters,
   * `reserved` from the active holds made in the window that have not expired.
   */
  async limits(workspace: WorkspaceContext, personId: string, meter: string | null | undefined, now: number): Promise<LimitUsageView[]> {
    const [catalog, terms] = await Promise.all([this.catalog(workspace), this.termsAt(workspace.workspaceId, personId, now)]);
    if (meter !== null && meter !== undefined && catalog.meters[meter] === undefined) {
      const known = Object.keys(catalog.meters).sort();
      throw badUserInput(
        'meter',
        `argument "meter" is ${JSON.stringify(meter)}, which the workspace does not define: ${known.length === 0 ? 'add the meter to the plan first' : `use one of ${known.join(', ')}`}`,
      );
    }
    const state = PersonAccountReader.stateWith(terms.current);
    const plan = planOf(state, catalog);
    const meters = [...new Set(plan.limits.map((limit) => limit.meter))].filter((key) => meter === null || meter === undefined || key === meter);

    // The first pass gives the windows; the second reads their counters into the state.
    // A window counts only the allowance part of a hold when every limit of the meter on it takes credits, as the decider marks it.
    const windows = meters.flatMap((key) => {
      const statuses = limitStatuses(state, catalog, plan, key, now);
      const sameWindow = (a: WindowRef, b: WindowRef) => a.period === b.period && a.start === b.start && a.end === b.end;
      return statuses.map((status) => ({
        meter: key,
        window: status.window,
        credits: statuses.filter((other) => sameWindow(other.window, status.window)).every((other) => other.limit.credits),
      }));
    });
    await this.loadCounters(workspace.workspaceId, personId, windows, now, state);

    return meters.flatMap((key) =>
      limitStatuses(state, catalog, plan, key, now).map((status) => ({
        limitId: status.limit.id,
        meter: key,
        period: status.limit.period,
        window: status.limit.window,
        enforcement: status.limit.enforcement,
        credits: status.limit.credits,
        amount: status.limit.amount,
        used: status.used,
        reserved: status.reserved,
        remaining: Math.max(0, status.available),
        windowStart: new Date(status.window.start),
        resetsAt: new Date(status.window.end),
      })),
    );
  }

  /** Puts the counter of each window into the state: used from usage_counters, reserved from the live holds. */
  private async loadCounters(workspaceId: string, personId: string, windows: Array<{ meter: string; window: WindowRef; credits: boolean }>, now: number, state: PersonState): Promise<void> {
    if (windows.length === 0) return;
    const result = await this.pool.query<{ used: string; reserved: string }>(
      `SELECT
         COALESCE((
           SELECT c.used FROM usage_counters c
           WHERE c.workspace_id = $1 AND c.person_id = $2 AND c.meter = w.meter
             AND c.period = w.period AND c.window_start = w.window_start AND c.window_end = w.window_end
         ), 0)::text AS used,
         (
           SELECT COALESCE(SUM(CASE WHEN w.credits THEN r.quantity - r.credit_quantity ELSE r.quantity END), 0) FROM reservations r
           WHERE r.workspace_id = $1 AND r.person_id = $2 AND r.meter = w.meter
             AND r.status = 'active' AND r.expires_at > $3
             AND r.reserved_at >= w.window_start AND r.reserved_at < w.window_end
         )::text AS reserved
       FROM unnest($4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::boolean[]) WITH ORDINALITY
         AS w(meter, period, window_start, window_end, credits, position)
       ORDER BY w.position`,
      [
        workspaceId,
        personId,
        new Date(now),
        windows.map((entry) => entry.meter),
        windows.map((entry) => entry.window.period),
        windows.map((entry) => new Date(entry.window.start)),
        windows.map((entry) => new Date(entry.window.end)),
        windows.map((entry) => entry.credits),
      ],
    );
    windows.forEach((entry, index) => {
      const row = result.rows[index];
      if (row === undefined) throw new Error(`limits query returned no row for the ${entry.window.period} window of ${entry.meter}`);
      state.counters.set(counterKey(entry.meter, entry.window), {
        used: round(parseNumeric(row.used, 'usage_counters.used')),
        reserved: round(parseNumeric(row.reserved, 'sum of reservations.quantity')),
        end: entry.window.end,
      });
    });
  }
}
