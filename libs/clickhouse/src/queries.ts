import type { ClickHouseClient } from '@clickhouse/client';

import { hashedAliasMap, resolvedHash } from './analytics-queries';
import { quoteDatabase } from './identifiers';

// Every query reads `events` with FINAL, so copies of a redelivered event that
// no merge has collapsed yet count once.
//
// Times go in as epoch milliseconds (Int64) and are converted in SQL, because
// chdb 3.4 formats a Date query parameter to whole seconds and drops the
// milliseconds, while the HTTP client keeps them.
//
// A ClickHouse server quotes UInt64 values in JSON by default
// (output_format_json_quote_64bit_integers) and chdb 3.4 does not, so every
// count goes through Number().

export interface UsageSummaryRequest {
  workspaceId: string;
  /** Start of the range, inclusive. */
  from: Date;
  /** End of the range, exclusive. */
  to: Date;
}

export interface UsageByType {
  /** The ledger event type, for example QuotaCommitted. */
  type: string;
  count: number;
  cost: number;
}

export interface UsageSummary {
  events: number;
  cost: number;
  /** Distinct persons with at least one event in the range, after the alias map. */
  activePersons: number;
  /** One entry per ledger event type present in the range, sorted by type. */
  byType: UsageByType[];
}

export interface CountEventsRequest {
  workspaceId: string;
  /** A ledger event type; unset counts every type. */
  type?: string;
  personId?: string;
}

function epochMillis(field: string, value: Date): number {
  const millis = value.getTime();
  if (Number.isNaN(millis)) {
    throw new RangeError(`${field} is an invalid Date: pass a Date built from a valid time`);
  }
  return millis;
}

async function queryRows<T>(client: ClickHouseClient, query: string, params: Record<string, unknown>): Promise<T[]> {
  const result = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return result.json<T>();
}

/**
 * Returns a workspace's events, cost and active persons over [from, to), in
 * total and per ledger event type.
 */
export async function usageSummary(client: ClickHouseClient, database: string, request: UsageSummaryRequest): Promise<UsageSummary> {
  const db = quoteDatabase(database);
  const params = {
    workspaceId: request.workspaceId,
    fromMs: epochMillis('from', request.from),
    toMs: epochMillis('to', request.to),
  };
  const range = `workspace_id = {workspaceId:String}
    AND at >= fromUnixTimestamp64Milli({fromMs:Int64}, 'UTC')
    AND at < fromUnixTimestamp64Milli({toMs:Int64}, 'UTC')`;

  // Persons are counted after the alias map, so an anonymous id aliased to a
  // known person counts as that person. They are counted by 64-bit hash.
  const totals = await queryRows<{ events: number | string; cost: number; active_persons: number | string }>(
    client,
    `WITH ${hashedAliasMap(db)}
     SELECT count() AS events, sum(cost) AS cost, uniqExact(${resolvedHash('person_id')}) AS active_persons
     FROM ${db}.events FINAL
     WHERE ${range}`,
    params,
  );
  const byType = await queryRows<{ type: string; count: number | string; cost: number }>(
    client,
    `SELECT type, count() AS count, sum(cost) AS cost
     FROM ${db}.events FINAL
     WHERE ${range}
     GROUP BY type
     ORDER BY type`,
    params,
  );

  const total = totals[0];
  return {
    events: Number(total?.events ?? 0),
    cost: Number(total?.cost ?? 0),
    activePersons: Number(total?.active_persons ?? 0),
    byType: byType.map((row) => ({ type: row.type, count: Number(row.count), cost: Number(row.cost) })),
  };
}

/** Counts a workspace's events, optionally of one ledger event type and one person. */
export async function countEvents(client: ClickHouseClient, database: string, request: CountEventsRequest): Promise<number> {
  const db = quoteDatabase(database);
  const conditions = ['workspace_id = {workspaceId:String}'];
  const params: Record<string, unknown> = { workspaceId: request.workspaceId };
  if (request.type !== undefined) {
    conditions.push('type = {type:String}');
    params.type = request.type;
  }
  if (request.personId !== undefined) {
    conditions.push('person_id = {personId:String}');
    params.personId = request.personId;
  }

  const rows = await queryRows<{ count: number | string }>(
    client,
    `SELECT count() AS count FROM ${db}.events FINAL WHERE ${conditions.join(' AND ')}`,
    params,
  );
  return Number(rows[0]?.count ?? 0);
}
