import type pg from 'pg';

import { restorePerson, snapshotPerson, type PersonSnapshot, type PersonState } from '@vevee/domain';

export interface PartitionSnapshot {
  nextOffset: bigint;
  lastAt: number;
  persons: Map<string, PersonState>;
}

/** Decider snapshots in PostgreSQL, one row per ledger partition. */
export class SnapshotStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly topic: string,
  ) {}

  async load(partition: number): Promise<PartitionSnapshot | undefined> {
    const result = await this.pool.query<{ next_offset: string; last_at: string; state: Record<string, PersonSnapshot> }>(
      'SELECT next_offset, last_at, state FROM decider_snapshots WHERE topic = $1 AND partition = $2',
      [this.topic, partition],
    );
    const row = result.rows[0];
    if (row === undefined) return undefined;
    const persons = new Map<string, PersonState>();
    for (const [key, person] of Object.entries(row.state)) {
      persons.set(key, restorePerson(person));
    }
    return { nextOffset: BigInt(row.next_offset), lastAt: Number(row.last_at), persons };
  }

  /**
   * Serializes the persons now, so the caller may go on changing them once
   * this returns, and writes the snapshot in the background of the returned
   * promise. A snapshot never replaces one that reaches further into the log,
   * so a late write by a fenced former owner cannot move it back.
   */
  save(partition: number, nextOffset: bigint, lastAt: number, persons: Map<string, PersonState>): Promise<void> {
    const state: Record<string, PersonSnapshot> = {};
    for (const [key, person] of persons) {
      state[key] = snapshotPerson(person);
    }
    const json = JSON.stringify(state);
    return this.pool
      .query(
        `INSERT INTO decider_snapshots (topic, partition, next_offset, state, last_at, taken_at)
         VALUES ($1, $2, $3, $4::jsonb, $5, now())
         ON CONFLICT (topic, partition) DO UPDATE
           SET next_offset = EXCLUDED.next_offset, state = EXCLUDED.state, last_at = EXCLUDED.last_at, taken_at = EXCLUDED.taken_at
           WHERE decider_snapshots.next_offset < EXCLUDED.next_offset`,
        [this.topic, partition, nextOffset.toString(), json, lastAt],
      )
      .then(() => undefined);
  }
}
