import { describe, expect, it } from 'vitest';

import { reservationIdFor, type LedgerEvent } from '@vevee/contracts';

import {
  MergedPersonError,
  applyEvent,
  catalogFromPlan,
  counterKey,
  decide,
  emptyPersonState,
  windowFor,
  type DecisionContext,
  type PersonState,
  type QuotaCommand,
  type QuotaReply,
} from '../src';

const catalog = catalogFromPlan({ workspaceId: 'ws', timeZone: 'UTC', version: 1, meters: { tokens: { day: 100, month: 1_000 } } });
const T0 = Date.UTC(2026, 11, 4, 10, 0, 0);
const DAY = windowFor('day', T0, 'UTC');
const MONTH = windowFor('month', T0, 'UTC');

let sequence = 0;
function contextAt(now: number): DecisionContext {
  return {
    now,
    catalog,
    newEventId: () => `evt-${sequence++}`,
    newReservationId: (personId) => reservationIdFor(personId, `r${sequence++}`),
  };
}

interface Person {
  id: string;
  state: PersonState;
  events: LedgerEvent[];
}

function person(id: string): Person {
  return { id, state: emptyPersonState(), events: [] };
}

type Command = QuotaCommand extends infer C ? (C extends QuotaCommand ? Omit<C, 'workspaceId' | 'personId'> : never) : never;

function run(target: Person, command: Command, at = T0): QuotaReply {
  const decision = decide(target.state, { ...command, workspaceId: 'ws', personId: target.id } as QuotaCommand, contextAt(at));
  target.events.push(...decision.events);
  if (decision.error !== undefined) throw decision.error;
  return decision.reply!;
}

function used(target: Person, window = DAY): number {
  return target.state.counters.get(counterKey('tokens', window))?.used ?? 0;
}

function track(target: Person, quantity: number, key: string): void {
  run(target, { kind: 'track', eventType: 'chat', meter: 'tokens', quantity, cost: 0, currency: '', metadata: {}, idempotencyKey: key });
}

describe('merge of an anonymous person into a known one', () => {
  it('moves usage once and redirects later requests', () => {
    const anonymous = person('anon-1');
    const known = person('user-1');
    track(anonymous, 30, 'a1');
    const hold = run(anonymous, { kind: 'reserve', meter: 'tokens', quantity: 10, idempotencyKey: 'a2', ttlSeconds: 60 });
    track(known, 50, 'k1');

    const merge = run(anonymous, { kind: 'mergeInto', targetPersonId: known.id });
    if (merge.kind !== 'mergeInto') throw new Error('expected a merge reply');
    expect(merge.transfer.transfers).toEqual([
      { meter: 'tokens', window: { period: 'day', start: DAY.start, end: DAY.end }, used: 30 },
      { meter: 'tokens', window: { period: 'month', start: MONTH.start, end: MONTH.end }, used: 30 },
    ]);
    expect(used(anonymous)).toBe(0);

    const input = { kind: 'transferIn' as const, transferId: merge.transfer.transferId, sourcePersonId: anonymous.id, transfers: merge.transfer.transfers };
    expect(run(known, input)).toEqual({ kind: 'transferIn', applied: true });
    expect(run(known, input)).toEqual({ kind: 'transferIn', applied: false });
    expect(used(known)).toBe(80);
    expect(used(known, MONTH)).toBe(80);

    // The same merge again returns the first transfer and appends nothing.
    const eventsBefore = anonymous.events.length;
    expect(run(anonymous, { kind: 'mergeInto', targetPersonId: known.id })).toEqual(merge);
    expect(anonymous.events).toHaveLength(eventsBefore);

    expect(() => run(anonymous, { kind: 'reserve', meter: 'tokens', quantity: 1, idempotencyKey: 'a3', ttlSeconds: 60 })).toThrow(MergedPersonError);
    expect(() => run(anonymous, { kind: 'mergeInto', targetPersonId: 'someone-else' })).toThrow(MergedPersonError);

    // A hold taken before the merge is committed on the anonymous person, and its usage moves on.
    if (hold.kind !== 'reserve') throw new Error('expected a reserve reply');
    const commit = run(anonymous, { kind: 'commit', reservationId: hold.reservationId, quantity: 8, cost: 0, currency: '', metadata: {}, idempotencyKey: 'c1' });
    if (commit.kind !== 'commit' || commit.transfer === undefined) throw new Error('expected a commit with a transfer');
    expect(commit.transfer.transfers.map((transfer) => transfer.used)).toEqual([8, 8]);
    expect(used(anonymous)).toBe(0);
    run(known, { kind: 'transferIn', transferId: commit.transfer.transferId, sourcePersonId: anonymous.id, transfers: commit.transfer.transfers });
    expect(used(known)).toBe(88);

    // A repeated commit returns the same transfer, so a caller that failed to deliver it can again.
    const repeated = run(anonymous, { kind: 'commit', reservationId: hold.reservationId, quantity: 8, cost: 0, currency: '', metadata: {}, idempotencyKey: 'c1' });
    expect(repeated).toEqual(commit);
  });

  it('replays to the same counters', () => {
    const anonymous = person('anon-2');
    const known = person('user-2');
    track(anonymous, 12, 'a1');
    const merge = run(anonymous, { kind: 'mergeInto', targetPersonId: known.id });
    if (merge.kind !== 'mergeInto') throw new Error('expected a merge reply');
    run(known, { kind: 'transferIn', transferId: merge.transfer.transferId, sourcePersonId: anonymous.id, transfers: merge.transfer.transfers });

    for (const original of [anonymous, known]) {
      const replayed = emptyPersonState();
      for (const event of original.events) applyEvent(replayed, event);
      expect([...replayed.counters]).toEqual([...original.state.counters]);
      expect(replayed.merge).toEqual(original.state.merge);
      expect([...replayed.transfersIn]).toEqual([...original.state.transfersIn]);
    }
  });

  it('rejects a merge into the same person', () => {
    const anonymous = person('anon-3');
    expect(() => run(anonymous, { kind: 'mergeInto', targetPersonId: 'anon-3' })).toThrow(/knownId must differ/);
  });
});
