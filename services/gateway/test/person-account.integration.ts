import 'reflect-metadata';

import { Module, type DynamicModule } from '@nestjs/common';
import { pino } from 'pino';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ClickHouseModule } from '@vevee/clickhouse';
import { encodeLedgerEvent, type LedgerEvent, type QuotaReservedEvent } from '@vevee/contracts';
import { anchoredWindowFor, decide, emptyPersonState, windowFor, type QuotaCommand, type WorkspaceCatalog } from '@vevee/domain';
import { PlatformModule, startHttpApp, type HttpApp, type VeveeConfig } from '@vevee/platform';
import { PostgresModule, applySeed, createPool, loadCatalog, migrate, parseSeed } from '@vevee/postgres';
import { projectBatch } from '@vevee/projector-postgres';
import { createTestEnvironment, type TestEnvironment } from '@vevee/testing';

import { GatewayModule } from '../src';

const API_KEY = 'account-test-key-0123456789';
const DAY = 86_400_000;

@Module({})
class GatewayTestModule {
  static forRoot(config: VeveeConfig, logger: pino.Logger): DynamicModule {
    return { module: GatewayTestModule, imports: [PlatformModule.forRoot(config, logger), PostgresModule, ClickHouseModule, GatewayModule] };
  }
}

/**
 * `free` is the default plan. `pro` has a daily hard limit that credits pay
 * above, a hard limit per billing month and a soft limit per anchored week,
 * neither of which takes credits.
 */
const SEED = {
  workspaces: [
    {
      id: 'acme',
      name: 'Acme',
      timeZone: 'UTC',
      apiKeys: [API_KEY],
      meters: { tokens: { unit: 'tokens', aggregation: 'sum', displayName: 'Tokens' } },
      plans: {
        free: { name: 'Free', limits: [{ id: 'tokens-day', meter: 'tokens', amount: 20, period: 'day', window: 'calendar', enforcement: 'hard', overage: 'record', credits: false }] },
        pro: {
          name: 'Pro',
          limits: [
            { id: 'tokens-day', meter: 'tokens', amount: 100, period: 'day', window: 'calendar', enforcement: 'hard', overage: 'record', credits: true },
            { id: 'tokens-billing', meter: 'tokens', amount: 1000, period: 'billing', window: 'anchored', enforcement: 'hard', overage: 'record', credits: false },
            { id: 'tokens-week', meter: 'tokens', amount: 300, period: 'week', window: 'anchored', enforcement: 'soft', overage: 'record', credits: false },
          ],
        },
      },
      defaultPlanId: 'free',
    },
  ],
};

interface Page {
  nodes: unknown[];
  endCursor: string | null;
  hasMore: boolean;
}

/** The parts of a response that the tests read. Each test requests a subset of these fields. */
interface GraphQLResponse {
  data?: {
    person: {
      subscription: { current: unknown; scheduled: unknown; planId: string; history: Page };
      credits: { balances: unknown[]; entries: Page };
      limits: unknown[];
    };
  } | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

describe('gateway person subscription, credits and limits', () => {
  let environment: TestEnvironment;
  let pool: pg.Pool;
  let http: HttpApp;
  let catalog: WorkspaceCatalog;

  // The ledger is written just before the test reads it, because the gateway reads the windows of its own clock.
  const now = Date.now();
  const t0 = now - 60_000;
  // A whole second: the domain's anchored months count from the anchor's local time to the second.
  const startsAt = Math.floor((t0 - 10 * DAY) / 1000) * 1000;
  const ids = { sequence: 0 };
  const nextId = (prefix: string) => `${prefix}_${String((ids.sequence += 1)).padStart(4, '0')}`;
  const events: LedgerEvent[] = [];
  const state = emptyPersonState();

  function run(at: number, command: Record<string, unknown>): LedgerEvent[] {
    const decision = decide(state, { ...command, workspaceId: 'acme', personId: 'p1' } as unknown as QuotaCommand, {
      now: at,
      catalog,
      newEventId: () => nextId('evt'),
      newReservationId: () => nextId('res'),
    });
    if (decision.error !== undefined) throw decision.error;
    events.push(...decision.events);
    return decision.events;
  }

  const grant = (key: string, amount: number, priority: number, effectiveAt: number | undefined, expiresAt: number | null) => ({
    kind: 'grantCredits',
    idempotencyKey: key,
    meter: 'tokens',
    amount,
    priority,
    effectiveAt,
    expiresAt,
    recurrence: null,
    reason: `grant ${key}`,
  });

  async function graphql(query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResponse> {
    const response = await fetch(`${http.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as GraphQLResponse;
  }

  beforeAll(async () => {
    environment = await createTestEnvironment();
    const { config } = environment;
    await migrate(config.databaseUrl);
    pool = createPool(config.databaseUrl, 2);
    await applySeed(pool, parseSeed(SEED, 'person account test seed'));
    catalog = (await loadCatalog(pool, 'acme'))!;

    /*
     * p1 by hand:
     *   subscribes to pro (billing anchored 10 days ago); grants g1 10 (priority 1), g2 50 (priority 2,
     *   expires tomorrow), g3 5 (effective in an hour, so not spendable yet)
     *   reserve 120 and commit it: the day allows 100, so 20 burns: 10 of g1, 10 of g2
     *   reserve 30, still held: all above the spent daily allowance, so 30 is held against credit
     *   then schedules free for the next billing period.
     * Day (takes credits): used 120 - 20 = 100, reserved 30 - 30 = 0, remaining 0.
     * Billing month and anchored week (no credits): used 120, reserved 30; remaining 1000 - 150 = 850 and 300 - 150 = 150.
     * Balance: g2 50 - 10 = 40 (g1 is spent, g3 not effective yet).
     */
    run(t0, { kind: 'upsertSubscription', planId: 'pro', status: 'active', startsAt, source: 'stripe', externalId: 'ext-1', occurredAt: t0, effective: 'immediately', reason: 'signup' });
    run(t0 + 1_000, grant('g1', 10, 1, undefined, null));
    run(t0 + 2_000, grant('g2', 50, 2, undefined, now + DAY));
    run(t0 + 3_000, grant('g3', 5, 3, now + 3_600_000, null));
    const [hold] = run(t0 + 4_000, { kind: 'reserve', meter: 'tokens', quantity: 120, idempotencyKey: 'r1', ttlSeconds: 60 }) as [QuotaReservedEvent];
    run(t0 + 5_000, { kind: 'commit', reservationId: hold.reservationId, quantity: 120, cost: 0, currency: 'USD', metadata: {}, idempotencyKey: 'c1' });
    run(t0 + 6_000, { kind: 'reserve', meter: 'tokens', quantity: 30, idempotencyKey: 'r2', ttlSeconds: 3_600 });
    run(t0 + 7_000, { kind: 'upsertSubscription', planId: 'free', status: 'active', startsAt: undefined, source: 'stripe', externalId: 'ext-2', occurredAt: t0 + 7_000, effective: 'next_period', reason: 'downgrade' });

    const records = events.map((event, offset) => ({ offset: String(offset), value: encodeLedgerEvent(event) }));
    await projectBatch(pool, { projector: 'account-test', topic: 'ledger', partition: 0, records, firstOffset: '0', lastOffset: String(records.length - 1), positioned: true });

    const logger = pino({ level: 'warn' });
    http = await startHttpApp(GatewayTestModule.forRoot(config, logger), config, logger);
  });

  afterAll(async () => {
    await http?.app.close();
    await pool?.end();
    await environment?.cleanup();
  });

  it('returns the current subscription, the scheduled change and the history', async () => {
    const billing = anchoredWindowFor('billing', now, startsAt, 'UTC');
    const response = await graphql(`{
      person(id: "p1") {
        subscription {
          current { planId status startsAt }
          scheduled { terms { planId status startsAt } effectiveAt }
          planId
          history { nodes { eventId at occurredAt effectiveAt from { planId status } to { planId status startsAt } reason source externalId } endCursor hasMore }
        }
      }
    }`);

    expect(response.errors).toBeUndefined();
    const subscription = response.data!.person.subscription;
    const anchor = new Date(startsAt).toISOString();
    expect(subscription.current).toEqual({ planId: 'pro', status: 'ACTIVE', startsAt: anchor });
    expect(subscription.scheduled).toEqual({ terms: { planId: 'free', status: 'ACTIVE', startsAt: anchor }, effectiveAt: new Date(billing.end).toISOString() });
    expect(subscription.planId).toBe('pro');
    expect(subscription.history.hasMore).toBe(false);
    expect(subscription.history.nodes).toEqual([
      {
        eventId: events.find((event) => event.type === 'SubscriptionChanged' && event.externalId === 'ext-2')!.eventId,
        at: new Date(t0 + 7_000).toISOString(),
        occurredAt: new Date(t0 + 7_000).toISOString(),
        effectiveAt: new Date(billing.end).toISOString(),
        from: { planId: 'pro', status: 'ACTIVE' },
        to: { planId: 'free', status: 'ACTIVE', startsAt: anchor },
        reason: 'downgrade',
        source: 'stripe',
        externalId: 'ext-2',
      },
      {
        eventId: 'evt_0001',
        at: new Date(t0).toISOString(),
        occurredAt: new Date(t0).toISOString(),
        effectiveAt: new Date(t0).toISOString(),
        from: null,
        to: { planId: 'pro', status: 'ACTIVE', startsAt: anchor },
        reason: 'signup',
        source: 'stripe',
        externalId: 'ext-1',
      },
    ]);
  });

  it('returns spendable credit balances and pages through the entries', async () => {
    const query = `query ($after: String) {
      person(id: "p1") {
        credits {
          balances { meter balance grants }
          entries(first: 3, after: $after) { nodes { grantId kind amount reservationId at } endCursor hasMore }
        }
      }
    }`;
    const first = await graphql(query);
    expect(first.errors).toBeUndefined();
    const credits = first.data!.person.credits;
    expect(credits.balances).toEqual([{ meter: 'tokens', balance: 40, grants: 1 }]);

    const grantIds = events.filter((event) => event.type === 'CreditsGranted').map((event) => event.grantId);
    const reservationId = events.find((event) => event.type === 'QuotaCommitted')!.reservationId;
    const burnedAt = new Date(t0 + 5_000).toISOString();
    // Newest first; the two burns of one commit share `at` and come in descending event id order.
    expect(credits.entries.nodes).toEqual([
      { grantId: grantIds[1], kind: 'BURN', amount: -10, reservationId, at: burnedAt },
      { grantId: grantIds[0], kind: 'BURN', amount: -10, reservationId, at: burnedAt },
      { grantId: grantIds[2], kind: 'GRANT', amount: 5, reservationId: null, at: new Date(t0 + 3_000).toISOString() },
    ]);
    expect(credits.entries.hasMore).toBe(true);

    const second = await graphql(query, { after: credits.entries.endCursor });
    expect(second.data!.person.credits.entries).toEqual({
      nodes: [
        { grantId: grantIds[1], kind: 'GRANT', amount: 50, reservationId: null, at: new Date(t0 + 2_000).toISOString() },
        { grantId: grantIds[0], kind: 'GRANT', amount: 10, reservationId: null, at: new Date(t0 + 1_000).toISOString() },
      ],
      endCursor: expect.any(String),
      hasMore: false,
    });
  });

  it('returns each limit of the current plan with its window and usage', async () => {
    const day = windowFor('day', now, 'UTC');
    const billing = anchoredWindowFor('billing', now, startsAt, 'UTC');
    const response = await graphql(`{
      person(id: "p1") { limits { limitId meter period window enforcement credits amount used reserved remaining windowStart resetsAt } }
    }`);

    expect(response.errors).toBeUndefined();
    expect(response.data!.person.limits).toEqual([
      {
        limitId: 'tokens-day', meter: 'tokens', period: 'DAY', window: 'CALENDAR', enforcement: 'HARD', credits: true,
        amount: 100, used: 100, reserved: 0, remaining: 0, windowStart: new Date(day.start).toISOString(), resetsAt: new Date(day.end).toISOString(),
      },
      {
        limitId: 'tokens-billing', meter: 'tokens', period: 'BILLING', window: 'ANCHORED', enforcement: 'HARD', credits: false,
        amount: 1000, used: 120, reserved: 30, remaining: 850, windowStart: new Date(startsAt).toISOString(), resetsAt: new Date(billing.end).toISOString(),
      },
      {
        // Ten days after the anchor, the anchored week is the second: anchor + 7 days to anchor + 14 days.
        limitId: 'tokens-week', meter: 'tokens', period: 'WEEK', window: 'ANCHORED', enforcement: 'SOFT', credits: false,
        amount: 300, used: 120, reserved: 30, remaining: 150, windowStart: new Date(startsAt + 7 * DAY).toISOString(), resetsAt: new Date(startsAt + 14 * DAY).toISOString(),
      },
    ]);
  });

  it('returns the default plan with zero usage for a person without a subscription', async () => {
    const day = windowFor('day', Date.now(), 'UTC');
    const response = await graphql(`{
      person(id: "nobody") {
        subscription { current { planId } scheduled { effectiveAt } planId history { nodes { eventId } hasMore endCursor } }
        credits { balances { meter } entries { nodes { eventId } hasMore } }
        limits(meter: "tokens") { limitId amount used reserved remaining windowStart }
      }
    }`);

    expect(response.errors).toBeUndefined();
    expect(response.data!.person).toEqual({
      subscription: { current: null, scheduled: null, planId: 'free', history: { nodes: [], hasMore: false, endCursor: null } },
      credits: { balances: [], entries: { nodes: [], hasMore: false } },
      limits: [{ limitId: 'tokens-day', amount: 20, used: 0, reserved: 0, remaining: 20, windowStart: new Date(day.start).toISOString() }],
    });
  });

  it('invalid arguments › rejected by name', async () => {
    const meter = await graphql('{ person(id: "p1") { limits(meter: "images") { limitId } } }');
    expect(meter.errors?.[0]).toMatchObject({
      message: 'argument "meter" is "images", which the workspace does not define: use one of tokens',
      extensions: { code: 'BAD_USER_INPUT', argument: 'meter' },
    });

    const size = await graphql('{ person(id: "p1") { credits { entries(first: 0) { hasMore } } } }');
    expect(size.errors?.[0]).toMatchObject({ message: 'argument "first" is 0: send a whole number from 1 to 100', extensions: { code: 'BAD_USER_INPUT' } });

    const cursor = await graphql('{ person(id: "p1") { subscription { history(after: "not-a-cursor") { hasMore } } } }');
    expect(cursor.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(cursor.errors?.[0]?.message).toContain('argument "after" is not a cursor of this list');
  });
});
