import 'reflect-metadata';

import type { ClickHouseClient } from '@clickhouse/client';
import { Module, type DynamicModule } from '@nestjs/common';
import { pino } from 'pino';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLICKHOUSE, ClickHouseModule, ensureClickHouseSchema, insertEventRows, type EventRow } from '@vevee/clickhouse';
import { windowFor } from '@vevee/domain';
import { PlatformModule, startHttpApp, type HttpApp, type VeveeConfig } from '@vevee/platform';
import { PostgresModule, applySeed, createPool, migrate, parseSeed } from '@vevee/postgres';
import { createTestEnvironment, type TestEnvironment } from '@vevee/testing';

import { GatewayModule } from '../src';

const ACME_KEY = 'acme-analytics-key-0123456789';
const OTHER_KEY = 'other-analytics-key-0123456789';
const BETA_KEY = 'beta-analytics-key-0123456789';

interface GraphQLResponse {
  status: number;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
  };
}

@Module({})
class AnalyticsTestModule {
  static forRoot(config: VeveeConfig, logger: pino.Logger): DynamicModule {
    return {
      module: AnalyticsTestModule,
      imports: [PlatformModule.forRoot(config, logger), PostgresModule, ClickHouseModule, GatewayModule],
    };
  }
}

let sequence = 0;

/**
 * Builds an events row. `name` is the ledger type of a quota event (QuotaCommitted),
 * or the event name of an ingested event, which goes into both `type` and
 * `event_type` the way the ingest sink writes it.
 */
function row(workspaceId: string, personId: string, name: string, at: string, fields: Partial<EventRow> = {}): EventRow {
  sequence += 1;
  const ledgerType = name.startsWith('Quota');
  return {
    event_id: `e${String(sequence).padStart(4, '0')}`,
    workspace_id: workspaceId,
    person_id: personId,
    type: name as EventRow['type'],
    event_type: ledgerType ? '' : name,
    meter: '',
    quantity: 1,
    cost: 0,
    currency: 'USD',
    reservation_id: '',
    idempotency_key: `key-${sequence}`,
    at: Date.parse(at),
    plan_version: 1,
    metadata: '{}',
    ledger_partition: 0,
    ledger_offset: String(sequence),
    payload: '{}',
    ...fields,
  };
}

function tracked(workspaceId: string, personId: string, eventType: string, at: string, cost: number): EventRow {
  return row(workspaceId, personId, 'UsageTracked', at, { type: 'UsageTracked', event_type: eventType, cost });
}

function identify(workspaceId: string, personId: string, at: string, set: Record<string, unknown>, setOnce: Record<string, unknown> = {}): EventRow {
  return row(workspaceId, personId, '$identify', at, { metadata: JSON.stringify({ set, setOnce }) });
}

function alias(workspaceId: string, knownId: string, anonymousId: string, at: string): EventRow {
  return row(workspaceId, knownId, '$alias', at, { metadata: JSON.stringify({ anonymousId }) });
}

/**
 * The workspace "acme" on 2026-05-01 (UTC). anon-1 browses, identifies and
 * starts a signup, then logs in as user-1 ($alias), identifies again and
 * completes the signup.
 */
const ACME_EVENTS: EventRow[] = [
  row('acme', 'user-4', 'signup_started', '2026-05-01T09:00:00Z'),
  row('acme', 'anon-1', 'page_view', '2026-05-01T10:00:00Z', { metadata: '{"path":"/"}' }),
  identify('acme', 'anon-1', '2026-05-01T10:01:00Z', { plan: 'free', source: 'ads' }, { first_path: '/' }),
  row('acme', 'anon-1', 'signup_started', '2026-05-01T10:02:00Z'),
  alias('acme', 'user-1', 'anon-1', '2026-05-01T10:05:00Z'),
  identify('acme', 'user-1', '2026-05-01T10:06:00Z', { plan: 'pro', email: 'u1@example.com' }, { first_path: '/pricing', source: 'organic' }),
  row('acme', 'user-1', 'signup_completed', '2026-05-01T10:10:00Z'),
  tracked('acme', 'user-1', 'chat.completion', '2026-05-01T10:20:00Z', 0.5),
  // user-2 completes the signup two hours after the page view: outside a 1-hour window.
  row('acme', 'user-2', 'page_view', '2026-05-01T11:00:00Z'),
  identify('acme', 'user-2', '2026-05-01T11:01:00Z', { plan: 'free' }),
  tracked('acme', 'user-2', 'chat.completion', '2026-05-01T11:10:00Z', 0.25),
  row('acme', 'user-2', 'signup_started', '2026-05-01T11:30:00Z'),
  row('acme', 'user-2', 'signup_completed', '2026-05-01T13:00:00Z'),
  // user-3 skips signup_started.
  row('acme', 'user-3', 'page_view', '2026-05-01T12:00:00Z'),
  identify('acme', 'user-3', '2026-05-01T12:01:00Z', { plan: 'pro' }),
  row('acme', 'user-3', 'QuotaCommitted', '2026-05-01T12:05:00Z', { cost: 1, meter: 'tokens', reservation_id: 'r-3' }),
  row('acme', 'user-3', 'signup_completed', '2026-05-01T12:10:00Z'),
];

/** Another workspace with the same person ids; none of it may appear in acme's results. */
const OTHER_EVENTS: EventRow[] = [
  row('other', 'user-1', 'page_view', '2026-05-01T10:00:00Z'),
  row('other', 'user-1', 'signup_started', '2026-05-01T10:01:00Z'),
  row('other', 'user-1', 'signup_completed', '2026-05-01T10:02:00Z'),
  tracked('other', 'user-1', 'chat.completion', '2026-05-01T10:03:00Z', 9),
  identify('other', 'user-9', '2026-05-01T10:04:00Z', { plan: 'pro' }),
];

describe('analytics', () => {
  let environment: TestEnvironment;
  let pool: pg.Pool;
  let http: HttpApp;
  let clickhouse: ClickHouseClient;
  const betaDay = windowFor('day', Date.now(), 'UTC');

  async function graphql(query: string, variables: Record<string, unknown> = {}, apiKey = ACME_KEY): Promise<GraphQLResponse> {
    const response = await fetch(`${http.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, body: (await response.json()) as GraphQLResponse['body'] };
  }

  async function data<T>(query: string, variables: Record<string, unknown> = {}, apiKey = ACME_KEY): Promise<T> {
    const response = await graphql(query, variables, apiKey);
    expect(response.body.errors).toBeUndefined();
    return response.body.data as T;
  }

  beforeAll(async () => {
    environment = await createTestEnvironment();
    const { config } = environment;
    await migrate(config.databaseUrl);
    pool = createPool(config.databaseUrl, 2);
    const plan = { version: 1, meters: { tokens: { day: 1000 } } };
    await applySeed(
      pool,
      parseSeed(
        {
          workspaces: [
            { id: 'acme', name: 'Acme', timeZone: 'UTC', apiKeys: [ACME_KEY], plan },
            { id: 'other', name: 'Other', apiKeys: [OTHER_KEY], plan },
            { id: 'beta', name: 'Beta', timeZone: 'UTC', apiKeys: [BETA_KEY], plan },
          ],
        },
        'analytics test seed',
      ),
    );

    const logger = pino({ level: 'warn' });
    http = await startHttpApp(AnalyticsTestModule.forRoot(config, logger), config, logger);
    clickhouse = http.app.get<ClickHouseClient>(CLICKHOUSE, { strict: false });
    await ensureClickHouseSchema(clickhouse, config.clickhouseDatabase);

    // Separate inserts, as separate ingest batches would make them. The
    // events before the alias are stored before the alias exists.
    await insertEventRows(clickhouse, config.clickhouseDatabase, ACME_EVENTS.slice(0, 4));
    await insertEventRows(clickhouse, config.clickhouseDatabase, ACME_EVENTS.slice(4));
    await insertEventRows(clickhouse, config.clickhouseDatabase, OTHER_EVENTS);
    // beta's events are in today's UTC day, for the current-period series.
    const hour = (offset: number) => new Date(betaDay.start + offset * 3_600_000).toISOString();
    await insertEventRows(clickhouse, config.clickhouseDatabase, [
      row('beta', 'b-1', 'page_view', hour(1)),
      row('beta', 'b-2', 'page_view', hour(1)),
      row('beta', 'b-1', 'page_view', hour(3)),
      tracked('beta', 'b-1', 'chat.completion', hour(3), 0.5),
    ]);
  });

  afterAll(async () => {
    await http?.app.close();
    await pool?.end();
    await environment?.cleanup();
  });

  describe('identify and alias', () => {
    it('merges the anonymous id into the known person in the people list', async () => {
      const result = await data<{ people: { total: number; people: { id: string; firstSeen: string; lastSeen: string; anonymousIds: string[]; properties: { key: string; value: string }[] }[] } }>(
        `{ people(search: "anon") { total people { id firstSeen lastSeen anonymousIds properties { key value } } } }`,
      );

      expect(result.people.total).toBe(1);
      expect(result.people.people).toEqual([
        {
          id: 'user-1',
          // anon-1's page view at 10:00 is user-1's first event, the chat completion at 10:20 the last.
          firstSeen: '2026-05-01T10:00:00.000Z',
          lastSeen: '2026-05-01T10:20:00.000Z',
          anonymousIds: ['anon-1'],
          properties: [
            { key: 'email', value: 'u1@example.com' },
            // set-once keeps the earliest value: "/" from anon-1 at 10:01, not "/pricing" at 10:06.
            { key: 'first_path', value: '/' },
            // the later set wins: "pro" at 10:06 over "free" at 10:01.
            { key: 'plan', value: 'pro' },
            // set on anon-1 wins over user-1's set-once "organic".
            { key: 'source', value: 'ads' },
          ],
        },
      ]);
    });

    it('lists no anonymous id as a person of its own', async () => {
      const result = await data<{ people: { people: { id: string }[] } }>(`{ people(sortBy: ID, order: ASC) { people { id } } }`);

      expect(result.people.people.map((person) => person.id)).toEqual(['user-1', 'user-2', 'user-3', 'user-4']);
    });

    it('shows events before and after the login in one timeline', async () => {
      const TIMELINE = `query T($id: String!) { personTimeline(id: $id, order: ASC) { personId ids total events { eventName sentAs at } } }`;
      const expected = {
        personId: 'user-1',
        ids: ['user-1', 'anon-1'],
        total: 7,
        events: [
          { eventName: 'page_view', sentAs: 'anon-1', at: '2026-05-01T10:00:00.000Z' },
          { eventName: '$identify', sentAs: 'anon-1', at: '2026-05-01T10:01:00.000Z' },
          { eventName: 'signup_started', sentAs: 'anon-1', at: '2026-05-01T10:02:00.000Z' },
          { eventName: '$alias', sentAs: 'user-1', at: '2026-05-01T10:05:00.000Z' },
          { eventName: '$identify', sentAs: 'user-1', at: '2026-05-01T10:06:00.000Z' },
          { eventName: 'signup_completed', sentAs: 'user-1', at: '2026-05-01T10:10:00.000Z' },
          { eventName: 'chat.completion', sentAs: 'user-1', at: '2026-05-01T10:20:00.000Z' },
        ],
      };

      const byKnownId = await data<{ personTimeline: unknown }>(TIMELINE, { id: 'user-1' });
      const byAnonymousId = await data<{ personTimeline: unknown }>(TIMELINE, { id: 'anon-1' });

      expect(byKnownId.personTimeline).toEqual(expected);
      expect(byAnonymousId.personTimeline).toEqual(expected);
    });

    it('pages a timeline newest first', async () => {
      const result = await data<{ personTimeline: { total: number; events: { eventName: string }[] } }>(
        `{ personTimeline(id: "user-1", limit: 2, offset: 1) { total events { eventName } } }`,
      );

      expect(result.personTimeline.total).toBe(7);
      expect(result.personTimeline.events.map((event) => event.eventName)).toEqual(['signup_completed', '$identify']);
    });

    it('counts the merged person once in the usage summary', async () => {
      const result = await data<{ usageSummary: { events: number; cost: number; activePersons: number; active: unknown; dailyActive: unknown } }>(
        `{ usageSummary(from: "2026-05-01T00:00:00Z", to: "2026-05-02T00:00:00Z") {
            events cost activePersons active { daily weekly monthly } dailyActive { day persons } } }`,
      );

      // 17 acme events; cost 0.5 + 0.25 + 1; user-1 (with anon-1), user-2, user-3, user-4.
      expect(result.usageSummary.events).toBe(17);
      expect(result.usageSummary.cost).toBeCloseTo(1.75, 10);
      expect(result.usageSummary.activePersons).toBe(4);
      expect(result.usageSummary.active).toEqual({ daily: 4, weekly: 4, monthly: 4 });
      expect(result.usageSummary.dailyActive).toEqual([{ day: '2026-05-01T00:00:00.000Z', persons: 4 }]);
    });
  });

  describe('funnel', () => {
    const FUNNEL = `query F($steps: [String!]!, $window: Int!) {
      funnel(steps: $steps, windowSeconds: $window, from: "2026-05-01T00:00:00Z", to: "2026-05-02T00:00:00Z") {
        windowSeconds steps { eventName persons conversionRate stepConversionRate cost }
      }
    }`;
    const STEPS = ['page_view', 'signup_started', 'signup_completed'];

    it('counts three ordered steps within a one-hour window', async () => {
      const result = await data<{ funnel: { steps: { eventName: string; persons: number; conversionRate: number; stepConversionRate: number; cost: number }[] } }>(
        FUNNEL,
        { steps: STEPS, window: 3600 },
      );

      // user-1 (page_view as anon-1 at 10:00, signup_started 10:02, signup_completed 10:10): 3 steps.
      // user-2: page_view 11:00, signup_started 11:30, signup_completed 13:00 is past the hour: 2 steps.
      // user-3: page_view, then signup_completed without signup_started: 1 step.
      // user-4: signup_started without a page_view: not in the funnel.
      // Cost per person: user-1 0.5, user-2 0.25, user-3 1.
      const steps = result.funnel.steps;
      expect(steps.map((step) => step.eventName)).toEqual(STEPS);
      expect(steps.map((step) => step.persons)).toEqual([3, 2, 1]);
      expect(steps[0]?.conversionRate).toBe(1);
      expect(steps[1]?.conversionRate).toBeCloseTo(2 / 3, 10);
      expect(steps[2]?.conversionRate).toBeCloseTo(1 / 3, 10);
      expect(steps[0]?.stepConversionRate).toBe(1);
      expect(steps[1]?.stepConversionRate).toBeCloseTo(2 / 3, 10);
      expect(steps[2]?.stepConversionRate).toBeCloseTo(1 / 2, 10);
      expect(steps[0]?.cost).toBeCloseTo(1.75, 10);
      expect(steps[1]?.cost).toBeCloseTo(0.75, 10);
      expect(steps[2]?.cost).toBeCloseTo(0.5, 10);
    });

    it('lets a longer window convert user-2', async () => {
      const result = await data<{ funnel: { steps: { persons: number }[] } }>(FUNNEL, { steps: STEPS, window: 3 * 3600 });

      expect(result.funnel.steps.map((step) => step.persons)).toEqual([3, 2, 2]);
    });

    it('rejects a funnel of one step', async () => {
      const response = await graphql(FUNNEL, { steps: ['page_view'], window: 3600 });

      expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'steps' });
      expect(response.body.errors?.[0]?.message).toContain('send 2 to 10 event names');
    });

    it('rejects a window of zero seconds', async () => {
      const response = await graphql(FUNNEL, { steps: STEPS, window: 0 });

      expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'windowSeconds' });
    });
  });

  describe('people list', () => {
    const PEOPLE = `query P($filters: [PropertyFilter!], $limit: Int, $offset: Int, $keys: [String!]) {
      people(filters: $filters, limit: $limit, offset: $offset, breakdownKeys: $keys) {
        total limit offset people { id } breakdowns { key values { value count } }
      }
    }`;

    it('pages by last seen, newest first', async () => {
      // Last events: user-2 13:00, user-3 12:10, user-1 10:20, user-4 09:00.
      const first = await data<{ people: { total: number; people: { id: string }[] } }>(PEOPLE, { limit: 2, offset: 0 });
      const second = await data<{ people: { total: number; people: { id: string }[] } }>(PEOPLE, { limit: 2, offset: 2 });
      const beyond = await data<{ people: { total: number; people: { id: string }[] } }>(PEOPLE, { limit: 2, offset: 4 });

      expect(first.people.total).toBe(4);
      expect(first.people.people.map((person) => person.id)).toEqual(['user-2', 'user-3']);
      expect(second.people.people.map((person) => person.id)).toEqual(['user-1', 'user-4']);
      expect(beyond.people.people).toEqual([]);
      expect(beyond.people.total).toBe(4);
    });

    it('counts persons per property value', async () => {
      const result = await data<{ people: { breakdowns: unknown } }>(PEOPLE, { keys: ['plan', 'email'] });

      expect(result.people.breakdowns).toEqual([
        {
          key: 'plan',
          values: [
            { value: 'pro', count: 2 },
            { value: 'free', count: 1 },
            { value: null, count: 1 },
          ],
        },
        {
          key: 'email',
          values: [
            { value: null, count: 3 },
            { value: 'u1@example.com', count: 1 },
          ],
        },
      ]);
    });

    it('filters by a property value', async () => {
      const result = await data<{ people: { total: number; people: { id: string }[]; breakdowns: unknown } }>(PEOPLE, {
        filters: [{ key: 'plan', operator: 'EQUALS', value: 'pro' }],
        keys: ['source'],
      });

      expect(result.people.total).toBe(2);
      expect(result.people.people.map((person) => person.id)).toEqual(['user-3', 'user-1']);
      expect(result.people.breakdowns).toEqual([
        {
          key: 'source',
          values: [
            { value: 'ads', count: 1 },
            { value: null, count: 1 },
          ],
        },
      ]);
    });

    it('filters persons without a property', async () => {
      const result = await data<{ people: { people: { id: string }[] } }>(PEOPLE, { filters: [{ key: 'plan', operator: 'IS_NOT_SET' }] });

      expect(result.people.people.map((person) => person.id)).toEqual(['user-4']);
    });

    it('rejects a filter without its value', async () => {
      const response = await graphql(PEOPLE, { filters: [{ key: 'plan', operator: 'EQUALS' }] });

      expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'filters' });
      expect(response.body.errors?.[0]?.message).toContain('"filters[0].value" is missing');
    });

    it('rejects a limit above the maximum', async () => {
      const response = await graphql(PEOPLE, { limit: 501 });

      expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'limit' });
      expect(response.body.errors?.[0]?.message).toContain('from 1 to 500');
    });
  });

  describe('event series', () => {
    it('returns hourly points of the current day', async () => {
      const result = await data<{ eventSeries: unknown }>(
        `{ eventSeries(period: DAY) { period from to series { eventName count cost points { at count cost } } } }`,
        {},
        BETA_KEY,
      );

      const hour = (offset: number) => new Date(betaDay.start + offset * 3_600_000).toISOString();
      expect(result.eventSeries).toEqual({
        period: 'DAY',
        from: new Date(betaDay.start).toISOString(),
        to: new Date(betaDay.end).toISOString(),
        series: [
          { eventName: 'chat.completion', count: 1, cost: 0.5, points: [{ at: hour(3), count: 1, cost: 0.5 }] },
          {
            eventName: 'page_view',
            count: 3,
            cost: 0,
            points: [
              { at: hour(1), count: 2, cost: 0 },
              { at: hour(3), count: 1, cost: 0 },
            ],
          },
        ],
      });
    });
  });

  describe('sql endpoint', () => {
    const SQL = `query S($query: String!) { sql(query: $query) { columns { name type } rows } }`;

    async function sqlError(query: string): Promise<{ message: string; extensions?: Record<string, unknown> }> {
      const response = await graphql(SQL, { query });
      const error = response.body.errors?.[0];
      expect(error?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'query' });
      return error!;
    }

    it('reads only the workspace rows', async () => {
      const result = await data<{ sql: { columns: unknown; rows: unknown[][] } }>(SQL, {
        query: 'SELECT count() AS events, sum(cost) AS cost FROM vevee.events',
      });

      expect(result.sql.columns).toEqual([
        { name: 'events', type: 'UInt64' },
        { name: 'cost', type: 'Float64' },
      ]);
      expect(result.sql.rows).toEqual([[17, 1.75]]);
    });

    it('returns no rows of another workspace', async () => {
      const result = await data<{ sql: { rows: unknown[][] } }>(SQL, {
        query: "SELECT count() FROM vevee.events WHERE workspace_id = 'other'",
      });

      expect(result.sql.rows).toEqual([[0]]);
    });

    it('reads the resolved views', async () => {
      const result = await data<{ sql: { rows: unknown[][] } }>(SQL, {
        query: `-- persons after the alias map, with a comment at the end
          SELECT p.person_id, v.value FROM vevee.persons AS p
          LEFT JOIN (SELECT person_id, value FROM vevee.person_property_values WHERE key = 'plan') AS v USING person_id
          ORDER BY p.person_id; -- one statement`,
      });

      expect(result.sql.rows).toEqual([
        ['user-1', 'pro'],
        ['user-2', 'free'],
        ['user-3', 'pro'],
        ['user-4', ''],
      ]);
    });

    it('attributes events through the alias map', async () => {
      const result = await data<{ sql: { rows: unknown[][] } }>(SQL, {
        query: 'SELECT person_id, count() AS events, countIf(original_person_id = person_id) AS sent_as_known FROM vevee.events_resolved GROUP BY person_id ORDER BY person_id',
      });

      // user-1 has 7 events, 3 of them sent as anon-1.
      expect(result.sql.rows).toEqual([
        ['user-1', 7, 4],
        ['user-2', 5, 5],
        ['user-3', 4, 4],
        ['user-4', 1, 1],
      ]);
    });

    it('rejects a write', async () => {
      const error = await sqlError("INSERT INTO vevee.events (event_id, workspace_id) VALUES ('x', 'other')");

      expect(error.message).toContain('starts with INSERT, which is not a SELECT: the SQL endpoint is read-only');
    });

    it('rejects a DDL statement', async () => {
      const error = await sqlError('DROP TABLE vevee.events');

      expect(error.message).toContain('starts with DROP');
    });

    it('rejects a table function', async () => {
      const error = await sqlError("SELECT * FROM url('http://127.0.0.1:9/data.csv', 'CSV', 'line String')");

      expect(error.message).toContain('reads the table function url()');
    });

    it('rejects the file function', async () => {
      const error = await sqlError("SELECT file('/etc/hostname') AS content");

      expect(error.message).toContain('calls file()');
    });

    it('rejects a table function in a join', async () => {
      const error = await sqlError('SELECT count() FROM vevee.events AS e, numbers(3) AS n');

      expect(error.message).toContain('reads the table function numbers()');
    });

    it('rejects a second statement', async () => {
      const error = await sqlError('SELECT 1; DROP TABLE vevee.events');

      expect(error.message).toContain('contains a second statement');
    });

    it('rejects a system table', async () => {
      const error = await sqlError('SELECT name FROM system.tables');

      expect(error.message).toContain('reads system.tables, which the SQL endpoint does not allow');
    });

    it('rejects a SETTINGS clause', async () => {
      const error = await sqlError("SELECT count() FROM vevee.events SETTINGS additional_table_filters = {'vevee.events': '1'}");

      expect(error.message).toContain('SETTINGS clause');
    });

    it('rejects a SETTINGS clause in a subquery', async () => {
      const error = await sqlError("SELECT * FROM (SELECT count() FROM vevee.events SETTINGS additional_table_filters = {'vevee.events': '1'})");

      expect(error.message).toContain('SETTINGS clause');
    });

    it('reports a ClickHouse error on the query', async () => {
      const error = await sqlError('SELECT no_such_column FROM vevee.events');

      expect(error.message).toContain('failed in ClickHouse');
      expect(error.message).toContain('no_such_column');
    });

    it('truncates a result at 10,000 rows', async () => {
      // 17 events times 1,000 rows each.
      const result = await data<{ sql: { rows: unknown[][]; truncated: boolean } }>(SQL.replace('rows }', 'rows truncated }'), {
        query: 'SELECT event_id, n FROM vevee.events ARRAY JOIN range(1000) AS n',
      });

      expect(result.sql.rows).toHaveLength(10_000);
      expect(result.sql.truncated).toBe(true);
    });

    it('answers the next query after a runtime error', async () => {
      const error = await sqlError('SELECT event_id, throwIf(n = 999) FROM vevee.events ARRAY JOIN range(1000) AS n');
      const next = await data<{ sql: { rows: unknown[][]; truncated: boolean } }>(SQL.replace('rows }', 'rows truncated }'), {
        query: 'SELECT count() FROM vevee.events',
      });

      expect(error.message).toContain('throwIf');
      expect(next.sql.rows).toEqual([[17]]);
      expect(next.sql.truncated).toBe(false);
    });

    it('stops a query at its memory limit', async () => {
      // About 2 GB of strings, twice the limit of one analyst query.
      const error = await sqlError("SELECT length(groupArray(repeat('x', 20000))) FROM (SELECT arrayJoin(range(100000)))");
      expect(error.message).toMatch(/memory limit/i);

      const next = await data<{ sql: { rows: unknown[][] } }>(SQL, { query: 'SELECT count() FROM vevee.events' });
      expect(next.sql.rows).toEqual([[17]]);
    });

    it('rejects functions that wait or read engine settings', async () => {
      for (const query of ['SELECT sleepEachRow(1) FROM vevee.events', "SELECT getSetting('additional_table_filters')"]) {
        expect((await sqlError(query)).message).toContain('argument "query"');
      }
    });

    it('leaves the session writable after a query', async () => {
      await data(SQL, { query: 'SELECT 1' });
      await insertEventRows(clickhouse, environment.config.clickhouseDatabase, [row('other', 'user-8', 'page_view', '2026-06-01T00:00:00Z')]);

      const result = await data<{ sql: { rows: unknown[][] } }>(SQL, { query: 'SELECT count() FROM vevee.events' }, OTHER_KEY);
      expect(result.sql.rows).toEqual([[OTHER_EVENTS.length + 1]]);
    });
  });
});
