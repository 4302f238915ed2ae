import { describe, expect, it } from 'vitest';

import { advanceTo, applyEvent, emptyPersonState, restorePerson, snapshotPerson } from '../src';
import { Person, utc } from './plan-harness';
import { monthAfter as after, monthBefore as before, replayCatalog as catalog, runStep as run, monthOfLife } from './scenarios';

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
    const { person } = monthOfLife();
    const series = person.state.grantKeys.get('monthly')!;
    const promo = person.state.grantKeys.get('promo')!;
    const usd = person.state.grantKeys.get('usd')!;

    const may = `${series}@${utc('2026-05-01T00:00:00Z')}`;
    const june = `${series}@${utc('2026-06-01T00:00:00Z')}`;
    const july = `${series}@${utc('2026-07-01T00:00:00Z')}`;

    // The promo paid 150 + 450 in May (credit also pays for the commit above its hold) and 60 + 200 in June,
    // so 140 of its 1000 expired on June 20.
    // Each renewal of 100 left 100 unused: 50 rolled over and 50 expired, and May's rollover expired unused.
    expect(person.balances()).toEqual({ [series]: 0, [usd]: 7.5, [`${june}:rollover`]: 50, [july]: 100 });
    expect(person.events.filter((event) => event.type === 'CreditsExpired').map((event) => [event.grantId, event.amount, event.expiredAt])).toEqual([
      [may, 50, utc('2026-06-01T00:00:00Z')],
      [promo, 140, utc('2026-06-20T00:00:00Z')],
      [june, 50, utc('2026-07-01T00:00:00Z')],
      [`${may}:rollover`, 50, utc('2026-07-01T00:00:00Z')],
    ]);
    expect(person.events.filter((event) => event.type === 'CreditsBurned').map((event) => [event.grantId, event.amount])).toEqual([
      [promo, 150],
      [usd, 1.5],
      [promo, 450],
      [promo, 60],
      [promo, 200],
      [usd, 1],
    ]);
  });
});
