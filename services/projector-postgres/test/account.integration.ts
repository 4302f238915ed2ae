import type { Admin, Kafka, Producer } from 'kafkajs';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { encodeLedgerEvent, personKey, type CreditsBurnedEvent, type LedgerEvent, type QuotaReservedEvent, type UsageTrackedEvent } from '@vevee/contracts';
import type { WorkspaceCatalog } from '@vevee/domain';
import { createKafka, ensureLedgerTopic, groupId, ledgerTopic, partitionFor } from '@vevee/kafka';
import { createLogger, type Logger } from '@vevee/platform';
import { createPool, migrate } from '@vevee/postgres';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@vevee/testing';

import { POSTGRES_PROJECTOR, POSTGRES_PROJECTOR_GROUP, isProjectionCaughtUp } from '../src';
import { PersonLedger } from './ledger-fixtures';
import { startProjector, type RunningProjector } from './projector-harness';

const WORKSPACE = 'ws_account';
const T0 = Date.UTC(2026, 2, 10, 10, 0, 0);
const HOUR = 3_600_000;

/**
 * `free` is the default plan: a hard daily limit of 100 tokens that credits
 * may pay above, and a soft monthly limit that takes no credits. `pro` has a
 * larger daily limit.
 */
const CATALOG: WorkspaceCatalog = {
  workspaceId: WORKSPACE,
  timeZone: 'UTC',
  version: 1,
  meters: { tokens: { key: 'tokens', unit: 'tokens', aggregation: 'sum', displayName: 'Tokens' } },
  plans: {
    free: [
      {
        planId: 'free',
        version: 1,
        name: 'Free',
        limits: [
          { id: 'tokens-day', meter: 'tokens', amount: 100, period: 'day', window: 'calendar', enforcement: 'hard', overage: 'record', credits: true },
          { id: 'tokens-month', meter: 'tokens', amount: 10_000, period: 'month', window: 'calendar', enforcement: 'soft', overage: 'record', credits: false },
        ],
      },
    ],
    pro: [
      {
        planId: 'pro',
        version: 1,
        name: 'Pro',
        limits: [{ id: 'tokens-day', meter: 'tokens', amount: 1_000, period: 'day', window: 'calendar', enforcement: 'hard', overage: 'record', credits: true }],
      },
    ],
  },
  defaultPlanId: 'free',
};

function grant(key: string, amount: number, priority: number, expiresAt: number | null) {
  return { kind: 'grantCredits' as const, idempotencyKey: key, meter: 'tokens', amount, priority, effectiveAt: undefined, expiresAt, recurrence: null, reason: `test ${key}` };
}

function subscribe(externalId: string, planId: string, status: 'active' | 'canceled', occurredAt: number, effective: 'immediately' | 'next_period', reason: string) {
  return { kind: 'upsertSubscription' as const, planId, status, startsAt: undefined, source: 'stripe', externalId, occurredAt, effective, reason };
}

/**
 * Alice on the free plan. By hand:
 *   grants g1 10 (priority 1), g2 50 (priority 2), g3 5 (priority 9, expires T0+1h)
 *   reserve 120: the day allows 100, so 20 is held against credit
 *   commit 120: burns 10 of g1 and 10 of g2 (priority order)
 *   track 30: the day's allowance is spent, so 30 burns from g2
 *   upgrade to pro at T0+5s; at T0+2h g3 is written off (5 left) and a
 *   downgrade to free is scheduled for the end of the billing month.
 * Counters: the day window takes credits, so used = (120 - 20) + (30 - 30) = 100;
 * the month window does not, so used = 120 + 30 = 150. Both hold 0 at the end.
 * Grants remaining: g1 0, g2 50 - 10 - 30 = 10, g3 0.
 */
function aliceLedger() {
  const alice = new PersonLedger(CATALOG, 'alice');
  const [g1] = alice.run(T0, grant('g1', 10, 1, null));
  const [g2] = alice.run(T0 + 1_000, grant('g2', 50, 2, null));
  const [g3] = alice.run(T0 + 1_500, grant('g3', 5, 9, T0 + HOUR));
  const [hold] = alice.run(T0 + 2_000, { kind: 'reserve', meter: 'tokens', quantity: 120, idempotencyKey: 'rsv-1', ttlSeconds: 60 }) as [QuotaReservedEvent];
  const commitEvents = alice.run(T0 + 3_000, { kind: 'commit', reservationId: hold.reservationId, quantity: 120, cost: 0, currency: 'USD', metadata: {}, idempotencyKey: 'cmt-1' });
  const trackEvents = alice.run(T0 + 4_000, { kind: 'track', eventType: 'chat', meter: 'tokens', quantity: 30, cost: 0, currency: 'USD', metadata: {}, idempotencyKey: 'trk-1' });
  const [upgrade] = alice.run(T0 + 5_000, subscribe('ext-1', 'pro', 'active', T0 + 4_500, 'immediately', 'upgrade'));
  const [expiry] = alice.run(T0 + 2 * HOUR, { kind: 'expire' });
  const [downgrade] = alice.run(T0 + 2 * HOUR + 1_000, subscribe('ext-2', 'free', 'active', T0 + 2 * HOUR, 'next_period', 'downgrade'));
  return {
    ledger: alice,
    ids: {
      g1: (g1 as { grantId: string }).grantId,
      g2: (g2 as { grantId: string }).grantId,
      g3: (g3 as { grantId: string }).grantId,
      hold,
      commitBurns: commitEvents.filter((event): event is CreditsBurnedEvent => event.type === 'CreditsBurned'),
      trackBurns: trackEvents.filter((event): event is CreditsBurnedEvent => event.type === 'CreditsBurned'),
      tracked: trackEvents.find((event): event is UsageTrackedEvent => event.type === 'UsageTracked')!,
      upgrade: upgrade!,
      expiry: expiry!,
      downgrade: downgrade!,
    },
  };
}

/**
 * Bob subscribes to pro, schedules free for the next billing month, and
 * cancels after that month began: the projection must take the scheduled
 * change as current first, as the decider's fold does.
 */
function bobLedger() {
  const bob = new PersonLedger(CATALOG, 'bob');
  bob.run(T0, subscribe('ext-b1', 'pro', 'active', T0 - 500, 'immediately', 'signup'));
  bob.run(T0 + 1_000, subscribe('ext-b2', 'free', 'active', T0 + 500, 'next_period', 'downgrade'));
  bob.run(Date.UTC(2026, 3, 11), subscribe('ext-b3', 'free', 'canceled', Date.UTC(2026, 3, 11) - 500, 'immediately', 'cancel'));
  return bob;
}

describe('projector-postgres subscriptions and credits', () => {
  let environment: TestEnvironment;
  let logger: Logger;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let pool: pg.Pool;
  let topic: string;
  const running: RunningProjector[] = [];

  beforeEach(async () => {
    environment = await createTestEnvironment();
    logger = createLogger(environment.config);
    await migrate(environment.config.databaseUrl);
    kafka = createKafka(environment.config, logger);
    await ensureLedgerTopic(kafka, environment.config);
    topic = ledgerTopic(environment.config);
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    pool = createPool(environment.config.databaseUrl, 2);
  });

  afterEach(async () => {
    for (const projector of running.splice(0)) await projector.app.close();
    await producer.disconnect();
    await admin.disconnect();
    await pool.end();
    await environment.cleanup();
  });

  async function start(): Promise<RunningProjector> {
    const projector = await startProjector(environment.config, logger);
    running.push(projector);
    return projector;
  }

  async function produce(events: LedgerEvent[]): Promise<void> {
    await producer.send({
      topic,
      acks: -1,
      messages: events.map((event) => {
        const key = personKey(event.workspaceId, event.personId);
        return { key, value: encodeLedgerEvent(event), partition: partitionFor(key, environment.config.ledgerPartitions) };
      }),
    });
  }

  async function waitForProjection(): Promise<void> {
    await waitFor('the projection to reach the end of the ledger', () => isProjectionCaughtUp(pool, admin, POSTGRES_PROJECTOR, topic), { timeoutMs: 60_000 });
  }

  async function rows(sql: string, parameters: unknown[] = [WORKSPACE]): Promise<Array<Record<string, unknown>>> {
    return (await pool.query(sql, parameters)).rows;
  }

  async function expectAliceRows(ids: ReturnType<typeof aliceLedger>['ids']): Promise<void> {
    expect(
      await rows(
        `SELECT period, window_start, window_end, used::text, reserved::text FROM usage_counters
         WHERE workspace_id = $1 AND person_id = 'alice' ORDER BY period`,
      ),
    ).toEqual([
      { period: 'day', window_start: new Date('2026-03-10T00:00:00Z'), window_end: new Date('2026-03-11T00:00:00Z'), used: '100', reserved: '0' },
      { period: 'month', window_start: new Date('2026-03-01T00:00:00Z'), window_end: new Date('2026-04-01T00:00:00Z'), used: '150', reserved: '0' },
    ]);
    expect(await rows(`SELECT reservation_id, status, quantity::text, credit_quantity::text FROM reservations WHERE workspace_id = $1`)).toEqual([
      { reservation_id: ids.hold.reservationId, status: 'committed', quantity: '120', credit_quantity: '20' },
    ]);

    expect(
      await rows(
        `SELECT grant_id, meter, amount::text, remaining::text, priority, effective_at, expires_at, recurrence, origin, parent_grant_id
         FROM credit_grants WHERE workspace_id = $1 AND person_id = 'alice' AND granted_at < $2 ORDER BY priority`,
        [WORKSPACE, new Date(T0 + 3 * HOUR)],
      ),
    ).toEqual([
      { grant_id: ids.g1, meter: 'tokens', amount: '10', remaining: '0', priority: 1, effective_at: new Date(T0), expires_at: null, recurrence: null, origin: 'grant', parent_grant_id: null },
      { grant_id: ids.g2, meter: 'tokens', amount: '50', remaining: '10', priority: 2, effective_at: new Date(T0 + 1_000), expires_at: null, recurrence: null, origin: 'grant', parent_grant_id: null },
      { grant_id: ids.g3, meter: 'tokens', amount: '5', remaining: '0', priority: 9, effective_at: new Date(T0 + 1_500), expires_at: new Date(T0 + HOUR), recurrence: null, origin: 'grant', parent_grant_id: null },
    ]);

    const [burn1, burn2] = ids.commitBurns;
    const [burn3] = ids.trackBurns;
    expect(ids.commitBurns).toHaveLength(2);
    expect(ids.trackBurns).toHaveLength(1);
    expect(
      await rows(
        `SELECT event_id, grant_id, kind, amount::text, reservation_id, usage_event_id, at, effective_at
         FROM credit_entries WHERE workspace_id = $1 AND person_id = 'alice' AND at < $2 ORDER BY at, length(event_id), event_id`,
        [WORKSPACE, new Date(T0 + 3 * HOUR)],
      ),
    ).toEqual([
      { event_id: ids.g1.slice('grant_'.length), grant_id: ids.g1, kind: 'grant', amount: '10', reservation_id: null, usage_event_id: null, at: new Date(T0), effective_at: new Date(T0) },
      { event_id: ids.g2.slice('grant_'.length), grant_id: ids.g2, kind: 'grant', amount: '50', reservation_id: null, usage_event_id: null, at: new Date(T0 + 1_000), effective_at: new Date(T0 + 1_000) },
      { event_id: ids.g3.slice('grant_'.length), grant_id: ids.g3, kind: 'grant', amount: '5', reservation_id: null, usage_event_id: null, at: new Date(T0 + 1_500), effective_at: new Date(T0 + 1_500) },
      { event_id: burn1!.eventId, grant_id: ids.g1, kind: 'burn', amount: '-10', reservation_id: ids.hold.reservationId, usage_event_id: burn1!.usageEventId, at: new Date(T0 + 3_000), effective_at: new Date(T0 + 3_000) },
      { event_id: burn2!.eventId, grant_id: ids.g2, kind: 'burn', amount: '-10', reservation_id: ids.hold.reservationId, usage_event_id: burn2!.usageEventId, at: new Date(T0 + 3_000), effective_at: new Date(T0 + 3_000) },
      { event_id: burn3!.eventId, grant_id: ids.g2, kind: 'burn', amount: '-30', reservation_id: null, usage_event_id: ids.tracked.eventId, at: new Date(T0 + 4_000), effective_at: new Date(T0 + 4_000) },
      { event_id: ids.expiry.eventId, grant_id: ids.g3, kind: 'expiry', amount: '-5', reservation_id: null, usage_event_id: null, at: new Date(T0 + 2 * HOUR), effective_at: new Date(T0 + HOUR) },
    ]);
  }

  it('applies subscription changes, grants, burns across two grants and an expiry write-off', async () => {
    const alice = aliceLedger();
    const bob = bobLedger();
    const { ids } = alice;
    // The decider wrote the events that the comments above describe.
    expect(ids.expiry.type).toBe('CreditsExpired');
    expect(ids.downgrade).toMatchObject({ type: 'SubscriptionChanged', effectiveAt: Date.UTC(2026, 3, 10, 10, 0, 5) });

    await start();
    await produce([...alice.ledger.events, ...bob.events]);
    await waitForProjection();

    await expectAliceRows(ids);
    const startsAt = new Date(T0 + 5_000);
    expect(
      await rows(
        `SELECT person_id, plan_id, status, starts_at, scheduled_plan_id, scheduled_status, scheduled_starts_at, scheduled_effective_at, occurred_at, changed_at
         FROM subscriptions WHERE workspace_id = $1 ORDER BY person_id`,
      ),
    ).toEqual([
      {
        person_id: 'alice',
        plan_id: 'pro',
        status: 'active',
        starts_at: startsAt,
        scheduled_plan_id: 'free',
        scheduled_status: 'active',
        scheduled_starts_at: startsAt,
        scheduled_effective_at: new Date('2026-04-10T10:00:05Z'),
        occurred_at: new Date(T0 + 2 * HOUR),
        changed_at: new Date(T0 + 2 * HOUR + 1_000),
      },
      {
        // The scheduled free plan became current on 2026-04-10T10:00Z, so the cancel changes it.
        person_id: 'bob',
        plan_id: 'free',
        status: 'canceled',
        starts_at: new Date(T0),
        scheduled_plan_id: null,
        scheduled_status: null,
        scheduled_starts_at: null,
        scheduled_effective_at: null,
        occurred_at: new Date(Date.UTC(2026, 3, 11) - 500),
        changed_at: new Date(Date.UTC(2026, 3, 11)),
      },
    ]);

    expect(
      await rows(
        `SELECT person_id, external_id, source, reason, at, occurred_at, effective_at, from_plan_id, from_status, from_starts_at, to_plan_id, to_status, to_starts_at
         FROM subscription_history WHERE workspace_id = $1 ORDER BY person_id, at`,
      ),
    ).toEqual([
      {
        person_id: 'alice', external_id: 'ext-1', source: 'stripe', reason: 'upgrade', at: startsAt, occurred_at: new Date(T0 + 4_500), effective_at: startsAt,
        from_plan_id: null, from_status: null, from_starts_at: null, to_plan_id: 'pro', to_status: 'active', to_starts_at: startsAt,
      },
      {
        person_id: 'alice', external_id: 'ext-2', source: 'stripe', reason: 'downgrade', at: new Date(T0 + 2 * HOUR + 1_000), occurred_at: new Date(T0 + 2 * HOUR),
        effective_at: new Date('2026-04-10T10:00:05Z'), from_plan_id: 'pro', from_status: 'active', from_starts_at: startsAt, to_plan_id: 'free', to_status: 'active', to_starts_at: startsAt,
      },
      {
        person_id: 'bob', external_id: 'ext-b1', source: 'stripe', reason: 'signup', at: new Date(T0), occurred_at: new Date(T0 - 500), effective_at: new Date(T0),
        from_plan_id: null, from_status: null, from_starts_at: null, to_plan_id: 'pro', to_status: 'active', to_starts_at: new Date(T0),
      },
      {
        person_id: 'bob', external_id: 'ext-b2', source: 'stripe', reason: 'downgrade', at: new Date(T0 + 1_000), occurred_at: new Date(T0 + 500),
        effective_at: new Date('2026-04-10T10:00:00Z'), from_plan_id: 'pro', from_status: 'active', from_starts_at: new Date(T0), to_plan_id: 'free', to_status: 'active', to_starts_at: new Date(T0),
      },
      {
        person_id: 'bob', external_id: 'ext-b3', source: 'stripe', reason: 'cancel', at: new Date(Date.UTC(2026, 3, 11)), occurred_at: new Date(Date.UTC(2026, 3, 11) - 500),
        effective_at: new Date(Date.UTC(2026, 3, 11)), from_plan_id: 'free', from_status: 'active', from_starts_at: new Date(T0), to_plan_id: 'free', to_status: 'canceled', to_starts_at: new Date(T0),
      },
    ]);
  });

  it('applies each subscription and credit event once after the group offsets are reset', async () => {
    const alice = aliceLedger();
    const first = await start();
    await produce(alice.ledger.events);
    await waitForProjection();
    running.splice(running.indexOf(first), 1);
    await first.app.close();

    const group = groupId(environment.config, POSTGRES_PROJECTOR_GROUP);
    const partitions = Array.from({ length: environment.config.ledgerPartitions }, (_, partition) => ({ partition, offset: '0' }));
    await admin.setOffsets({ groupId: group, topic, partitions });

    await start();
    // One more grant, so the test waits for the projector to read past the redelivered records.
    const [g4] = alice.ledger.run(T0 + 3 * HOUR, grant('g4', 7, 3, null));
    await produce([g4!]);
    await waitForProjection();

    await expectAliceRows(alice.ids);
    expect(await rows(`SELECT count(*)::int AS n FROM subscription_history WHERE workspace_id = $1`)).toEqual([{ n: 2 }]);
    expect(await rows(`SELECT remaining::text FROM credit_grants WHERE workspace_id = $1 AND grant_id = $2`, [WORKSPACE, (g4 as { grantId: string }).grantId])).toEqual([
      { remaining: '7' },
    ]);
  });
});
