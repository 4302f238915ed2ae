import type { Admin } from 'kafkajs';
import type pg from 'pg';

/**
 * Returns the next offset the projector will apply, by partition, for the
 * partitions it has seen. Every record below it is in the projection, so a
 * caller waits for the projection by comparing it with the topic's end offsets.
 */
export async function projectedOffsets(pool: pg.Pool, projector: string, topic: string): Promise<Map<number, bigint>> {
  const result = await pool.query<{ partition: number; next_offset: string }>(
    'SELECT partition, next_offset FROM projector_offsets WHERE projector = $1 AND topic = $2',
    [projector, topic],
  );
  return new Map(result.rows.map((row) => [row.partition, BigInt(row.next_offset)] as const));
}

/**
 * Returns true when the projector has applied every record that the topic
 * held when this was called: for each partition, the stored next offset has
 * reached the partition's end offset. Tests and the demo poll it.
 * NOTE: with transactional producers, a commit marker that kafkajs fetches on
 * its own never reaches the projector, so the stored offset can stay one below
 * the end until the next record arrives. The ledger's producers are not
 * transactional today.
 */
export async function isProjectionCaughtUp(pool: pg.Pool, admin: Admin, projector: string, topic: string): Promise<boolean> {
  const [ends, projected] = await Promise.all([admin.fetchTopicOffsets(topic), projectedOffsets(pool, projector, topic)]);
  return ends.every(({ partition, high }) => (projected.get(partition) ?? 0n) >= BigInt(high));
}
