/**
 * Loads synthetic events into a fresh embedded ClickHouse (chdb) and times
 * each analytics query function that the GraphQL gateway calls. Prints a
 * Markdown table; docs/benchmarks.md records a run.
 *
 *   npx tsx services/bench/src/analytics-bench.ts
 *
 * BENCH_EVENTS sets the event count (default 10,000,000) and BENCH_RUNS the
 * timed runs per query (default 5). The data directory is a new temporary
 * folder, deleted at the end, unless BENCH_DATA_DIR names one to keep: a
 * second run with the same BENCH_DATA_DIR reuses its events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import type { ClickHouseClient } from '@clickhouse/client';

import {
  activePersons,
  createClickHouse,
  dailyActivePersons,
  ensureClickHouseSchema,
  eventSeries,
  funnel,
  listPeople,
  personTimeline,
  runAnalystQuery,
  usageSummary,
} from '@vevee/clickhouse';

const DATABASE = 'vevee';
const DAY_MS = 86_400_000;

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`${name} is "${raw}": set a whole number of 1 or more\n`);
    process.exit(2);
  }
  return value;
}

const EVENTS = positiveInteger('BENCH_EVENTS', 10_000_000);
const RUNS = positiveInteger('BENCH_RUNS', 5);
/** Persons in the large workspace ws-0; ws-1 gets a fifth as many. */
const PERSONS = 100_000;

/**
 * Returns one INSERT … SELECT from numbers(): 80% of events in ws-0 and 20% in ws-1,
 * spread evenly over the 30 days before `endMs`. Each person's events cycle
 * through page_view, signup_started, signup_completed, chat.completion and
 * four quota events, in that order. Every 7th event is sent with the
 * person's anonymous id, and one $alias event per 1,000 events merges an
 * anonymous id into its person. 1% of events are $identify events that set a
 * plan and a country (changing over time) and set once a first page.
 */
function insertSql(endMs: number): string {
  const startMs = endMs - 30 * DAY_MS;
  const stepMs = Math.floor((30 * DAY_MS) / EVENTS);
  return `INSERT INTO ${DATABASE}.events
    (event_id, workspace_id, person_id, type, event_type, meter, quantity, cost, currency,
     reservation_id, idempotency_key, at, plan_version, metadata, ledger_partition, ledger_offset, payload)
  SELECT
    toString(number) AS event_id,
    if(number % 5 = 4, 'ws-1', 'ws-0') AS workspace_id,
    multiIf(number % 1000 = 1, concat('p-', toString(aliased_person)),
            number % 7 = 0, concat('anon-', toString(person)), concat('p-', toString(person))) AS person_id,
    multiIf(number % 1000 = 1, '$alias', number % 100 = 3, '$identify',
            kind = 0, 'page_view', kind = 1, 'signup_started', kind = 2, 'signup_completed',
            kind = 3, 'UsageTracked', kind = 4, 'QuotaReserved', kind = 5, 'QuotaCommitted', 'QuotaDenied') AS type,
    multiIf(number % 1000 = 1, '$alias', number % 100 = 3, '$identify',
            kind = 0, 'page_view', kind = 1, 'signup_started', kind = 2, 'signup_completed',
            kind = 3, 'chat.completion', '') AS event_type,
    if(kind >= 4, 'tokens', '') AS meter,
    toFloat64(100 + number % 900) AS quantity,
    if(kind = 3 OR kind = 5, (number % 1000) / 10000, 0) AS cost,
    'USD' AS currency,
    if(kind IN (4, 5), concat('r-', toString(intDiv(number, 2))), '') AS reservation_id,
    concat('k-', toString(number)) AS idempotency_key,
    fromUnixTimestamp64Milli(toInt64(${startMs} + number * ${stepMs}), 'UTC') AS at,
    1 AS plan_version,
    multiIf(number % 1000 = 1, concat('{"anonymousId":"anon-', toString(aliased_person), '"}'),
            number % 100 = 3, concat('{"set":{"plan":"', ['free', 'pro', 'team'][1 + intDiv(number, 100) % 3],
                                     '","country":"', ['DE', 'FR', 'US', 'JP', 'BR'][1 + intDiv(number, 300) % 5],
                                     '"},"setOnce":{"first_path":"/p', toString(number % 10), '"}}'),
            '{}') AS metadata,
    0 AS ledger_partition,
    number AS ledger_offset,
    '{}' AS payload
  FROM (
    SELECT number,
           if(number % 5 = 4, number % ${PERSONS / 5}, number % ${PERSONS}) AS person,
           intDiv(number, ${PERSONS}) % 8 AS kind,
           intDiv(number, 1000) % ${PERSONS} AS aliased_person
    FROM numbers(${EVENTS})
  )`;
}

async function time<T>(label: string, run: () => Promise<T>, results: { label: string; ms: number[]; note: string }[], note: (value: T) => string): Promise<void> {
  const ms: number[] = [];
  let last: T | undefined;
  // One untimed run first, so caches and the alias map are warm as in a running gateway.
  await run();
  for (let index = 0; index < RUNS; index += 1) {
    const start = performance.now();
    last = await run();
    ms.push(performance.now() - start);
  }
  results.push({ label, ms, note: note(last as T) });
  process.stderr.write(`${label}: ${ms.map((value) => value.toFixed(0)).join(', ')} ms\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function count(client: ClickHouseClient, table: string): Promise<number> {
  const result = await client.query({ query: `SELECT count() AS n FROM ${DATABASE}.${table}`, format: 'JSONEachRow' });
  const rows = await result.json<{ n: number | string }>();
  return Number(rows[0]?.n ?? 0);
}

async function main(): Promise<void> {
  const keptDir = process.env.BENCH_DATA_DIR;
  const dataDir = keptDir ?? mkdtempSync(path.join(tmpdir(), 'vevee-analytics-bench-'));
  const client = createClickHouse({ clickhouseUrl: undefined, clickhouseDataDir: dataDir });
  try {
    await ensureClickHouseSchema(client, DATABASE);
    const loaded = await client.query({ query: `SELECT count() AS n, max(toUnixTimestamp64Milli(at)) AS end_ms FROM ${DATABASE}.events`, format: 'JSONEachRow' });
    const existing = (await loaded.json<{ n: number | string; end_ms: number | string }>())[0];
    const reuse = keptDir !== undefined && Number(existing?.n ?? 0) > 0;
    const endMs = reuse ? Number(existing?.end_ms) + 1 : Date.now();

    const loadStart = performance.now();
    if (!reuse) await client.command({ query: insertSql(endMs) });
    const loadMs = performance.now() - loadStart;
    process.stderr.write(reuse ? `reusing the events in ${dataDir}\n` : `loaded ${EVENTS} events in ${(loadMs / 1000).toFixed(1)} s\n`);

    const optimizeStart = performance.now();
    for (const table of ['events', 'person_aliases', 'person_properties', 'person_activity']) {
      await client.command({ query: `OPTIMIZE TABLE ${DATABASE}.${table} FINAL` });
    }
    const optimizeMs = performance.now() - optimizeStart;

    const sizes = {
      events: await count(client, 'events'),
      aliases: await count(client, 'person_aliases'),
      properties: await count(client, 'person_properties'),
      activity: await count(client, 'person_activity'),
    };

    const workspaceId = 'ws-0';
    const from = new Date(endMs - 30 * DAY_MS);
    const to = new Date(endMs + 1);
    const results: { label: string; ms: number[]; note: string }[] = [];

    await time('usageSummary (30 days)', () => usageSummary(client, DATABASE, { workspaceId, from, to }), results, (value) => `${value.events} events, ${value.activePersons} persons`);
    await time('UsageSummary.active (1/7/30 days)', () => activePersons(client, DATABASE, { workspaceId, to }), results, (value) => `${value.daily} / ${value.weekly} / ${value.monthly}`);
    await time('UsageSummary.dailyActive (30 days)', () => dailyActivePersons(client, DATABASE, { workspaceId, from, to, timeZone: 'Europe/Berlin' }), results, (value) => `${value.length} days`);
    await time(
      'eventSeries (30 days, daily points)',
      () => eventSeries(client, DATABASE, { workspaceId, from: new Date(Math.floor(from.getTime() / 3_600_000) * 3_600_000), to, timeZone: 'Europe/Berlin', bucket: 'day' }),
      results,
      (value) => `${value.length} event names`,
    );
    const people = { workspaceId, filters: [], sortBy: 'last_seen' as const, descending: true, limit: 50, offset: 0, breakdownKeys: [] };
    await time('people (first page of 50)', () => listPeople(client, DATABASE, people), results, (value) => `${value.total} persons`);
    await time(
      'people (filter plan = pro, breakdown country)',
      () => listPeople(client, DATABASE, { ...people, filters: [{ key: 'plan', operator: 'equals', value: 'pro' }], breakdownKeys: ['country'] }),
      results,
      (value) => `${value.total} persons, ${value.breakdowns[0]?.values.length ?? 0} countries`,
    );
    await time(
      'personTimeline (newest 100)',
      () => personTimeline(client, DATABASE, { workspaceId, personId: 'p-42', descending: true, limit: 100, offset: 0 }),
      results,
      (value) => `${value.total} events of ${value.ids.length} ids`,
    );
    await time(
      'funnel (3 steps, 30 days, 1-day window)',
      () => funnel(client, DATABASE, { workspaceId, from, to, steps: ['page_view', 'signup_started', 'signup_completed'], windowMs: DAY_MS }),
      results,
      (value) => value.map((step) => step.persons).join(' → '),
    );
    await time(
      'sql (count per event name)',
      () =>
        runAnalystQuery(client, DATABASE, {
          workspaceId,
          query: `SELECT event_name, count() AS events, sum(cost) AS cost FROM ${DATABASE}.events_resolved GROUP BY event_name ORDER BY events DESC`,
        }),
      results,
      (value) => `${value.rows.length} rows`,
    );

    const lines = [
      `events: ${sizes.events.toLocaleString('en-US')} (${(loadMs / 1000).toFixed(1)} s to load, ${(optimizeMs / 1000).toFixed(1)} s for OPTIMIZE FINAL); ` +
        `person_aliases ${sizes.aliases}, person_properties ${sizes.properties}, person_activity ${sizes.activity} rows`,
      '',
      `| query (workspace ws-0) | median ms | min ms | max ms | result |`,
      `|---|---|---|---|---|`,
      ...results.map(
        (result) => `| ${result.label} | ${median(result.ms).toFixed(0)} | ${Math.min(...result.ms).toFixed(0)} | ${Math.max(...result.ms).toFixed(0)} | ${result.note} |`,
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await client.close();
    if (keptDir === undefined) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`analytics benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
