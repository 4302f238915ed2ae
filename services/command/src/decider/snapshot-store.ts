import type pg from 'pg';

import { restorePerson, snapshotPerson, type PersonSnapshot, type PersonState } from '@vevee/domain';

export interface PartitionSnapshot {
  nextOffset: bigint;
  lastAt: number;
  persons: Map<string, PersonState>;
  /**
   * True when some persons came from a snapshot written before persons had
   * rows of their own. The next save must then write every person, because
   * it clears that older copy.
   */
  legacy: boolean;
}

/** How many person rows one INSERT writes. */
const ROWS_PER_INSERT = 500;

/**
 * Decider snapshots in PostgreSQL: a row per ledger partition with the offset
 * it reaches (decider_snapshots), and a row per person (decider_person_snapshots).
 * A save writes only the persons that changed since the previous save, so its
 * cost follows the traffic, not the number of persons the partition has seen.
 */
export class SnapshotStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly topic: string,
  ) {}

  async load(partition: number): Promise<PartitionSnapshot | undefined> {
    const header = await this.pool.query<{ next_offset: string; last_at: string; state: Record<string, PersonSnapshot> }>(
      'SELECT next_offset, last_at, state FROM decider_snapshots WHERE topic = $1 AND partition = $2',
      [this.topic, partition],
    );
    const row = header.rows[0];
    if (row === undefined) return undefined;

    const persons = new Map<string, PersonState>();
    for (const [key, person] of Object.entries(row.state)) {
      persons.set(key, restorePerson(person));
    }
    const legacy = persons.size > 0;
    const rows = await this.pool.query<{ person_key: string; state: PersonSnapshot }>(
      'SELECT person_key, state FROM decider_person_snapshots WHERE topic = $1 AND partition = $2',
      [this.topic, partition],
    );
    for (const person of rows.rows) {
      persons.set(person.person_key, restorePerson(person.state));
    }
    return { nextOffset: BigInt(row.next_offset), lastAt: Number(row.last_at), persons, legacy };
  }

  /** Returns one person's state from the partition's snapshot, or undefined when it has none. */
  async loadPerson(partition: number, key: string): Promise<PersonState | undefined> {
    const result = await this.pool.query<{ state: PersonSnapshot }>(
      'SELECT state FROM decider_person_snapshots WHERE topic = $1 AND partition = $2 AND person_key = $3',
      [this.topic, partition, key],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : restorePerson(row.state);
  }

  /**
   * Serializes the persons of `changed` now, so the caller may go on changing
   * them once this returns, and writes them with the partition's row in one
   * transaction in the background of the returned promise. Resolves to false,
   * writing nothing, when the stored snapshot reaches as far into the log or
   * further, so a late write by a fenced former owner cannot move it back.
   */
  save(partition: number, nextOffset: bigint, lastAt: number, persons: Map<string, PersonState>, changed: Iterable<string>): Promise<boolean> {
    const keys: string[] = [];
    const states: string[] = [];
    for (const key of changed) {
      const person = persons.get(key);
      if (person === undefined) continue;
      keys.push(key);
      states.push(JSON.stringify(snapshotPerson(person)));
    }
    return this.write(partition, nextOffset, lastAt, keys, states);
  }

  private async write(partition: number, nextOffset: bigint, lastAt: number, keys: string[], states: string[]): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // The partition's row is the lock: a concurrent save of the same
      // partition waits here, then finds the offset it must exceed.
      const header = await client.query(
        `INSERT INTO decider_snapshots (topic, partition, next_offset, state, last_at, taken_at)
         VALUES ($1, $2, $3, '{}'::jsonb, $4, now())
         ON CONFLICT (topic, partition) DO UPDATE
           SET next_offset = EXCLUDED.next_offset, state = EXCLUDED.state, last_at = EXCLUDED.last_at, taken_at = EXCLUDED.taken_at
           WHERE decider_snapshots.next_offset < EXCLUDED.next_offset`,
        [this.topic, partition, nextOffset.toString(), lastAt],
      );
      if (header.rowCount === 0) {
        await client.query('ROLLBACK');
        return false;
      }
      for (let start = 0; start < keys.length; start += ROWS_PER_INSERT) {
        await client.query(
          `INSERT INTO decider_person_snapshots (topic, partition, person_key, state, next_offset)
           SELECT $1, $2, person.key, person.state, $5
           FROM unnest($3::text[], $4::jsonb[]) AS person (key, state)
           ON CONFLICT (topic, partition, person_key) DO UPDATE SET state = EXCLUDED.state, next_offset = EXCLUDED.next_offset`,
          [this.topic, partition, keys.slice(start, start + ROWS_PER_INSERT), states.slice(start, start + ROWS_PER_INSERT), nextOffset.toString()],
        );
      }
      await client.query('COMMIT');
      return true;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
