import type { ClickHouseClient } from '@clickhouse/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createTestEnvironment, type TestEnvironment } from '@vevee/testing';

import {
  ANALYTICS_SCHEMA_STEPS,
  SCHEMA_STEPS,
  createClickHouse,
  ensureClickHouseSchema,
  insertEventRows,
  listPeople,
  personTimeline,
  quoteDatabase,
  type EventRow,
} from '../src';

let sequence = 0;

/** Builds an ingested event's row: the event name goes into both `type` and `event_type`. */
function row(personId: string, name: string, at: string, metadata: object = {}): EventRow {
  sequence += 1;
  return {
    event_id: `e${sequence}`,
    workspace_id: 'acme',
    person_id: personId,
    type: name as EventRow['type'],
    event_type: name,
    meter: '',
    quantity: 1,
    cost: 0.25,
    currency: 'USD',
    reservation_id: '',
    idempotency_key: '',
    at: Date.parse(at),
    plan_version: 1,
    metadata: JSON.stringify(metadata),
    ledger_partition: 0,
    ledger_offset: String(sequence),
    payload: '{}',
  };
}

describe('analytics schema', () => {
  let environment: TestEnvironment;
  let client: ClickHouseClient;
  let db: string;

  async function select<T>(query: string): Promise<T[]> {
    const result = await client.query({ query, format: 'JSONEachRow' });
    return result.json<T>();
  }

  beforeEach(async () => {
    environment = await createTestEnvironment();
    client = createClickHouse(environment.config);
    db = quoteDatabase(environment.config.clickhouseDatabase);
  });

  afterEach(async () => {
    await client.close();
    await environment.cleanup();
  });

  it('fills the tables from stored events', async () => {
    // An install at version 1 with events: only the events table exists.
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
    for (const statement of SCHEMA_STEPS[0]!.statements(db)) await client.command({ query: statement });
    const stored = [
      row('anon-1', 'page_view', '2026-05-01T10:00:00Z'),
      row('anon-1', '$identify', '2026-05-01T10:01:00Z', { set: { plan: 'free' }, setOnce: { first_path: '/' } }),
      row('user-1', '$alias', '2026-05-01T10:05:00Z', { anonymousId: 'anon-1' }),
    ];
    // The page view is stored twice, as a redelivery would store it.
    await insertEventRows(client, environment.config.clickhouseDatabase, [...stored, stored[0]!]);

    await ensureClickHouseSchema(client, environment.config.clickhouseDatabase);
    // A crash before the step was recorded repeats its statements.
    for (const step of ANALYTICS_SCHEMA_STEPS) {
      for (const statement of step.statements(db)) await client.command({ query: statement });
    }
    await insertEventRows(client, environment.config.clickhouseDatabase, [row('user-1', 'page_view', '2026-05-01T11:00:00Z'), stored[0]!]);

    expect(await select(`SELECT anonymous_id, person_id FROM ${db}.person_alias_map`)).toEqual([{ anonymous_id: 'anon-1', person_id: 'user-1' }]);
    expect(await select(`SELECT person_id, key, value FROM ${db}.person_property_values ORDER BY key`)).toEqual([
      { person_id: 'user-1', key: 'first_path', value: '/' },
      { person_id: 'user-1', key: 'plan', value: 'free' },
    ]);
    expect(await select(`SELECT person_id, first_seen, last_seen FROM ${db}.persons`)).toEqual([
      { person_id: 'user-1', first_seen: '2026-05-01 10:00:00.000', last_seen: '2026-05-01 11:00:00.000' },
    ]);
    // The 10:00 hour counts the page view once, though it is stored three times, and the two identity events.
    expect(await select(`SELECT toString(hour) AS hour, event_name, sum(events) AS events FROM ${db}.events_hourly GROUP BY hour, event_name ORDER BY hour, event_name`)).toEqual([
      { hour: '2026-05-01 10:00:00', event_name: '$alias', events: 1 },
      { hour: '2026-05-01 10:00:00', event_name: '$identify', events: 1 },
      { hour: '2026-05-01 10:00:00', event_name: 'page_view', events: 1 },
      { hour: '2026-05-01 11:00:00', event_name: 'page_view', events: 1 },
    ]);
    expect(await select(`SELECT toString(day) AS day, sum(events) AS events FROM ${db}.events_daily GROUP BY day`)).toEqual([{ day: '2026-05-01', events: 4 }]);
  });

  it('follows a chain of aliases', async () => {
    await ensureClickHouseSchema(client, environment.config.clickhouseDatabase);
    const database = environment.config.clickhouseDatabase;
    // A second device's id (anon-2) joins the first one's (anon-1), which then logs in as user-1.
    await insertEventRows(client, database, [
      row('anon-2', 'page_view', '2026-05-01T09:00:00Z'),
      row('anon-1', 'page_view', '2026-05-01T09:30:00Z'),
      row('anon-1', '$alias', '2026-05-01T09:40:00Z', { anonymousId: 'anon-2' }),
      row('user-1', '$alias', '2026-05-01T10:00:00Z', { anonymousId: 'anon-1' }),
      row('user-1', 'signup_completed', '2026-05-01T10:05:00Z'),
      row('user-9', 'page_view', '2026-05-01T11:00:00Z'),
    ]);

    expect(await select(`SELECT anonymous_id, person_id FROM ${db}.person_alias_map ORDER BY anonymous_id`)).toEqual([
      { anonymous_id: 'anon-1', person_id: 'user-1' },
      { anonymous_id: 'anon-2', person_id: 'user-1' },
    ]);
    const people = await listPeople(client, database, { workspaceId: 'acme', filters: [], sortBy: 'id', descending: false, limit: 10, offset: 0, breakdownKeys: [] });
    expect(people.people.map((person) => [person.id, person.anonymousIds])).toEqual([
      ['user-1', ['anon-1', 'anon-2']],
      ['user-9', []],
    ]);
    const timeline = await personTimeline(client, database, { workspaceId: 'acme', personId: 'anon-2', descending: false, limit: 10, offset: 0 });
    expect(timeline.personId).toBe('user-1');
    expect(timeline.events.map((event) => [event.eventName, event.sentAs])).toEqual([
      ['page_view', 'anon-2'],
      ['page_view', 'anon-1'],
      ['$alias', 'anon-1'],
      ['$alias', 'user-1'],
      ['signup_completed', 'user-1'],
    ]);
  });

  it('replaces the hourly rollup of an older install', async () => {
    // An install at version 2 as it shipped first: a SummingMergeTree rollup
    // fed by a materialized view, and events_daily on top of it.
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
    for (const step of SCHEMA_STEPS.filter((each) => each.version <= 2)) {
      for (const statement of step.statements(db)) await client.command({ query: statement });
    }
    const hourly = `SELECT workspace_id, toStartOfHour(at) AS hour, type, if(event_type != '', event_type, type) AS event_name,
      count() AS events, sum(cost) AS cost, sum(quantity) AS quantity FROM ${db}.events GROUP BY workspace_id, hour, type, event_name`;
    await client.command({
      query: `CREATE TABLE ${db}.events_hourly (workspace_id LowCardinality(String), hour DateTime('UTC'), type LowCardinality(String),
        event_name LowCardinality(String), events UInt64, cost Float64, quantity Float64)
        ENGINE = SummingMergeTree ORDER BY (workspace_id, hour, type, event_name)`,
    });
    await client.command({ query: `CREATE MATERIALIZED VIEW ${db}.events_hourly_mv TO ${db}.events_hourly AS ${hourly}` });
    await client.command({
      query: `CREATE VIEW ${db}.events_daily AS SELECT workspace_id, toDate(hour) AS day, type, event_name,
        sum(events) AS events, sum(cost) AS cost, sum(quantity) AS quantity FROM ${db}.events_hourly GROUP BY workspace_id, day, type, event_name`,
    });
    await client.command({ query: `CREATE TABLE ${db}.schema_migrations (version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC')) ENGINE = ReplacingMergeTree ORDER BY version` });
    await client.insert({ table: `${db}.schema_migrations`, values: [{ version: 1, name: 'v1' }, { version: 2, name: 'v2' }], format: 'JSONEachRow' });
    const view = row('anon-1', 'page_view', '2026-05-01T10:00:00Z');
    await insertEventRows(client, environment.config.clickhouseDatabase, [view, view]);
    expect(await select(`SELECT sum(events) AS events FROM ${db}.events_hourly`)).toEqual([{ events: 2 }]);

    expect(await ensureClickHouseSchema(client, environment.config.clickhouseDatabase)).toEqual([3, 4]);
    await insertEventRows(client, environment.config.clickhouseDatabase, [view]);

    expect(await select(`SELECT engine FROM system.tables WHERE database = '${environment.config.clickhouseDatabase}' AND name LIKE 'events_hourly%' ORDER BY name`)).toEqual([{ engine: 'View' }]);
    expect(await select(`SELECT sum(events) AS events FROM ${db}.events_hourly`)).toEqual([{ events: 1 }]);
    expect(await select(`SELECT toString(day) AS day, events FROM ${db}.events_daily`)).toEqual([{ day: '2026-05-01', events: 1 }]);
  });
});
