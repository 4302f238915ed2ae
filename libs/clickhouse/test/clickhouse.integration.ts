import type { ClickHouseClient } from '@clickhouse/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { LedgerEvent } from '@vevee/contracts';
import { createTestEnvironment, type TestEnvironment, ledgerEvents } from '@vevee/testing';

const { committed, denied, expired, released, reserved, tracked } = ledgerEvents;

import { SCHEMA_STEPS, countEvents, createClickHouse, ensureClickHouseSchema, insertEventRows, toEventRow, usageSummary } from '../src';

const DAY_START = Date.UTC(2026, 2, 10);
const DAY_END = Date.UTC(2026, 2, 11);

const alice = (at: number) => ({ workspaceId: 'ws_a', personId: 'alice', at });
const bob = (at: number) => ({ workspaceId: 'ws_a', personId: 'bob', at });
const carol = (at: number) => ({ workspaceId: 'ws_a', personId: 'carol', at });

/**
 * Builds a day of workspace ws_a with one event on each side of the range and one in
 * another workspace. In [DAY_START, DAY_END): 9 events by alice, bob and
 * carol, costing 0.25 + 0.5 + 1.25 = 2.
 */
function dayOfEvents(): LedgerEvent[] {
  return [
    reserved(alice(DAY_START), 'r1', 1000),
    committed(alice(DAY_START + 1_000), 'r1', 800, 0.25),
    reserved(bob(DAY_START + 2_000), 'r2', 500),
    released(bob(DAY_START + 3_000), 'r2', 500),
    denied(carol(DAY_START + 4_000), 2000),
    tracked(alice(DAY_START + 5_000), 'chat.completion', 0.5),
    reserved(bob(DAY_START + 6_000), 'r3', 100),
    expired(bob(DAY_START + 66_000), 'r3', 100),
    tracked(carol(DAY_END - 1), 'image.generate', 1.25),
    // Outside the range: the end is exclusive, and one millisecond before the start.
    tracked({ workspaceId: 'ws_a', personId: 'dave', at: DAY_END }, 'chat.completion', 9),
    committed(alice(DAY_START - 1), 'r0', 10, 4),
    // Another workspace, another month.
    tracked({ workspaceId: 'ws_b', personId: 'erin', at: Date.UTC(2026, 3, 1) }, 'chat.completion', 3),
  ];
}

function rowsOf(events: LedgerEvent[], firstOffset = 0) {
  return events.map((event, index) => toEventRow(event, { partition: 0, offset: String(firstOffset + index) }));
}

async function rawRowCount(client: ClickHouseClient, database: string): Promise<number> {
  const result = await client.query({ query: `SELECT count() AS count FROM ${database}.events`, format: 'JSONEachRow' });
  const [row] = await result.json<{ count: number | string }>();
  return Number(row?.count);
}

describe('clickhouse', () => {
  let environment: TestEnvironment;
  let client: ClickHouseClient;
  let database: string;

  beforeEach(async () => {
    environment = await createTestEnvironment();
    client = createClickHouse(environment.config);
    database = environment.config.clickhouseDatabase;
  });

  afterEach(async () => {
    await client.close();
    await environment.cleanup();
  });

  it('schema › a second run applies nothing', async () => {
    expect(await ensureClickHouseSchema(client, database)).toEqual(SCHEMA_STEPS.map((step) => step.version));
    expect(await ensureClickHouseSchema(client, database)).toEqual([]);

    const result = await client.query({
      query: 'SELECT name, type FROM system.columns WHERE database = {database:String} AND table = {table:String} ORDER BY position',
      query_params: { database, table: 'events' },
      format: 'JSONEachRow',
    });
    const columns = await result.json<{ name: string; type: string }>();
    expect(columns.map((column) => `${column.name} ${column.type}`)).toEqual([
      'event_id String',
      'workspace_id LowCardinality(String)',
      'person_id String',
      'type LowCardinality(String)',
      'event_type LowCardinality(String)',
      'meter LowCardinality(String)',
      'quantity Float64',
      'cost Float64',
      'currency LowCardinality(String)',
      'reservation_id String',
      'idempotency_key String',
      "at DateTime64(3, 'UTC')",
      'plan_version UInt32',
      'metadata String',
      'ledger_partition UInt32',
      'ledger_offset UInt64',
      'payload String',
      "inserted_at DateTime64(3, 'UTC')",
    ]);
  });

  it('schema › rejects a database name that is not an identifier', async () => {
    await expect(ensureClickHouseSchema(client, 'vevee; DROP TABLE x')).rejects.toThrow(/CLICKHOUSE_DATABASE/);
    await expect(ensureClickHouseSchema(client, '1vevee')).rejects.toThrow(/is invalid/);
  });

  it('events › keeps one row per event id across separate inserts', async () => {
    await ensureClickHouseSchema(client, database);
    const events = dayOfEvents();
    // With merges stopped, every copy stays on disk, so the counts below show
    // FINAL collapsing copies that no merge has reached.
    await client.command({ query: `SYSTEM STOP MERGES ${database}.events` });

    await insertEventRows(client, database, rowsOf(events.slice(0, 6)));
    // A redelivered batch that starts inside the first one and runs past it.
    await insertEventRows(client, database, rowsOf(events.slice(3), 3));
    // The whole day again, as if the events were produced a second time at later offsets.
    await insertEventRows(client, database, rowsOf(events, 100));

    expect(await rawRowCount(client, database)).toBe(6 + 9 + 12);
    expect(await countEvents(client, database, { workspaceId: 'ws_a' })).toBe(11);
    expect(await countEvents(client, database, { workspaceId: 'ws_b' })).toBe(1);

    // Merges collapse the copies on disk too; FINAL only does it earlier.
    await client.command({ query: `SYSTEM START MERGES ${database}.events` });
    await client.command({ query: `OPTIMIZE TABLE ${database}.events FINAL` });
    expect(await rawRowCount(client, database)).toBe(12);
  });

  it('events › stores the columns of each ledger event type', async () => {
    await ensureClickHouseSchema(client, database);
    const commit = committed(alice(DAY_START + 1_234), 'r9', 800, 0.25);
    const track = tracked(bob(DAY_START), 'chat.completion', 0.5);
    const deny = denied(carol(DAY_START), 2000);
    await insertEventRows(client, database, [
      toEventRow(commit, { partition: 3, offset: '9007199254740993' }),
      toEventRow(track, { partition: 1, offset: '7' }),
      toEventRow(deny, { partition: 2, offset: '8' }),
    ]);

    const result = await client.query({
      query: `SELECT event_id, type, event_type, meter, quantity, cost, currency, reservation_id, toUnixTimestamp64Milli(at) AS at_ms,
                plan_version, metadata, ledger_partition, toString(ledger_offset) AS ledger_offset, payload
              FROM ${database}.events FINAL ORDER BY event_id`,
      format: 'JSONEachRow',
    });
    const rows = await result.json<Record<string, unknown>>();
    const byId = new Map(rows.map((row) => [row.event_id, row]));

    expect(byId.get(commit.eventId)).toMatchObject({
      type: 'QuotaCommitted',
      event_type: '',
      meter: 'tokens',
      quantity: 800,
      cost: 0.25,
      currency: 'USD',
      reservation_id: 'r9',
      plan_version: 2,
      ledger_partition: 3,
      ledger_offset: '9007199254740993',
    });
    expect(Number(byId.get(commit.eventId)?.at_ms)).toBe(DAY_START + 1_234);
    expect(JSON.parse(String(byId.get(commit.eventId)?.metadata))).toEqual(commit.metadata);
    expect(JSON.parse(String(byId.get(commit.eventId)?.payload))).toEqual(commit);

    expect(byId.get(track.eventId)).toMatchObject({ type: 'UsageTracked', event_type: 'chat.completion', cost: 0.5, reservation_id: '' });
    expect(byId.get(deny.eventId)).toMatchObject({ type: 'QuotaDenied', event_type: '', quantity: 2000, cost: 0, currency: '', metadata: '{}' });
  });

  it('usageSummary › counts one workspace over a half-open range', async () => {
    await ensureClickHouseSchema(client, database);
    const events = dayOfEvents();
    await insertEventRows(client, database, rowsOf(events));
    await insertEventRows(client, database, rowsOf(events.slice(0, 5), 50));

    const summary = await usageSummary(client, database, { workspaceId: 'ws_a', from: new Date(DAY_START), to: new Date(DAY_END) });

    expect(summary.events).toBe(9);
    expect(summary.cost).toBeCloseTo(2, 9);
    expect(summary.activePersons).toBe(3);
    expect(summary.byType).toEqual([
      { type: 'QuotaCommitted', count: 1, cost: 0.25 },
      { type: 'QuotaDenied', count: 1, cost: 0 },
      { type: 'QuotaExpired', count: 1, cost: 0 },
      { type: 'QuotaReleased', count: 1, cost: 0 },
      { type: 'QuotaReserved', count: 3, cost: 0 },
      { type: 'UsageTracked', count: 2, cost: 1.75 },
    ]);
  });

  it('usageSummary › returns zeros for an empty range', async () => {
    await ensureClickHouseSchema(client, database);
    await insertEventRows(client, database, rowsOf(dayOfEvents()));

    const summary = await usageSummary(client, database, { workspaceId: 'ws_a', from: new Date(DAY_END + 1), to: new Date(DAY_END + 2) });

    expect(summary).toEqual({ events: 0, cost: 0, activePersons: 0, byType: [] });
  });

  it('usageSummary › rejects an invalid Date', async () => {
    await ensureClickHouseSchema(client, database);
    await expect(usageSummary(client, database, { workspaceId: 'ws_a', from: new Date('nope'), to: new Date(DAY_END) })).rejects.toThrow(
      /from is an invalid Date/,
    );
  });

  it('countEvents › filters by type and person', async () => {
    await ensureClickHouseSchema(client, database);
    await insertEventRows(client, database, rowsOf(dayOfEvents()));

    expect(await countEvents(client, database, { workspaceId: 'ws_a', type: 'QuotaReserved' })).toBe(3);
    expect(await countEvents(client, database, { workspaceId: 'ws_a', personId: 'alice' })).toBe(4);
    expect(await countEvents(client, database, { workspaceId: 'ws_a', type: 'UsageTracked', personId: 'carol' })).toBe(1);
    expect(await countEvents(client, database, { workspaceId: 'ws_c' })).toBe(0);
  });
});
