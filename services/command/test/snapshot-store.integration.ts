import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { emptyPersonState, snapshotPerson, type PersonState } from '@vevee/domain';
import { createPool, migrate } from '@vevee/postgres';
import { createTestEnvironment, type TestEnvironment } from '@vevee/testing';

import { SnapshotStore } from '../src/decider/snapshot-store';

const TOPIC = 'vevee.ledger.v1';

/** Returns an empty person state, marked by its lastAt. */
function personAt(lastAt: number): PersonState {
  return { ...emptyPersonState(), lastAt };
}

describe('decider snapshots', () => {
  let environment: TestEnvironment;
  let pool: ReturnType<typeof createPool>;
  let store: SnapshotStore;

  beforeAll(async () => {
    environment = await createTestEnvironment();
    await migrate(environment.config.databaseUrl);
    pool = createPool(environment.config.databaseUrl, 2);
    store = new SnapshotStore(pool, TOPIC);
  });

  afterAll(async () => {
    await pool?.end();
    await environment?.cleanup();
  });

  async function lastAts(partition: number): Promise<Record<string, number>> {
    const snapshot = await store.load(partition);
    return Object.fromEntries([...(snapshot?.persons ?? new Map<string, PersonState>())].map(([key, state]) => [key, state.lastAt]));
  }

  it('writes only the changed persons', async () => {
    const persons = new Map([
      ['ws:a', personAt(1)],
      ['ws:b', personAt(2)],
    ]);
    expect(await store.save(0, 10n, 2, persons, ['ws:a', 'ws:b'])).toBe(true);

    // b changes; a's row from the first save stays as it was.
    persons.set('ws:b', personAt(3));
    persons.set('ws:a', personAt(99));
    expect(await store.save(0, 20n, 3, persons, ['ws:b'])).toBe(true);

    expect(await lastAts(0)).toEqual({ 'ws:a': 1, 'ws:b': 3 });
    expect(await store.load(0)).toMatchObject({ nextOffset: 20n, lastAt: 3, legacy: false });
  });

  it('rejects a save that reaches less far', async () => {
    const persons = new Map([['ws:c', personAt(5)]]);
    expect(await store.save(1, 30n, 5, persons, ['ws:c'])).toBe(true);

    persons.set('ws:c', personAt(4));
    expect(await store.save(1, 30n, 4, persons, ['ws:c'])).toBe(false);
    expect(await store.save(1, 25n, 4, persons, ['ws:c'])).toBe(false);

    expect(await lastAts(1)).toEqual({ 'ws:c': 5 });
    expect(await store.load(1)).toMatchObject({ nextOffset: 30n });
  });

  it('reads a snapshot of the older format', async () => {
    await pool.query(`INSERT INTO decider_snapshots (topic, partition, next_offset, state, last_at) VALUES ($1, 2, 40, $2::jsonb, 7)`, [
      TOPIC,
      JSON.stringify({ 'ws:d': snapshotPerson(personAt(6)), 'ws:e': snapshotPerson(personAt(7)) }),
    ]);
    expect(await store.load(2)).toMatchObject({ nextOffset: 40n, legacy: true });

    // The first newer save writes every person and clears the older copy.
    const persons = (await store.load(2))!.persons;
    persons.set('ws:e', personAt(8));
    expect(await store.save(2, 50n, 8, persons, persons.keys())).toBe(true);

    expect(await lastAts(2)).toEqual({ 'ws:d': 6, 'ws:e': 8 });
    expect(await store.load(2)).toMatchObject({ legacy: false });
    const header = await pool.query<{ state: object }>('SELECT state FROM decider_snapshots WHERE topic = $1 AND partition = 2', [TOPIC]);
    expect(header.rows[0]!.state).toEqual({});
  });
});
