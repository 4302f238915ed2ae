import 'reflect-metadata';

import { Writable } from 'node:stream';

import type { ClickHouseClient } from '@clickhouse/client';
import { Module, type DynamicModule } from '@nestjs/common';
import { pino } from 'pino';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLICKHOUSE, ClickHouseModule, ensureClickHouseSchema, insertEventRows, type EventRow } from '@vevee/clickhouse';
import { windowFor } from '@vevee/domain';
import { PlatformModule, startHttpApp, type HttpApp, type VeveeConfig } from '@vevee/platform';
import { PostgresModule, applySeed, createPool, defineMeter, loadCatalog, migrate, parseSeed, publishPlanVersion } from '@vevee/postgres';
import { createTestEnvironment, type TestEnvironment } from '@vevee/testing';

import { GatewayModule, parseDateTime } from '../src';

const ACME_KEY = 'acme-test-key-0123456789';
const OTHER_KEY = 'other-test-key-0123456789';
const ACME_ZONE = 'Europe/Berlin';

interface GraphQLResponse {
  status: number;
  headers: Headers;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
  };
}

/** Collects the JSON lines the gateway logs, to check what an internal error records. */
class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }
}

@Module({})
class GatewayTestModule {
  static forRoot(config: VeveeConfig, logger: pino.Logger): DynamicModule {
    return {
      module: GatewayTestModule,
      imports: [PlatformModule.forRoot(config, logger), PostgresModule, ClickHouseModule, GatewayModule],
    };
  }
}

function eventRow(fields: Partial<EventRow> & Pick<EventRow, 'event_id' | 'workspace_id' | 'person_id' | 'type' | 'at'>): EventRow {
  return {
    event_type: '',
    meter: 'tokens',
    quantity: 1,
    cost: 0,
    currency: 'USD',
    reservation_id: '',
    idempotency_key: fields.event_id,
    plan_version: 2,
    metadata: '{}',
    ledger_partition: 0,
    ledger_offset: '0',
    payload: '{}',
    ...fields,
  };
}

describe('gateway', () => {
  let environment: TestEnvironment;
  let pool: pg.Pool;
  let http: HttpApp;
  let clickhouse: ClickHouseClient;
  const logs = new LogCapture();

  // Each test reads the windows of the instant it starts at, like the gateway does.
  const now = Date.now();
  const day = windowFor('day', now, ACME_ZONE);
  const month = windowFor('month', now, ACME_ZONE);

  async function graphql(query: string, variables: Record<string, unknown> = {}, apiKey: string | null = ACME_KEY): Promise<GraphQLResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (apiKey !== null) headers.authorization = `Bearer ${apiKey}`;
    const response = await fetch(`${http.url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse['body'] };
  }

  async function insertCounter(workspaceId: string, personId: string, meter: string, window: { period: string; start: number; end: number }, used: string): Promise<void> {
    await pool.query(
      `INSERT INTO usage_counters (workspace_id, person_id, meter, period, window_start, window_end, used)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [workspaceId, personId, meter, window.period, new Date(window.start), new Date(window.end), used],
    );
  }

  async function insertReservation(id: string, quantity: string, status: string, reservedAt: number, expiresAt: number): Promise<void> {
    await pool.query(
      `INSERT INTO reservations (workspace_id, reservation_id, person_id, meter, quantity, status, reserved_at, expires_at, closed_at)
       VALUES ('acme', $1, 'p1', 'tokens', $2, $3, $4, $5, $6)`,
      [id, quantity, status, new Date(reservedAt), new Date(expiresAt), status === 'active' ? null : new Date(reservedAt + 1000)],
    );
  }

  beforeAll(async () => {
    environment = await createTestEnvironment();
    const { config } = environment;
    await migrate(config.databaseUrl);
    pool = createPool(config.databaseUrl, 2);

    const seed = parseSeed(
      {
        workspaces: [
          { id: 'acme', name: 'Acme', timeZone: ACME_ZONE, apiKeys: [ACME_KEY], plan: { version: 1, meters: { tokens: { day: 1000 } } } },
          { id: 'other', name: 'Other', apiKeys: [OTHER_KEY], plan: { version: 1, meters: { tokens: { day: 100_000 } } } },
        ],
      },
      'gateway test seed',
    );
    await applySeed(pool, seed);
    // A later version of the default plan replaces the seed's: the gateway reads the latest.
    await defineMeter(pool, 'acme', { key: 'images', unit: 'images' });
    const { defaultPlanId } = (await loadCatalog(pool, 'acme'))!;
    await publishPlanVersion(pool, 'acme', {
      planId: defaultPlanId,
      name: 'Default',
      limits: [
        { id: 'tokens-day', meter: 'tokens', amount: 20_000, period: 'day' },
        { id: 'tokens-month', meter: 'tokens', amount: 400_000, period: 'month' },
        { id: 'images-month', meter: 'images', amount: 50, period: 'month' },
      ],
    });

    await insertCounter('acme', 'p1', 'tokens', day, '1200.5');
    await insertCounter('acme', 'p1', 'tokens', month, '5000');
    // Yesterday's counter is a past window and never counts.
    await insertCounter('acme', 'p1', 'tokens', windowFor('day', day.start - 1, ACME_ZONE), '777');
    await insertCounter('other', 'p1', 'tokens', windowFor('day', now, 'UTC'), '99999');

    await insertReservation('r-active', '300', 'active', now - 10_000, now + 60_000);
    await insertReservation('r-expired', '1000', 'active', now - 120_000, now - 60_000);
    await insertReservation('r-committed', '4000', 'committed', now - 30_000, now + 30_000);
    await insertReservation('r-yesterday', '50', 'active', day.start - 1000, now + 60_000);

    const logger = pino({ level: 'info' }, logs);
    http = await startHttpApp(GatewayTestModule.forRoot(config, logger), config, logger);
    clickhouse = http.app.get<ClickHouseClient>(CLICKHOUSE, { strict: false });
    await ensureClickHouseSchema(clickhouse, config.clickhouseDatabase);
  });

  afterAll(async () => {
    await http?.app.close();
    await pool?.end();
    await environment?.cleanup();
  });

  describe('authentication', () => {
    it('rejects a request without an API key', async () => {
      const response = await graphql('{ person(id: "p1") { id } }', {}, null);

      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
      expect(response.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(response.body.errors?.[0]?.message).toContain('Authorization: Bearer <api key>');
    });

    it('rejects an unknown API key', async () => {
      const response = await graphql('{ person(id: "p1") { id } }', {}, 'not-a-key-of-any-workspace');

      expect(response.status).toBe(401);
      expect(response.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(response.body.errors?.[0]?.message).toContain('invalid API key');
    });

    it('rejects a header without the Bearer scheme', async () => {
      const response = await fetch(`${http.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: ACME_KEY },
        body: JSON.stringify({ query: '{ person(id: "p1") { id } }' }),
      });
      const body = (await response.json()) as GraphQLResponse['body'];

      expect(response.status).toBe(401);
      expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });

    it('hides a failed key lookup behind an error id', async () => {
      await pool.query('ALTER TABLE api_keys RENAME TO api_keys_hidden');
      let response: GraphQLResponse;
      try {
        response = await graphql('{ person(id: "p1") { id } }');
      } finally {
        await pool.query('ALTER TABLE api_keys_hidden RENAME TO api_keys');
      }

      const error = response.body.errors?.[0];
      expect(response.status).toBe(500);
      expect(error?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      expect(error?.extensions?.errorId).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.stringify(response.body)).not.toContain('api_keys');
    });
  });

  describe('person usage', () => {
    const USAGE = `query Usage($id: String!, $meter: String!, $period: Period) {
      person(id: $id) {
        id
        usage(meter: $meter, period: $period) { meter period used reserved limit remaining resetsAt windowStart }
      }
    }`;

    it('returns the current day and month windows', async () => {
      const response = await graphql(USAGE, { id: 'p1', meter: 'tokens' });

      expect(response.body.errors).toBeUndefined();
      // The hold made yesterday counts in this month unless today is the 1st.
      const monthReserved = 300 + (day.start - 1000 >= month.start ? 50 : 0);
      expect(response.body.data).toEqual({
        person: {
          id: 'p1',
          usage: [
            {
              meter: 'tokens',
              period: 'DAY',
              used: 1200.5,
              reserved: 300,
              limit: 20_000,
              remaining: 20_000 - 1200.5 - 300,
              resetsAt: new Date(day.end).toISOString(),
              windowStart: new Date(day.start).toISOString(),
            },
            {
              meter: 'tokens',
              period: 'MONTH',
              used: 5000,
              reserved: monthReserved,
              limit: 400_000,
              remaining: 400_000 - 5000 - monthReserved,
              resetsAt: new Date(month.end).toISOString(),
              windowStart: new Date(month.start).toISOString(),
            },
          ],
        },
      });
    });

    it('leaves out a hold past its expiry that is still active', async () => {
      const response = await graphql(USAGE, { id: 'p1', meter: 'tokens', period: 'DAY' });

      // r-expired (1000) is still 'active' in its row but expired a minute ago.
      const usage = (response.body.data?.person as { usage: { reserved: number }[] }).usage;
      expect(usage).toHaveLength(1);
      expect(usage[0]?.reserved).toBe(300);
    });

    it('returns only the requested period', async () => {
      const response = await graphql(USAGE, { id: 'p1', meter: 'tokens', period: 'MONTH' });

      const usage = (response.body.data?.person as { usage: { period: string }[] }).usage;
      expect(usage.map((entry) => entry.period)).toEqual(['MONTH']);
    });

    it('returns null limits for a period without a limit', async () => {
      const response = await graphql(USAGE, { id: 'p1', meter: 'images' });

      expect(response.body.errors).toBeUndefined();
      const usage = (response.body.data?.person as { usage: Record<string, unknown>[] }).usage;
      expect(usage[0]).toMatchObject({ period: 'DAY', used: 0, reserved: 0, limit: null, remaining: null });
      expect(usage[1]).toMatchObject({ period: 'MONTH', used: 0, reserved: 0, limit: 50, remaining: 50 });
    });

    it('returns zeros for a person without usage', async () => {
      const response = await graphql(USAGE, { id: 'nobody', meter: 'tokens', period: 'DAY' });

      const usage = (response.body.data?.person as { usage: Record<string, unknown>[] }).usage;
      expect(usage[0]).toMatchObject({ used: 0, reserved: 0, limit: 20_000, remaining: 20_000 });
    });

    it('reads only the workspace of the API key', async () => {
      const response = await graphql(USAGE, { id: 'p1', meter: 'tokens', period: 'DAY' }, OTHER_KEY);

      const usage = (response.body.data?.person as { usage: Record<string, unknown>[] }).usage;
      expect(usage[0]).toMatchObject({ used: 99_999, reserved: 0, limit: 100_000, remaining: 1 });
    });

    it('rejects a meter that is not in the plan', async () => {
      const response = await graphql(USAGE, { id: 'p1', meter: 'videos' });

      const error = response.body.errors?.[0];
      expect(response.status).toBe(200);
      expect(response.body.data).toBeNull();
      expect(error?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'meter' });
      expect(error?.message).toContain('argument "meter"');
      expect(error?.message).toContain('"videos"');
      expect(error?.message).toContain('images, tokens');
    });

    it('rejects an empty person id', async () => {
      const response = await graphql(USAGE, { id: '', meter: 'tokens' });

      expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'id' });
    });

    it('hides an internal error behind an error id', async () => {
      await pool.query('ALTER TABLE usage_counters RENAME TO usage_counters_hidden');
      let response: GraphQLResponse;
      try {
        response = await graphql(USAGE, { id: 'p1', meter: 'tokens' });
      } finally {
        await pool.query('ALTER TABLE usage_counters_hidden RENAME TO usage_counters');
      }

      const error = response.body.errors?.[0];
      const errorId = error?.extensions?.errorId as string;
      expect(error?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      expect(errorId).toMatch(/^[0-9a-f-]{36}$/);
      expect(error?.message).toContain(errorId);
      expect(JSON.stringify(response.body)).not.toContain('usage_counters');
      expect(error?.extensions).not.toHaveProperty('stacktrace');
      const logged = logs.lines.find((line) => line.errorId === errorId);
      expect(JSON.stringify(logged?.err)).toContain('usage_counters');
    });
  });

  describe('request limits', () => {
    it('rejects a request with too many aliases', async () => {
      const fields = Array.from({ length: 21 }, (_, index) => `p${index}: person(id: "u${index}") { id }`).join(' ');
      const response = await graphql(`{ ${fields} }`);

      expect(response.status).toBe(400);
      expect(response.body.errors?.[0]?.message).toMatch(/aliases/i);
    });

    it('answers a request within the limits', async () => {
      const fields = Array.from({ length: 20 }, (_, index) => `p${index}: person(id: "u${index}") { id }`).join(' ');
      const response = await graphql(`{ ${fields} }`);

      expect(response.body.errors).toBeUndefined();
      expect(Object.keys(response.body.data ?? {})).toHaveLength(20);
    });
  });

  describe('usage summary', () => {
    const SUMMARY = `query Summary($from: DateTime!, $to: DateTime!) {
      usageSummary(from: $from, to: $to) { from to events cost activePersons byType { type count cost } }
    }`;
    const from = Date.parse('2026-03-01T00:00:00Z');
    const to = Date.parse('2026-04-01T00:00:00Z');

    beforeAll(async () => {
      await insertEventRows(clickhouse, environment.config.clickhouseDatabase, [
        eventRow({ event_id: 'e1', workspace_id: 'acme', person_id: 'p1', type: 'QuotaCommitted', at: from, cost: 0.5 }),
        eventRow({ event_id: 'e2', workspace_id: 'acme', person_id: 'p2', type: 'QuotaCommitted', at: from + 86_400_000, cost: 0.25 }),
        eventRow({ event_id: 'e3', workspace_id: 'acme', person_id: 'p1', type: 'UsageTracked', event_type: 'chat', at: to - 1, cost: 0.125 }),
        eventRow({ event_id: 'e4', workspace_id: 'acme', person_id: 'p1', type: 'QuotaReserved', at: from + 1000 }),
        // Outside [from, to), or of another workspace: never counted.
        eventRow({ event_id: 'e5', workspace_id: 'acme', person_id: 'p3', type: 'QuotaCommitted', at: to, cost: 9 }),
        eventRow({ event_id: 'e6', workspace_id: 'acme', person_id: 'p3', type: 'QuotaCommitted', at: from - 1, cost: 9 }),
        eventRow({ event_id: 'e7', workspace_id: 'other', person_id: 'p4', type: 'QuotaCommitted', at: from + 1000, cost: 9 }),
      ]);
    });

    it('sums the events of the workspace in the range', async () => {
      const response = await graphql(SUMMARY, { from: '2026-03-01T01:00:00+01:00', to: '2026-04-01T00:00:00Z' });

      expect(response.body.errors).toBeUndefined();
      expect(response.body.data).toEqual({
        usageSummary: {
          from: '2026-03-01T00:00:00.000Z',
          to: '2026-04-01T00:00:00.000Z',
          events: 4,
          cost: 0.875,
          activePersons: 2,
          byType: [
            { type: 'QuotaCommitted', count: 2, cost: 0.75 },
            { type: 'QuotaReserved', count: 1, cost: 0 },
            { type: 'UsageTracked', count: 1, cost: 0.125 },
          ],
        },
      });
    });

    it('rejects an invalid date literal naming the argument', async () => {
      const response = await graphql('{ usageSummary(from: "2026-02-30T00:00:00Z", to: "2026-03-31T00:00:00Z") { events } }');

      const error = response.body.errors?.[0];
      expect(response.status).toBe(400);
      expect(response.body.errors).toHaveLength(1);
      expect(error?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'from' });
      expect(error?.message).toContain('argument "from"');
      expect(error?.message).toContain('ISO 8601');
    });

    it('rejects an invalid date variable naming the variable', async () => {
      const response = await graphql(SUMMARY, { from: '2026-03-01T00:00:00Z', to: 'yesterday' });

      const error = response.body.errors?.[0];
      expect(response.status).toBe(400);
      expect(error?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(error?.message).toContain('$to');
      expect(error?.message).toContain('ISO 8601');
    });

    it('rejects date-times without a time zone', async () => {
      const response = await graphql(SUMMARY, { from: '2026-03-01T00:00:00', to: '2026-03-02' });

      expect(response.body.errors?.map((error) => error.extensions?.code)).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT']);
    });

    it('rejects a range that ends before it starts', async () => {
      const response = await graphql(SUMMARY, { from: '2026-04-01T00:00:00Z', to: '2026-03-01T00:00:00Z' });

      const error = response.body.errors?.[0];
      expect(error?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'to' });
      expect(error?.message).toContain('must be later than argument "from"');
    });

    it('rejects a range longer than 400 days', async () => {
      const response = await graphql(SUMMARY, { from: '2025-01-01T00:00:00Z', to: '2026-02-05T00:00:01Z' });

      const error = response.body.errors?.[0];
      expect(error?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'to' });
      expect(error?.message).toContain('maximum of 400');
    });

    it('accepts a range of exactly 400 days', async () => {
      const response = await graphql(SUMMARY, { from: '2025-01-01T00:00:00Z', to: '2026-02-05T00:00:00Z' });

      expect(response.body.errors).toBeUndefined();
    });
  });
});

describe('DateTime scalar', () => {
  it.each([
    ['2026-05-01T00:00:00Z', '2026-05-01T00:00:00.000Z'],
    ['2026-05-01T02:00:00+02:00', '2026-05-01T00:00:00.000Z'],
    ['2026-05-01T00:00Z', '2026-05-01T00:00:00.000Z'],
    ['2024-02-29T23:59:59.999999-01:30', '2024-03-01T01:29:59.999Z'],
  ])('accepts %s', (input, expected) => {
    expect(parseDateTime(input).toISOString()).toBe(expected);
  });

  it.each([
    ['2026-02-29T00:00:00Z', 'a day that does not exist'],
    ['2026-13-01T00:00:00Z', 'month 13'],
    ['2026-05-01T24:00:00Z', 'hour 24'],
    ['2026-05-01T00:00:60Z', 'second 60'],
    ['2026-05-01T00:00:00', 'no time zone'],
    ['2026-05-01', 'no time'],
    ['2026-05-01T00:00:00+24:00', 'an offset of 24 hours'],
    ['1714521600000', 'epoch milliseconds'],
    [' 2026-05-01T00:00:00Z', 'leading space'],
  ])('rejects %s (%s)', (input) => {
    expect(() => parseDateTime(input)).toThrow('is not an ISO 8601 date-time with a time zone');
  });

  it('rejects a value that is not a string', () => {
    expect(() => parseDateTime(1_714_521_600_000)).toThrow('1714521600000 is not an ISO 8601 date-time');
  });
});
