import { describe, expect, it } from 'vitest';

import { personIdOfReservation, reservationIdFor, type LedgerEvent } from '@vevee/contracts';

import { applyEvent, catalogFromPlan, decide, emptyPersonState, windowFor, type DecisionContext, type PersonState, type QuotaCommand, type WorkspacePlan } from '../src';

const plan: WorkspacePlan = { workspaceId: 'ws', timeZone: 'UTC', version: 3, meters: { tokens: { day: 100, month: 1000 } } };
const T0 = Date.UTC(2026, 11, 4, 10, 0, 0);

function contextAt(now: number): DecisionContext {
  let sequence = 0;
  return {
    now,
    catalog: catalogFromPlan(plan),
    newEventId: () => `evt-${now}-${sequence++}`,
    newReservationId: (personId) => reservationIdFor(personId, `${now}-${sequence++}`),
  };
}

function reserve(quantity: number, key: string, ttlSeconds = 60): QuotaCommand {
  return { kind: 'reserve', workspaceId: 'ws', personId: 'p1', meter: 'tokens', quantity, idempotencyKey: key, ttlSeconds };
}

function commit(reservationId: string, quantity: number): QuotaCommand {
  return { kind: 'commit', workspaceId: 'ws', personId: 'p1', reservationId, quantity, cost: 0.01, currency: 'USD', metadata: {}, idempotencyKey: `c-${reservationId}` };
}

function replay(events: LedgerEvent[]): PersonState {
  const state = emptyPersonState();
  for (const event of events) applyEvent(state, event);
  return state;
}

describe('decide', () => {
  it('reserve › allows up to the limit and denies the rest', () => {
    const state = emptyPersonState();
    const replies = Array.from({ length: 120 }, (_, i) => decide(state, reserve(1, `k${i}`), contextAt(T0)).reply);
    const allowed = replies.filter((reply) => reply?.kind === 'reserve' && reply.allowed);
    expect(allowed).toHaveLength(100);
    const last = replies[119];
    expect(last).toMatchObject({ kind: 'reserve', allowed: false, remaining: 0, limit: 100, period: 'day', reason: 'limit_exceeded' });
  });

  it('reserve › a denied reserve consumes nothing', () => {
    const state = emptyPersonState();
    decide(state, reserve(90, 'a'), contextAt(T0));
    const denied = decide(state, reserve(20, 'b'), contextAt(T0));
    expect(denied.reply).toMatchObject({ allowed: false, remaining: 10 });
    const allowed = decide(state, reserve(10, 'c'), contextAt(T0));
    expect(allowed.reply).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('reserve › the same idempotency key returns the first answer', () => {
    const state = emptyPersonState();
    const first = decide(state, reserve(5, 'same'), contextAt(T0));
    const again = decide(state, reserve(5, 'same'), contextAt(T0 + 1000));
    expect(again.events).toHaveLength(0);
    expect(again.reply).toEqual(first.reply);
  });

  it('reserve › a reused key with other parameters is rejected', () => {
    const state = emptyPersonState();
    decide(state, reserve(5, 'same'), contextAt(T0));
    const reused = decide(state, reserve(6, 'same'), contextAt(T0));
    expect(reused.error?.field).toBe('idempotencyKey');
    expect(reused.events).toHaveLength(0);
  });

  it('reserve › an unknown meter names the field', () => {
    const state = emptyPersonState();
    const outcome = decide(state, { ...reserve(1, 'x'), meter: 'images' } as QuotaCommand, contextAt(T0));
    expect(outcome.error?.code).toBe('invalid_argument');
    expect(outcome.error?.field).toBe('meter');
    expect(outcome.error?.message).toContain('tokens');
  });

  it('commit › turns the hold into usage', () => {
    const state = emptyPersonState();
    const held = decide(state, reserve(40, 'a'), contextAt(T0)).reply;
    if (held?.kind !== 'reserve') throw new Error('expected a reserve reply');
    const committed = decide(state, commit(held.reservationId, 30), contextAt(T0 + 10));
    expect(committed.reply).toMatchObject({ kind: 'commit', quantity: 30, overage: 0, afterExpiry: false });
    const next = decide(state, reserve(70, 'b'), contextAt(T0 + 20));
    expect(next.reply).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('commit › a repeat returns the first answer', () => {
    const state = emptyPersonState();
    const held = decide(state, reserve(10, 'a'), contextAt(T0)).reply;
    if (held?.kind !== 'reserve') throw new Error('expected a reserve reply');
    const first = decide(state, commit(held.reservationId, 12), contextAt(T0 + 10));
    const again = decide(state, commit(held.reservationId, 12), contextAt(T0 + 20));
    expect(again.events).toHaveLength(0);
    expect(again.reply).toEqual(first.reply);
    expect(first.reply).toMatchObject({ overage: 2 });
  });

  it('release › returns the hold to the quota', () => {
    const state = emptyPersonState();
    const held = decide(state, reserve(100, 'a'), contextAt(T0)).reply;
    if (held?.kind !== 'reserve') throw new Error('expected a reserve reply');
    expect(decide(state, reserve(1, 'b'), contextAt(T0)).reply).toMatchObject({ allowed: false });
    const released = decide(state, { kind: 'release', workspaceId: 'ws', personId: 'p1', reservationId: held.reservationId, idempotencyKey: 'r' }, contextAt(T0 + 5));
    expect(released.reply).toMatchObject({ released: 100 });
    expect(decide(state, reserve(1, 'c'), contextAt(T0 + 6)).reply).toMatchObject({ allowed: true });
  });

  it('expiry › appends an event and frees quota', () => {
    const state = emptyPersonState();
    decide(state, reserve(100, 'a', 2), contextAt(T0));
    const later = decide(state, reserve(1, 'b'), contextAt(T0 + 2000));
    expect(later.events.map((event) => event.type)).toEqual(['QuotaExpired', 'QuotaReserved']);
    expect(later.reply).toMatchObject({ allowed: true });
  });

  it('expiry › a commit after expiry still records the usage', () => {
    const state = emptyPersonState();
    const held = decide(state, reserve(10, 'a', 1), contextAt(T0)).reply;
    if (held?.kind !== 'reserve') throw new Error('expected a reserve reply');
    const late = decide(state, commit(held.reservationId, 10), contextAt(T0 + 5000));
    expect(late.reply).toMatchObject({ afterExpiry: true, quantity: 10 });
    expect(decide(state, reserve(91, 'b'), contextAt(T0 + 6000)).reply).toMatchObject({ allowed: false, remaining: 90 });
  });

  it('fold › replaying the events gives the same state', () => {
    const state = emptyPersonState();
    const events: LedgerEvent[] = [];
    let now = T0;
    for (let i = 0; i < 50; i++) {
      now += 700;
      const outcome = decide(state, reserve(3, `k${i}`, 2), contextAt(now));
      events.push(...outcome.events);
      const reply = outcome.reply;
      if (reply?.kind === 'reserve' && reply.allowed && i % 3 === 0) {
        events.push(...decide(state, commit(reply.reservationId, 2), contextAt(now)).events);
      }
    }
    const replayed = replay(events);
    expect(replayed.counters).toEqual(state.counters);
    expect([...replayed.holds.keys()]).toEqual([...state.holds.keys()]);
    expect(replayed.idempotency.size).toBe(state.idempotency.size);
  });

  it('windows › a new day starts with a fresh daily counter', () => {
    const state = emptyPersonState();
    decide(state, reserve(100, 'a'), contextAt(T0));
    const nextDay = decide(state, reserve(100, 'b'), contextAt(T0 + 24 * 3600 * 1000));
    expect(nextDay.reply).toMatchObject({ allowed: true, period: 'day' });
  });
});

describe('windowFor', () => {
  it('aligns days to midnight in the zone', () => {
    const at = Date.UTC(2026, 2, 29, 0, 30); // 01:30 in Berlin, the day clocks move to summer time
    const window = windowFor('day', at, 'Europe/Berlin');
    expect(new Date(window.start).toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(new Date(window.end).toISOString()).toBe('2026-03-29T22:00:00.000Z');
  });

  it('ends a month at the first of the next one', () => {
    const window = windowFor('month', Date.UTC(2026, 11, 31, 23, 59), 'UTC');
    expect(new Date(window.start).toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(new Date(window.end).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });
});

describe('reservation ids', () => {
  it('carry the person id', () => {
    expect(personIdOfReservation(reservationIdFor('user:42/ü', 'abc'))).toBe('user:42/ü');
    expect(personIdOfReservation('garbage')).toBeUndefined();
    expect(personIdOfReservation('rsv_.x')).toBeUndefined();
  });
});

describe('snapshots', () => {
  it('restore a person to an equal state', async () => {
    const { snapshotPerson, restorePerson } = await import('../src');
    const state = emptyPersonState();
    const held = decide(state, reserve(10, 'a'), contextAt(T0)).reply;
    if (held?.kind !== 'reserve') throw new Error('expected a reserve reply');
    decide(state, reserve(5, 'b'), contextAt(T0 + 1));
    decide(state, commit(held.reservationId, 8), contextAt(T0 + 2));
    const restored = restorePerson(JSON.parse(JSON.stringify(snapshotPerson(state))));
    expect(restored).toEqual(state);
    const next = decide(restored, reserve(5, 'b'), contextAt(T0 + 3));
    expect(next.events).toHaveLength(0);
  });
});
