import { fileURLToPath } from 'node:url';

import { runner } from 'node-pg-migrate';
import pg from 'pg';

import type { Logger } from '@vevee/platform';

/** The folder of numbered SQL migrations, `NNNN_name.sql`, each with `-- Up Migration` and `-- Down Migration` parts. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

/** The table where node-pg-migrate records the migrations it has run. */
export const MIGRATIONS_TABLE = 'pgmigrations';

const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';

/** Returns the database name in a PostgreSQL URL, or throws when the URL names none. */
export function databaseNameOf(databaseUrl: string): string {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  if (name === '') {
    throw new Error('DATABASE_URL names no database: add one to the path, like postgres://127.0.0.1:5432/vevee');
  }
  return name;
}

function maintenanceUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.pathname = '/postgres';
  return url.toString();
}

/**
 * Creates the database named in `databaseUrl` when it is missing, through the
 * `postgres` database of the same server. Safe to run from several processes
 * at once: the loser of a concurrent CREATE DATABASE treats the database as present.
 * Returns true when this call created it.
 */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const database = databaseNameOf(databaseUrl);
  const client = new pg.Client({ connectionString: maintenanceUrl(databaseUrl) });
  await client.connect();
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (existing.rowCount !== 0) return false;
    try {
      // CREATE DATABASE takes no parameters, so the name is quoted as an identifier.
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
      return true;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === DUPLICATE_DATABASE || code === UNIQUE_VIOLATION) return false;
      throw error;
    }
  } finally {
    await client.end();
  }
}

/** Sends node-pg-migrate's progress lines to the process logger at debug level. */
function migrationLogger(logger: Logger | undefined) {
  const write = (level: 'debug' | 'warn' | 'error') => (...parts: unknown[]) => {
    logger?.[level]({ detail: parts.map(String).join(' ') }, 'node-pg-migrate output');
  };
  return { debug: write('debug'), info: write('debug'), warn: write('warn'), error: write('error') };
}

/**
 * Applies every pending migration in MIGRATIONS_DIR, all in one transaction,
 * and returns the names of the migrations it ran (empty when the schema is
 * current). Concurrent callers are safe: node-pg-migrate holds a PostgreSQL
 * advisory lock, scoped to this database, for the whole run, and a second
 * process waits for it and then finds nothing left to do.
 */
export async function migrate(databaseUrl: string, logger?: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction: 'up',
    checkOrder: true,
    singleTransaction: true,
    advisoryLockMode: 'wait',
    logger: migrationLogger(logger),
  });
  const names = applied.map((migration) => migration.name);
  logger?.info({ migrations: names }, names.length === 0 ? 'postgres schema is current' : 'postgres migrations applied');
  return names;
}
