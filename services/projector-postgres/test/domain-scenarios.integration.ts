import type { Admin, Kafka, Producer } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { encodeLedgerEvent, personKey, type LedgerEvent, type SubscriptionTerms } from '@vevee/contracts';
import type { PersonState } from '@vevee/domain';
import { domainScenarios } from '@vevee/domain/scenarios';
import { createKafka, ensureLedgerTopic, ledgerTopic, partitionFor } from '@vevee/kafka';
import { createPool, migrate } from '@vevee/postgres';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@vevee/testing';

import { POSTGRES_PROJECTOR, isProjectionCaughtUp } from '../src';
import { capturingLogger, startProjector, type RunningProjector } from './projector-harness';

/**
 * Sends every scenario of the domain's table tests through the broker. The
 * events of each person's decisions go to the ledger in the person's
 * partition, and one projector applies them. PostgreSQL must then show the
 * numbers of the person's final domain state. Each scenario gets a workspace
 * of its own, so the scenarios share one topic and one projector.
 */

interface ScenarioRun {
  name: string;
  workspaceId: string;
  people: Array<{ personId: string; events: LedgerEvent[]; state: PersonState }>;
}

const runs: ScenarioRun[] = domainScenarios
  .map((scenario, index) => {
    const workspaceId = `ws_scenario_${index}`;
    const people = scenario
      .run()
      .filter((person) => person.events.length > 0)
      .map((person) => ({
        personId: person.events[0]!.personId,
        events: person.events.map((event) => ({ ...event, workspaceId })),
        state: person.state,
      }));
    return { name: scenario.name, workspaceId, people };
  })
  .filter((run) => run.people.length > 0);

interface Amounts {
  used: number;
  reserved: number;
}

interface Subscription {
  current: SubscriptionTerms | null;
  scheduled: { terms: SubscriptionTerms; effectiveAt: number } | null;
  occurredAt: number;
}

function termsOf(planId: string | null, status: string | null, startsAt: Date | null): SubscriptionTerms | null {
  if (planId === null || status === null || startsAt === null) return null;
  return { planId, status: status as SubscriptionTerms['status'], startsAt: startsAt.getTime() };
}

describe('domain scenarios projected into PostgreSQL', () => {
  let environment: TestEnvironment;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let pool: pg.Pool;
  let projector: RunningProjector;
  const log = capturingLogger();

  beforeAll(async () => {
    environment = await createTestEnvironment();
    await migrate(environment.config.databaseUrl);
    kafka = createKafka(environment.config, log.logger);
    await ensureLedgerTopic(kafka, environment.config);
    const topic = ledgerTopic(environment.config);
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    pool = createPool(environment.config.databaseUrl, 2);

    // One send keeps each person's events in order within the person's partition, as the decider appends them.
    const events = runs.flatMap((run) => run.people.flatMap((person) => person.events));
    await producer.send({
      topic,
      acks: -1,
      messages: events.map((event) => {
        const key = personKey(event.workspaceId, event.personId);
        return { key, value: encodeLedgerEvent(event), partition: partitionFor(key, environment.config.ledgerPartitions) };
      }),
    });
    projector = await startProjector(environment.config, log.logger);
    await waitFor('the projection to reach the end of the ledger', () => isProjectionCaughtUp(pool, admin, POSTGRES_PROJECTOR, topic), { timeoutMs: 60_000 });
  });

  afterAll(async () => {
    await projector?.app.close();
    await producer?.disconnect();
    await admin?.disconnect();
    await pool?.end();
    await environment?.cleanup();
  });

  it('applies every event without an anomaly', () => {
    expect(projector.projector.stoppedPartitions()).toEqual([]);
    const warnings = log.lines.filter((line) => line.component === POSTGRES_PROJECTOR && Number(line.level) >= 40);
    expect(warnings.map((line) => [line.msg, line.type, line.reason])).toEqual([]);
  });

  for (const { name, workspaceId, people } of runs) {
    it(name, async () => {
      for (const { personId, events, state } of people) {
        const label = `${workspaceId}/${personId}`;
        const lastAt = state.lastAt;

        // Counters: every counter the domain still holds, and no open window that it lacks.
        const counterRows = await pool.query<{ meter: string; period: string; window_start: Date; window_end: Date; used: string; reserved: string }>(
          `SELECT meter, period, window_start, window_end, used::text, reserved::text FROM usage_counters WHERE workspace_id = $1 AND person_id = $2`,
          [workspaceId, personId],
        );
        const projected = new Map<string, Amounts & { end: number }>(
          counterRows.rows.map((row) => [
            `${row.meter}|${row.period}|${row.window_start.getTime()}|${row.window_end.getTime()}`,
            { used: Number(row.used), reserved: Number(row.reserved), end: row.window_end.getTime() },
          ]),
        );
        const expectedCounters = Object.fromEntries([...state.counters].map(([key, counter]) => [key, { used: counter.used, reserved: counter.reserved }]));
        const projectedCounters = Object.fromEntries(
          [...projected].filter(([key, row]) => key in expectedCounters || row.end > lastAt).map(([key, row]) => [key, { used: row.used, reserved: row.reserved }]),
        );
        expect(projectedCounters, `${label} usage_counters`).toEqual(expectedCounters);

        // Active reservations: the domain's holds, with the part held against credits.
        const active = await pool.query<{ reservation_id: string; quantity: string; credit_quantity: string }>(
          `SELECT reservation_id, quantity::text, credit_quantity::text FROM reservations
           WHERE workspace_id = $1 AND person_id = $2 AND status = 'active'`,
          [workspaceId, personId],
        );
        const byId = (left: { reservationId: string }, right: { reservationId: string }) => left.reservationId.localeCompare(right.reservationId);
        const expectedHolds = [...state.holds.values()].map((hold) => ({ reservationId: hold.reservationId, quantity: hold.quantity, creditQuantity: hold.creditQuantity })).sort(byId);
        const projectedHolds = active.rows
          .map((row) => ({ reservationId: row.reservation_id, quantity: Number(row.quantity), creditQuantity: Number(row.credit_quantity) }))
          .sort(byId);
        expect(projectedHolds, `${label} active reservations`).toEqual(expectedHolds);

        // Grants: remaining and the sum of entries equal the domain's balance. A
        // grant the domain dropped (expired and spent) must be at 0.
        const grantRows = await pool.query<{ grant_id: string; remaining: string; entries: string }>(
          `SELECT g.grant_id, g.remaining::text, coalesce(sum(e.amount), 0)::text AS entries
           FROM credit_grants g
           LEFT JOIN credit_entries e ON e.workspace_id = g.workspace_id AND e.person_id = g.person_id AND e.grant_id = g.grant_id
           WHERE g.workspace_id = $1 AND g.person_id = $2
           GROUP BY g.grant_id, g.remaining`,
          [workspaceId, personId],
        );
        const expectedGrants = Object.fromEntries(
          grantRows.rows.map((row) => {
            const remaining = state.grants.get(row.grant_id)?.remaining ?? 0;
            return [row.grant_id, { remaining, entries: remaining }];
          }),
        );
        for (const grant of state.grants.values()) expectedGrants[grant.grantId] ??= { remaining: grant.remaining, entries: grant.remaining };
        const projectedGrants = Object.fromEntries(grantRows.rows.map((row) => [row.grant_id, { remaining: Number(row.remaining), entries: Number(row.entries) }]));
        expect(projectedGrants, `${label} credit_grants`).toEqual(expectedGrants);
        const orphans = await pool.query<{ grant_id: string }>(
          `SELECT e.grant_id FROM credit_entries e
           WHERE e.workspace_id = $1 AND e.person_id = $2
             AND NOT EXISTS (SELECT 1 FROM credit_grants g WHERE g.workspace_id = e.workspace_id AND g.person_id = e.person_id AND g.grant_id = e.grant_id)`,
          [workspaceId, personId],
        );
        expect(orphans.rows, `${label} credit_entries without a grant`).toEqual([]);

        // Subscription: a scheduled change whose time has come is current, as readers take it at the last decision's time.
        const subscriptionRows = await pool.query<{
          plan_id: string | null;
          status: string | null;
          starts_at: Date | null;
          scheduled_plan_id: string | null;
          scheduled_status: string | null;
          scheduled_starts_at: Date | null;
          scheduled_effective_at: Date | null;
          occurred_at: Date;
        }>(`SELECT * FROM subscriptions WHERE workspace_id = $1 AND person_id = $2`, [workspaceId, personId]);
        let subscription: Subscription = { current: null, scheduled: null, occurredAt: 0 };
        const row = subscriptionRows.rows[0];
        if (row !== undefined) {
          const scheduledTerms = termsOf(row.scheduled_plan_id, row.scheduled_status, row.scheduled_starts_at);
          subscription = {
            current: termsOf(row.plan_id, row.status, row.starts_at),
            scheduled: scheduledTerms === null ? null : { terms: scheduledTerms, effectiveAt: row.scheduled_effective_at!.getTime() },
            occurredAt: row.occurred_at.getTime(),
          };
          if (subscription.scheduled !== null && subscription.scheduled.effectiveAt <= lastAt) {
            subscription = { ...subscription, current: subscription.scheduled.terms, scheduled: null };
          }
        }
        expect(subscription, `${label} subscriptions`).toEqual({
          current: state.subscription.current,
          scheduled: state.subscription.scheduled,
          occurredAt: state.subscription.occurredAt,
        });

        const history = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM subscription_history WHERE workspace_id = $1 AND person_id = $2`, [
          workspaceId,
          personId,
        ]);
        expect(history.rows[0]?.n, `${label} subscription_history`).toBe(events.filter((event) => event.type === 'SubscriptionChanged').length);
      }
    });
  }
});
