import type { ClickHouseClient } from '@clickhouse/client';

import { EVENT_NAME_SQL } from './analytics-schema';
import { quoteDatabase } from './identifiers';

// Persons are resolved through the workspace's alias map when read: the map
// is one scalar subquery (two arrays), and transform() replaces each
// anonymous id that has an alias with its known id. An alias therefore moves
// every earlier event of the anonymous id to the known person at once.
//
// Times go in as epoch milliseconds, for the reason given in queries.ts.

/**
 * Returns a query of the workspace's alias map: each aliased anonymous id
 * with its known id, following up to three aliases as the `person_alias_map`
 * view does. transform() below needs the map as constant arrays, so chains
 * are followed here, in the map, and not per row.
 */
function workspaceAliasesSql(db: string): string {
  return `WITH direct AS (
        SELECT anonymous_id, argMin(person_id, (aliased_at, event_id)) AS person_id
        FROM ${db}.person_aliases FINAL
        WHERE workspace_id = {workspaceId:String}
        GROUP BY anonymous_id
      )
      SELECT hop1.anonymous_id AS anonymous_id,
             multiIf(hop3.person_id != '', hop3.person_id, hop2.person_id != '', hop2.person_id, hop1.person_id) AS known_id
      FROM direct AS hop1
      LEFT JOIN direct AS hop2 ON hop2.anonymous_id = hop1.person_id
      LEFT JOIN direct AS hop3 ON hop3.anonymous_id = hop2.person_id`;
}

/** Returns the WITH element that defines `aliases`, the workspace's alias map as (anonymous ids, known ids). */
function aliasMap(db: string): string {
  return `(SELECT (groupArray(anonymous_id), groupArray(known_id)) FROM (${workspaceAliasesSql(db)})) AS aliases`;
}

/** Returns `column` mapped through the alias map: the known id of an aliased anonymous id, else the id itself. */
function resolved(column: string): string {
  return `transform(${column}, aliases.1, aliases.2, ${column})`;
}

/**
 * Returns the WITH element that defines `hashed_aliases`, the alias map as
 * cityHash64 values. Queries that only count or group persons work on the
 * 64-bit hashes of the resolved ids: on 8 million events a distinct count
 * took about a third of the time of the strings (docs/benchmarks.md). Two
 * persons count as one only if their ids collide in 64 bits, a chance of
 * about 3 in 10^8 for a million persons (birthday bound).
 */
export function hashedAliasMap(db: string): string {
  return `(SELECT (groupArray(cityHash64(anonymous_id)), groupArray(cityHash64(known_id))) FROM (${workspaceAliasesSql(db)})) AS hashed_aliases`;
}

/** Returns the cityHash64 of the resolved id of `column`, which needs hashedAliasMap in the WITH clause. */
export function resolvedHash(column: string): string {
  return `transform(cityHash64(${column}), hashed_aliases.1, hashed_aliases.2, cityHash64(${column}))`;
}

function rangeSql(column = 'at'): string {
  return `${column} >= fromUnixTimestamp64Milli({fromMs:Int64}, 'UTC') AND ${column} < fromUnixTimestamp64Milli({toMs:Int64}, 'UTC')`;
}

async function queryRows<T>(client: ClickHouseClient, query: string, params: Record<string, unknown>): Promise<T[]> {
  const result = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return result.json<T>();
}

/** Parses a DateTime64(3, 'UTC') value as chdb and a server print it: `2026-05-01 10:00:00.000`. */
function parseUtc(value: string): Date {
  return new Date(`${value.replace(' ', 'T')}Z`);
}

export interface TimeRange {
  workspaceId: string;
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
}

function rangeParams(request: TimeRange): Record<string, unknown> {
  return { workspaceId: request.workspaceId, fromMs: request.from.getTime(), toMs: request.to.getTime() };
}

// ---------------------------------------------------------------------------
// Active persons

export interface ActivePersons {
  /** Distinct persons with an event in the day (24 hours) before `to`. */
  daily: number;
  /** … in the 7 days before `to`. */
  weekly: number;
  /** … in the 30 days before `to`. */
  monthly: number;
}

export interface DailyActive {
  /** Start of the day in the request's time zone. */
  day: Date;
  persons: number;
}

const DAY_MS = 86_400_000;

/** Counts distinct resolved persons with events in the 1, 7 and 30 days before `to`. */
export async function activePersons(client: ClickHouseClient, database: string, request: { workspaceId: string; to: Date }): Promise<ActivePersons> {
  const db = quoteDatabase(database);
  const toMs = request.to.getTime();
  const rows = await queryRows<{ daily: number | string; weekly: number | string; monthly: number | string }>(
    client,
    `WITH ${hashedAliasMap(db)}
     SELECT uniqExactIf(person, at >= fromUnixTimestamp64Milli({dayMs:Int64}, 'UTC')) AS daily,
            uniqExactIf(person, at >= fromUnixTimestamp64Milli({weekMs:Int64}, 'UTC')) AS weekly,
            uniqExact(person) AS monthly
     FROM (
       SELECT ${resolvedHash('person_id')} AS person, at
       FROM ${db}.events
       WHERE workspace_id = {workspaceId:String} AND ${rangeSql()}
     )`,
    { workspaceId: request.workspaceId, fromMs: toMs - 30 * DAY_MS, toMs, dayMs: toMs - DAY_MS, weekMs: toMs - 7 * DAY_MS },
  );
  const row = rows[0];
  return { daily: Number(row?.daily ?? 0), weekly: Number(row?.weekly ?? 0), monthly: Number(row?.monthly ?? 0) };
}

/** Counts distinct resolved persons per calendar day of `timeZone` in [from, to). */
export async function dailyActivePersons(client: ClickHouseClient, database: string, request: TimeRange & { timeZone: string }): Promise<DailyActive[]> {
  const db = quoteDatabase(database);
  // Grouping by Date and converting the ~31 days afterwards costs less than
  // converting every row to the start of its day.
  const rows = await queryRows<{ day_ms: number | string; persons: number | string }>(
    client,
    `WITH ${hashedAliasMap(db)}
     SELECT toUnixTimestamp(toDateTime(day, {timeZone:String})) * 1000 AS day_ms,
            uniqExact(${resolvedHash('person_id')}) AS persons
     FROM ${db}.events
     WHERE workspace_id = {workspaceId:String} AND ${rangeSql()}
     GROUP BY toDate(at, {timeZone:String}) AS day
     ORDER BY day`,
    { ...rangeParams(request), timeZone: request.timeZone },
  );
  return rows.map((row) => ({ day: new Date(Number(row.day_ms)), persons: Number(row.persons) }));
}

/** Counts distinct resolved persons with any event in [from, to). */
export async function countActivePersons(client: ClickHouseClient, database: string, request: TimeRange): Promise<number> {
  const db = quoteDatabase(database);
  const rows = await queryRows<{ persons: number | string }>(
    client,
    `WITH ${hashedAliasMap(db)}
     SELECT uniqExact(${resolvedHash('person_id')}) AS persons
     FROM ${db}.events
     WHERE workspace_id = {workspaceId:String} AND ${rangeSql()}`,
    rangeParams(request),
  );
  return Number(rows[0]?.persons ?? 0);
}

// ---------------------------------------------------------------------------
// Event series

export interface SeriesPoint {
  /** Start of the bucket: an hour, or a day in the request's time zone. */
  at: Date;
  count: number;
  cost: number;
}

export interface EventNameSeries {
  /** The event name: the app's event type, or the ledger type of a quota event. */
  eventName: string;
  count: number;
  cost: number;
  /** Buckets with at least one event, in time order. */
  points: SeriesPoint[];
}

export interface EventSeriesRequest extends TimeRange {
  timeZone: string;
  bucket: 'hour' | 'day';
}

/**
 * Returns count and cost per event name and bucket over [from, to), read
 * from `events` with FINAL, so each event counts once. Buckets are hours or
 * days of `timeZone`.
 */
export async function eventSeries(client: ClickHouseClient, database: string, request: EventSeriesRequest): Promise<EventNameSeries[]> {
  const db = quoteDatabase(database);
  const bucket = request.bucket === 'hour' ? 'toStartOfHour(at, {timeZone:String})' : 'toStartOfDay(at, {timeZone:String})';
  const rows = await queryRows<{ event_name: string; bucket_ms: number | string; count: number | string; cost: number }>(
    client,
    `SELECT ${EVENT_NAME_SQL} AS event_name, toUnixTimestamp64Milli(toDateTime64(${bucket}, 3)) AS bucket_ms, count() AS count, sum(cost) AS cost
     FROM ${db}.events FINAL
     WHERE workspace_id = {workspaceId:String} AND ${rangeSql()}
     GROUP BY event_name, bucket_ms
     ORDER BY event_name, bucket_ms`,
    { ...rangeParams(request), timeZone: request.timeZone },
  );

  const series = new Map<string, EventNameSeries>();
  for (const row of rows) {
    let entry = series.get(row.event_name);
    if (entry === undefined) {
      entry = { eventName: row.event_name, count: 0, cost: 0, points: [] };
      series.set(row.event_name, entry);
    }
    const point = { at: new Date(Number(row.bucket_ms)), count: Number(row.count), cost: Number(row.cost) };
    entry.points.push(point);
    entry.count += point.count;
    entry.cost += point.cost;
  }
  return [...series.values()];
}

// ---------------------------------------------------------------------------
// People

export type PropertyOperator = 'equals' | 'not_equals' | 'contains' | 'is_set' | 'is_not_set';

export interface PropertyFilter {
  key: string;
  operator: PropertyOperator;
  /** Required for equals, not_equals and contains. */
  value?: string;
}

export type PeopleSortField = 'first_seen' | 'last_seen' | 'id';

export interface PeopleRequest {
  workspaceId: string;
  filters: PropertyFilter[];
  /** Keeps persons whose id or an anonymous id merged into them contains this text. */
  search?: string;
  sortBy: PeopleSortField;
  descending: boolean;
  limit: number;
  offset: number;
  /** Property keys to count persons by value, over every person that matches the filters. */
  breakdownKeys: string[];
}

export interface PersonRow {
  id: string;
  firstSeen: Date;
  lastSeen: Date;
  /** Anonymous ids merged into this person, sorted. */
  anonymousIds: string[];
  /** Resolved properties: the latest set value, else the earliest set-once value. Sorted by key. */
  properties: { key: string; value: string }[];
}

export interface PropertyBreakdown {
  key: string;
  /** Persons per value, most persons first; `value` null counts persons without the property. */
  values: { value: string | null; count: number }[];
}

export interface PeoplePage {
  total: number;
  people: PersonRow[];
  breakdowns: PropertyBreakdown[];
}

/** Maximum distinct values a breakdown returns per key. */
export const MAX_BREAKDOWN_VALUES = 100;

/** Returns the WITH elements that define `people`, one row per resolved person with its properties. */
function peopleCte(db: string): string {
  return `${aliasMap(db)},
    activity AS (
      SELECT ${resolved('person_id')} AS id, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
             arraySort(groupArrayIf(person_id, person_id != id)) AS anonymous_ids
      FROM ${db}.person_activity
      WHERE workspace_id = {workspaceId:String}
      GROUP BY id
    ),
    property_values AS (
      SELECT ${resolved('person_id')} AS id, key,
             if(countIf(operation = 'set') > 0,
                argMaxIf(value, (at, event_id), operation = 'set'),
                argMinIf(value, (at, event_id), operation = 'set_once')) AS value
      FROM ${db}.person_properties FINAL
      WHERE workspace_id = {workspaceId:String}
      GROUP BY id, key
    ),
    property_maps AS (
      SELECT id, mapFromArrays(groupArray(key), groupArray(value)) AS properties
      FROM property_values
      GROUP BY id
    ),
    people AS (
      SELECT a.id AS id, a.first_seen AS first_seen, a.last_seen AS last_seen, a.anonymous_ids AS anonymous_ids, p.properties AS properties
      FROM activity AS a
      LEFT JOIN property_maps AS p ON p.id = a.id
    )`;
}

function filterSql(filters: PropertyFilter[], search: string | undefined, params: Record<string, unknown>): string {
  const conditions = ['1'];
  filters.forEach((filter, index) => {
    const key = `filterKey${index}`;
    const value = `filterValue${index}`;
    params[key] = filter.key;
    params[value] = filter.value ?? '';
    switch (filter.operator) {
      case 'equals':
        conditions.push(`(mapContains(properties, {${key}:String}) AND properties[{${key}:String}] = {${value}:String})`);
        break;
      case 'not_equals':
        conditions.push(`NOT (mapContains(properties, {${key}:String}) AND properties[{${key}:String}] = {${value}:String})`);
        break;
      case 'contains':
        conditions.push(`positionCaseInsensitiveUTF8(properties[{${key}:String}], {${value}:String}) > 0`);
        break;
      case 'is_set':
        conditions.push(`mapContains(properties, {${key}:String})`);
        break;
      case 'is_not_set':
        conditions.push(`NOT mapContains(properties, {${key}:String})`);
        break;
    }
  });
  if (search !== undefined) {
    params.search = search;
    conditions.push('(positionCaseInsensitiveUTF8(id, {search:String}) > 0 OR arrayExists(x -> positionCaseInsensitiveUTF8(x, {search:String}) > 0, anonymous_ids))');
  }
  return conditions.join(' AND ');
}

const SORT_COLUMNS: Record<PeopleSortField, string> = { first_seen: 'first_seen', last_seen: 'last_seen', id: 'id' };

/**
 * Returns one page of the workspace's resolved persons that match the
 * filters, their total count, and the count of persons per value of each
 * breakdown key. Ties in the sort column are ordered by id.
 */
export async function listPeople(client: ClickHouseClient, database: string, request: PeopleRequest): Promise<PeoplePage> {
  const db = quoteDatabase(database);
  const params: Record<string, unknown> = { workspaceId: request.workspaceId, limit: request.limit, offset: request.offset };
  const where = filterSql(request.filters, request.search, params);
  const direction = request.descending ? 'DESC' : 'ASC';
  const order = request.sortBy === 'id' ? `id ${direction}` : `${SORT_COLUMNS[request.sortBy]} ${direction}, id ${direction}`;

  const rows = await queryRows<{ id: string; first_seen: string; last_seen: string; anonymous_ids: string[]; properties: Record<string, string>; total: number | string }>(
    client,
    `WITH ${peopleCte(db)}
     SELECT id, first_seen, last_seen, anonymous_ids, properties, count() OVER () AS total
     FROM people
     WHERE ${where}
     ORDER BY ${order}
     LIMIT {limit:UInt32} OFFSET {offset:UInt32}`,
    params,
  );

  let total = Number(rows[0]?.total ?? 0);
  if (rows.length === 0 && request.offset > 0) {
    const counted = await queryRows<{ total: number | string }>(client, `WITH ${peopleCte(db)} SELECT count() AS total FROM people WHERE ${where}`, params);
    total = Number(counted[0]?.total ?? 0);
  }

  const breakdowns = request.breakdownKeys.length === 0 ? [] : await breakdownPeople(client, db, request.breakdownKeys, where, params);
  return {
    total,
    people: rows.map((row) => ({
      id: row.id,
      firstSeen: parseUtc(row.first_seen),
      lastSeen: parseUtc(row.last_seen),
      anonymousIds: row.anonymous_ids,
      properties: Object.keys(row.properties)
        .sort()
        .map((key) => ({ key, value: row.properties[key]! })),
    })),
    breakdowns,
  };
}

async function breakdownPeople(
  client: ClickHouseClient,
  db: string,
  keys: string[],
  where: string,
  params: Record<string, unknown>,
): Promise<PropertyBreakdown[]> {
  const rows = await queryRows<{ key: string; value: string | null; count: number | string }>(
    client,
    `WITH ${peopleCte(db)}
     SELECT breakdown_key AS key, if(mapContains(properties, breakdown_key), properties[breakdown_key], NULL) AS value, count() AS count
     FROM people
     ARRAY JOIN {breakdownKeys:Array(String)} AS breakdown_key
     WHERE ${where}
     GROUP BY key, value
     ORDER BY key, count DESC, value
     LIMIT ${MAX_BREAKDOWN_VALUES} BY key`,
    { ...params, breakdownKeys: keys },
  );
  return keys.map((key) => ({
    key,
    values: rows.filter((row) => row.key === key).map((row) => ({ value: row.value, count: Number(row.count) })),
  }));
}

// ---------------------------------------------------------------------------
// Person timeline

export interface TimelineRequest {
  workspaceId: string;
  personId: string;
  from?: Date;
  to?: Date;
  descending: boolean;
  limit: number;
  offset: number;
}

export interface TimelineEvent {
  eventId: string;
  /** The ledger type, or the app's event name for an ingested event. */
  type: string;
  eventName: string;
  /** The id the event was sent with: the person's id or one of its anonymous ids. */
  sentAs: string;
  at: Date;
  meter: string;
  quantity: number;
  cost: number;
  currency: string;
  /** JSON text of the event's metadata (properties of an ingested event). */
  metadata: string;
}

export interface Timeline {
  /** The resolved person: the known id when `personId` is an aliased anonymous id. */
  personId: string;
  /** The ids whose events the timeline contains: the person's own and its anonymous ids. */
  ids: string[];
  total: number;
  events: TimelineEvent[];
}

/** Returns the events of a person and of every anonymous id aliased to it, newest first unless `descending` is false. */
export async function personTimeline(client: ClickHouseClient, database: string, request: TimelineRequest): Promise<Timeline> {
  const db = quoteDatabase(database);
  const idRows = await queryRows<{ person_id: string; ids: string[] }>(
    client,
    `WITH ${aliasMap(db)},
       ${resolved('{personId:String}')} AS known
     SELECT known AS person_id,
            arrayConcat([known], arraySort(arrayFilter((anonymous, target) -> target = known, aliases.1, aliases.2))) AS ids`,
    { workspaceId: request.workspaceId, personId: request.personId },
  );
  const personId = idRows[0]?.person_id ?? request.personId;
  const ids = idRows[0]?.ids ?? [request.personId];

  const conditions = ['workspace_id = {workspaceId:String}', 'person_id IN {ids:Array(String)}'];
  const params: Record<string, unknown> = { workspaceId: request.workspaceId, ids, limit: request.limit, offset: request.offset };
  if (request.from !== undefined) {
    conditions.push("at >= fromUnixTimestamp64Milli({fromMs:Int64}, 'UTC')");
    params.fromMs = request.from.getTime();
  }
  if (request.to !== undefined) {
    conditions.push("at < fromUnixTimestamp64Milli({toMs:Int64}, 'UTC')");
    params.toMs = request.to.getTime();
  }
  const direction = request.descending ? 'DESC' : 'ASC';

  const rows = await queryRows<{
    event_id: string;
    type: string;
    event_name: string;
    person_id: string;
    at: string;
    meter: string;
    quantity: number;
    cost: number;
    currency: string;
    metadata: string;
    total: number | string;
  }>(
    client,
    `SELECT event_id, type, ${EVENT_NAME_SQL} AS event_name, person_id, at, meter, quantity, cost, currency, metadata, count() OVER () AS total
     FROM ${db}.events FINAL
     WHERE ${conditions.join(' AND ')}
     ORDER BY at ${direction}, event_id ${direction}
     LIMIT {limit:UInt32} OFFSET {offset:UInt32}`,
    params,
  );

  let total = Number(rows[0]?.total ?? 0);
  if (rows.length === 0 && request.offset > 0) {
    const counted = await queryRows<{ total: number | string }>(client, `SELECT count() AS total FROM ${db}.events FINAL WHERE ${conditions.join(' AND ')}`, params);
    total = Number(counted[0]?.total ?? 0);
  }
  return {
    personId,
    ids,
    total,
    events: rows.map((row) => ({
      eventId: row.event_id,
      type: row.type,
      eventName: row.event_name,
      sentAs: row.person_id,
      at: parseUtc(row.at),
      meter: row.meter,
      quantity: Number(row.quantity),
      cost: Number(row.cost),
      currency: row.currency,
      metadata: row.metadata,
    })),
  };
}

// ---------------------------------------------------------------------------
// Funnels

export interface FunnelRequest extends TimeRange {
  /** Event names in order, 2 or more. */
  steps: string[];
  /** The maximum time from a person's first step to each later step, in milliseconds. */
  windowMs: number;
}

export interface FunnelStep {
  eventName: string;
  /** Persons who reached this step: they did every step up to it in order within the window. */
  persons: number;
  /** persons / persons of the first step; 0 when no person entered the funnel. */
  conversionRate: number;
  /** persons / persons of the previous step; 1 for the first step that anyone reached. */
  stepConversionRate: number;
  /** Sum of the cost of all events in [from, to) of the persons who reached this step. */
  cost: number;
}

/**
 * Counts the resolved persons who did the steps in order within the window,
 * with ClickHouse's windowFunnel over the events in [from, to). Other events
 * between two steps do not break a sequence.
 */
export async function funnel(client: ClickHouseClient, database: string, request: FunnelRequest): Promise<FunnelStep[]> {
  const db = quoteDatabase(database);
  // Only step events and events with a cost matter, so the others are filtered out early.
  const params: Record<string, unknown> = { ...rangeParams(request), windowMs: request.windowMs, steps: request.steps };
  const conditions = request.steps.map((step, index) => {
    params[`step${index}`] = step;
    return `event_name = {step${index}:String}`;
  });

  // One row per level reached (1 = the first step only), with the persons
  // and their cost; a person who reached level n also reached every lower one.
  const rows = await queryRows<{ level: number | string; persons: number | string; cost: number }>(
    client,
    `WITH ${hashedAliasMap(db)}
     SELECT level, count() AS persons, sum(person_cost) AS cost
     FROM (
       SELECT ${resolvedHash('person_id')} AS person,
              windowFunnel({windowMs:UInt64})(toUInt64(toUnixTimestamp64Milli(at)), ${conditions.join(', ')}) AS level,
              sum(cost) AS person_cost
       FROM (
         SELECT person_id, at, cost, ${EVENT_NAME_SQL} AS event_name
         FROM ${db}.events FINAL
         WHERE workspace_id = {workspaceId:String} AND ${rangeSql()}
           AND (event_name IN {steps:Array(String)} OR cost != 0)
       )
       GROUP BY person
     )
     WHERE level > 0
     GROUP BY level`,
    params,
  );

  const byLevel = new Map(rows.map((row) => [Number(row.level), { persons: Number(row.persons), cost: Number(row.cost) }]));
  const steps: FunnelStep[] = [];
  let first = 0;
  let previous = 0;
  for (let index = request.steps.length - 1; index >= 0; index -= 1) {
    // Reaching step index+1 means a level of index+1 or more, so sum from the last step down.
    const level = byLevel.get(index + 1) ?? { persons: 0, cost: 0 };
    const next = steps[0];
    steps.unshift({
      eventName: request.steps[index]!,
      persons: level.persons + (next?.persons ?? 0),
      conversionRate: 0,
      stepConversionRate: 0,
      cost: level.cost + (next?.cost ?? 0),
    });
  }
  first = steps[0]?.persons ?? 0;
  for (const step of steps) {
    step.conversionRate = first === 0 ? 0 : step.persons / first;
    if (step === steps[0]) {
      step.stepConversionRate = first === 0 ? 0 : 1;
    } else {
      step.stepConversionRate = previous === 0 ? 0 : step.persons / previous;
    }
    previous = step.persons;
  }
  return steps;
}
