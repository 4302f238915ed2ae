import { describe, expect, it } from 'vitest';

import { advanceTo, applyEvent, emptyPersonState, restorePerson, snapshotPerson, type QuotaCommand } from '../src';
import { Person, catalogOf, check, commit, grant, limit, meter, reserve, subscribe, track, utc } from './plan-harness';

const MAY_10 = utc('2026-05-10T00:00:00Z');

const catalog = catalogOf({
  defaultPlanId: 'free',
  meters: [meter('tokens'), meter('llm_cost', 'USD')],
  plans: {
    free: [[limit('free-month', 'tokens', 100, 'month', { credits: true }), limit('free-llm', 'llm_cost', 1, 'month', { credits: true })]],
    basic: [
      [
        limit('basic-billing', 'tokens', 1000, 'billing', { credits: true }),
        limit('basic-minute', 'tokens', 400, 'minute', { window: 'anchored' }),
        limit('basic-day-soft', 'tokens', 500, 'day', { enforcement: 'soft' }),
        limit('basic-llm', 'llm_cost', 2, 'billing', { credits: true }),
      ],
    ],
    pro: [[limit('pro-billing', 'tokens', 10_000, 'billing', { credits: true }), limit('pro-llm', 'llm_cost', 20, 'billing', { credits: true })]],
  },
});

type Step = [at: string, command: QuotaCommand | ((person: Person) => QuotaCommand)];

/** A month of a person's life: a subscription, grants of each kind, holds, commits and a scheduled change. */
const before: Step[] = [
  ['2026-05-10T00:00:00Z', subscribe({ planId: 'basic', externalId: 'e1', occurredAt: 1, startsAt: MAY_10 })],
  ['2026-05-10T00:00:01Z', grant({ key: 'promo', meter: 'tokens', amount: 1000, priority: 0, expiresAt: utc('2026-06-20T00:00:00Z') })],
  ['2026-05-10T00:00:02Z', grant({ key: 'monthly', meter: 'tokens', amount: 100, priority: 1, recurrence: { period: 'month', rolloverCap: 50, rolloverExpiresAfterMs: null } })],
  ['2026-05-10T00:00:03Z', grant({ key: 'usd', meter: 'USD', amount: 10 })],
  ['2026-05-12T00:00:00Z', track('tokens', 300, 't1')],
  ['2026-05-12T00:05:00Z', track('tokens', 300, 't2')],
  ['2026-05-13T00:00:00Z', track('tokens', 300, 't3')],
  ['2026-05-13T00:01:00Z', reserve('tokens', 300, 'r1')],
  ['2026-05-13T00:01:01Z', (person) => commit(lastReservation(person), 250)],
  ['2026-05-13T00:02:00Z', track('llm_cost', 3.5, 'llm1')],
  ['2026-05-14T00:00:00Z', reserve('tokens', 50, 'open', 7 * 86_400)],
  ['2026-05-20T00:00:00Z', subscribe({ planId: 'pro', externalId: 'e2', occurredAt: 2, effective: 'next_period' })],
];

/** What follows: the plan switch, a renewal with a rollover, and the promo's expiry. */
const after: Step[] = [
  ['2026-05-20T00:00:01Z', check('tokens', 400)],
  ['2026-05-20T00:00:02Z', reserve('tokens', 400, 'r2')],
  ['2026-05-20T00:00:03Z', (person) => commit(lastReservation(person), 450)],
  ['2026-06-02T00:00:00Z', track('tokens', 60, 't4')],
  ['2026-06-10T00:00:00Z', reserve('tokens', 10_200, 'r3')],
  ['2026-06-10T00:00:01Z', (person) => commit(lastReservation(person), 10_200)],
  ['2026-06-21T00:00:00Z', check('tokens', 1)],
  ['2026-07-01T00:00:00Z', track('llm_cost', 21, 'llm2')],
];

function lastReservation(person: Person): string {
  const reserved = person.events.filter((event) => event.type === 'QuotaReserved').at(-1);
  if (reserved?.type !== 'QuotaReserved') throw new Error('no reservation yet');
  return reserved.reservationId;
}

function run(person: Person, [at, command]: Step) {
  return person.decide(typeof command === 'function' ? command(person) : command, utc(at));
}

describe('snapshot round trip', () => {
  it('restored person decides the same', () => {
    const original = new Person(catalog);
    for (const step of before) {
      const decision = run(original, step);
      expect(decision.error, step[0]).toBeUndefined();
    }
    const snapshot = JSON.parse(JSON.stringify(snapshotPerson(original.state)));
    const restored = new Person(catalog, restorePerson(snapshot));
    restored.sequence = original.sequence;
    restored.events.push(...original.events);

    expect(original.state.subscription.scheduled).not.toBeNull();
    expect(original.state.grants.size).toBeGreaterThanOrEqual(4);
    expect(original.state.holds.size).toBe(1);
    for (const step of after) {
      const expected = run(original, step);
      const actual = run(restored, step);

      expect(actual, step[0]).toEqual(expected);
      expect(expected.error, step[0]).toBeUndefined();
    }
    expect(snapshotPerson(restored.state)).toEqual(snapshotPerson(original.state));
  });
});

describe('replay', () => {
  it('folding the events reaches the same state', () => {
    const person = new Person(catalog);
    const checkpoints: { at: number; events: number; counters: unknown; grants: unknown }[] = [];
    for (const step of [...before, ...after]) {
      run(person, step);
      // A decision drops used-up grants at the person's next decision, so both states are compared after advancing to the same time.
      const advanced = new Person(catalog, restorePerson(snapshotPerson(person.state)));
      advanceTo(advanced.state, utc(step[0]));
      checkpoints.push({
        at: utc(step[0]),
        events: person.events.length,
        counters: [...advanced.state.counters],
        grants: advanced.balances(),
      });
    }

    for (const checkpoint of checkpoints) {
      const replayed = emptyPersonState();
      for (const event of person.events.slice(0, checkpoint.events)) applyEvent(replayed, event);
      advanceTo(replayed, checkpoint.at);

      expect([...replayed.counters], new Date(checkpoint.at).toISOString()).toEqual(checkpoint.counters);
      expect(Object.fromEntries([...replayed.grants.values()].map((entry) => [entry.grantId, entry.remaining])), new Date(checkpoint.at).toISOString()).toEqual(checkpoint.grants);
    }
    const replayed = emptyPersonState();
    for (const event of person.events) applyEvent(replayed, event);
    advanceTo(replayed, utc(after.at(-1)![0]));
    expect(snapshotPerson(replayed)).toEqual(snapshotPerson(person.state));
  });

  it('replayed person decides the same', () => {
    const person = new Person(catalog);
    for (const step of before) run(person, step);
    const replayed = new Person(catalog, emptyPersonState());
    for (const event of person.events) applyEvent(replayed.state, event);
    replayed.sequence = person.sequence;
    replayed.events.push(...person.events);

    for (const step of after) {
      expect(run(replayed, step), step[0]).toEqual(run(person, step));
    }
  });

  it('written-out balances after the month', () => {
    const person = new Person(catalog);
    for (const step of [...before, ...after]) run(person, step);
    const series = person.state.grantKeys.get('monthly')!;
    const promo = person.state.grantKeys.get('promo')!;
    const usd = person.state.grantKeys.get('usd')!;

    const may = `${series}@${utc('2026-05-01T00:00:00Z')}`;
    const june = `${series}@${utc('2026-06-01T00:00:00Z')}`;
    const july = `${series}@${utc('2026-07-01T00:00:00Z')}`;

    // The promo paid 150 + 400 in May and 60 + 200 in June, so 190 of its 1000 expired on June 20.
    // Each renewal of 100 left 100 unused: 50 rolled over and 50 expired, and May's rollover expired unused.
    expect(person.balances()).toEqual({ [series]: 0, [usd]: 7.5, [`${june}:rollover`]: 50, [july]: 100 });
    expect(person.events.filter((event) => event.type === 'CreditsExpired').map((event) => [event.grantId, event.amount, event.expiredAt])).toEqual([
      [may, 50, utc('2026-06-01T00:00:00Z')],
      [promo, 190, utc('2026-06-20T00:00:00Z')],
      [june, 50, utc('2026-07-01T00:00:00Z')],
      [`${may}:rollover`, 50, utc('2026-07-01T00:00:00Z')],
    ]);
    expect(person.events.filter((event) => event.type === 'CreditsBurned').map((event) => [event.grantId, event.amount])).toEqual([
      [promo, 150],
      [usd, 1.5],
      [promo, 400],
      [promo, 60],
      [promo, 200],
      [usd, 1],
    ]);
  });
});
