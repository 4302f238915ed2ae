import type pg from 'pg';

/**
 * Runs `work` in one transaction on a pooled client: COMMIT when it returns,
 * ROLLBACK when it throws, and the error of `work` is rethrown. A client whose
 * ROLLBACK fails is destroyed instead of returned to the pool, because its
 * connection is in an unknown state.
 */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError as Error;
    }
    throw error;
  } finally {
    client.release(broken);
  }
}
