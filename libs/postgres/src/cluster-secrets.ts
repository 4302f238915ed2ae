import type pg from 'pg';

/** Returns the token that command replicas send each other, created by migration 0008. */
export async function loadReplicaToken(pool: pg.Pool): Promise<string> {
  const result = await pool.query<{ value: string }>(`SELECT value FROM cluster_secrets WHERE name = 'replica_token'`);
  const token = result.rows[0]?.value;
  if (token === undefined) {
    throw new Error('cluster_secrets has no replica_token row: run the PostgreSQL migrations (deploy/local/start.sh does)');
  }
  return token;
}
