import { readdirSync } from 'node:fs';

import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';

import { dropDatabase, uniqueName } from '@vevee/testing';

import { MIGRATIONS_DIR, MIGRATIONS_TABLE, databaseNameOf, ensureDatabase, migrate } from '../src';

/** Every migration in the folder, in the order they run. */
const MIGRATION_NAMES = readdirSync(MIGRATIONS_DIR)
  .filter((file) => file.endsWith('.sql'))
  .map((file) => file.replace(/\.sql$/, ''))
  .sort();

const SERVER_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TABLES = [
  'api_keys',
  'cluster_secrets',
  'credit_entries',
  'credit_grants',
  'decider_person_snapshots',
  'decider_snapshots',
  'meters',
  'person_merges',
  'plan_versions',
  'plans',
  'projector_offsets',
  'reservations',
  'subscription_history',
  'subscriptions',
  'usage_counters',
  'workspaces',
];

function urlOfNewDatabase(): string {
  const url = new URL(SERVER_URL);
  url.pathname = `/${uniqueName('vt_migrate')}`;
  return url.toString();
}

async function query<T extends pg.QueryResultRow>(databaseUrl: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

async function tableNames(databaseUrl: string): Promise<string[]> {
  const rows = await query<{ table_name: string }>(
    databaseUrl,
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> $1 ORDER BY table_name`,
    [MIGRATIONS_TABLE],
  );
  return rows.map((row) => row.table_name);
}

describe('migrate', () => {
  const created: string[] = [];

  afterEach(async () => {
    for (const databaseUrl of created.splice(0)) await dropDatabase(databaseUrl);
  });

  it('ensureDatabase › creates a missing database once', async () => {
    const databaseUrl = urlOfNewDatabase();
    created.push(databaseUrl);

    expect(await ensureDatabase(databaseUrl)).toBe(true);
    expect(await ensureDatabase(databaseUrl)).toBe(false);
    const rows = await query<{ datname: string }>(SERVER_URL, 'SELECT datname FROM pg_database WHERE datname = $1', [databaseNameOf(databaseUrl)]);
    expect(rows).toHaveLength(1);
  });

  it('ensureDatabase › rejects a URL without a database', async () => {
    await expect(ensureDatabase('postgres://postgres@127.0.0.1:5432/')).rejects.toThrow(/names no database/);
  });

  it('migrate › creates the schema, and a second run is a no-op', async () => {
    const databaseUrl = urlOfNewDatabase();
    created.push(databaseUrl);
    await ensureDatabase(databaseUrl);

    expect(await migrate(databaseUrl)).toEqual(MIGRATION_NAMES);
    expect(await tableNames(databaseUrl)).toEqual(TABLES);

    expect(await migrate(databaseUrl)).toEqual([]);
    const recorded = await query<{ name: string }>(databaseUrl, `SELECT name FROM ${MIGRATIONS_TABLE}`);
    expect(recorded.map((row) => row.name)).toEqual(MIGRATION_NAMES);
  });

  it('migrate › two concurrent runs apply each migration once', async () => {
    const databaseUrl = urlOfNewDatabase();
    created.push(databaseUrl);
    await ensureDatabase(databaseUrl);

    const runs = await Promise.all([migrate(databaseUrl), migrate(databaseUrl)]);

    expect(runs.flat()).toEqual(MIGRATION_NAMES);
    expect(await tableNames(databaseUrl)).toEqual(TABLES);
  });
});
