import { describe, expect, it } from 'vitest';

import { MergedPersonError, applyEvent, emptyPersonState } from '../src';
import { MERGE_DAY as DAY, MERGE_MONTH as MONTH, mergeMovesUsage, mergePerson as person, mergeThenReplay, runMerge as run } from './scenarios';

describe('merge of an anonymous person into a known one', () => {
  it('moves usage once and redirects later requests', () => {
    const scenario = mergeMovesUsage();
    const { merge, committed } = scenario;

    if (merge.kind !== 'mergeInto') throw new Error('expected a merge reply');
    expect(merge.transfer.transfers).toEqual([
      { meter: 'tokens', window: { period: 'day', start: DAY.start, end: DAY.end }, used: 30 },
      { meter: 'tokens', window: { period: 'month', start: MONTH.start, end: MONTH.end }, used: 30 },
    ]);
    expect(scenario.anonymousUsedAfterMerge).toBe(0);

    expect(scenario.transferred).toEqual({ kind: 'transferIn', applied: true });
    expect(scenario.transferredAgain).toEqual({ kind: 'transferIn', applied: false });
    expect(scenario.knownUsedAfterTransfer).toEqual({ day: 80, month: 80 });

    // The same merge again returns the first transfer and appends nothing.
    expect(scenario.mergeAgain).toEqual(merge);
    expect(scenario.eventsAfterMergeAgain).toBe(scenario.eventsBefore);

    expect(scenario.reserveAfterMerge).toBeInstanceOf(MergedPersonError);
    expect(scenario.mergeElsewhere).toBeInstanceOf(MergedPersonError);

    // A hold taken before the merge is committed on the anonymous person, and its usage moves on.
    if (committed.kind !== 'commit' || committed.transfer === undefined) throw new Error('expected a commit with a transfer');
    expect(committed.transfer.transfers.map((transfer) => transfer.used)).toEqual([8, 8]);
    expect(scenario.anonymousUsedAfterCommit).toBe(0);
    expect(scenario.knownUsedAfterCommit).toBe(88);

    // A repeated commit returns the same transfer, so a caller that failed to deliver it can again.
    expect(scenario.repeated).toEqual(committed);
  });

  it('replays to the same counters', () => {
    const { anonymous, known } = mergeThenReplay();

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

describe('a repeated request after a merge', () => {
  it('gets its first answer and counts once', () => {
    const anonymous = person('anon-9');
    const tracked = run(anonymous, { kind: 'track', eventType: 'chat', meter: 'tokens', quantity: 7, cost: 0, currency: '', metadata: {}, idempotencyKey: 'ingest:e1' });
    run(anonymous, { kind: 'mergeInto', targetPersonId: 'user-9' });
    const eventsBefore = anonymous.events.length;

    // A redelivery of the same event gets its first reply instead of moving on to the known person.
    const again = run(anonymous, { kind: 'track', eventType: 'chat', meter: 'tokens', quantity: 7, cost: 0, currency: '', metadata: {}, idempotencyKey: 'ingest:e1' });
    expect(again).toEqual(tracked);
    expect(anonymous.events).toHaveLength(eventsBefore);
    expect(() =>
      run(anonymous, { kind: 'track', eventType: 'chat', meter: 'tokens', quantity: 7, cost: 0, currency: '', metadata: {}, idempotencyKey: 'ingest:e2' }),
    ).toThrow(MergedPersonError);
  });
});
