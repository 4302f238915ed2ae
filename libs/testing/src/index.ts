import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { loadConfig, type VeveeConfig } from '@vevee/platform';

/** Returns a name unique to this test, safe for topics, groups and databases. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Polls `check` until it returns a value other than undefined or false, and
 * returns that value. On timeout it throws with `description` and the last
 * value or error seen, so a failing test names what it waited for.
 */
export async function waitFor<T>(
  description: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const interval = options.intervalMs ?? 100;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${description}; last result: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

function withDatabase(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Creates an empty database on the server of `databaseUrl` and returns its URL. */
export async function createDatabase(databaseUrl: string, database: string): Promise<string> {
  const client = new pg.Client({ connectionString: withDatabase(databaseUrl, 'postgres') });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${database}"`);
  } finally {
    await client.end();
  }
  return withDatabase(databaseUrl, database);
}

/** Drops a database made by createDatabase, closing its other connections first. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const database = new URL(databaseUrl).pathname.slice(1);
  const client = new pg.Client({ connectionString: withDatabase(databaseUrl, 'postgres') });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** Returns the folder a test run keeps its data in: the run's folder from the test command, or a temp folder. */
export function testRunDir(): string {
  const dir = process.env.VEVEE_TEST_RUN_DIR ?? path.join(tmpdir(), 'vevee-tests');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface TestEnvironment {
  config: VeveeConfig;
  /** Drops the test's database. Topics stay on the run's throwaway broker. */
  cleanup(): Promise<void>;
}

/**
 * Builds a configuration with a namespace, database and ClickHouse data
 * directory of this test's own, on the run's broker and PostgreSQL server.
 */
export async function createTestEnvironment(overrides: Record<string, string> = {}): Promise<TestEnvironment> {
  const name = uniqueName('vt');
  const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const databaseUrl = await createDatabase(baseUrl, name);
  const config = loadConfig({
    ...process.env,
    VEVEE_NAMESPACE: name,
    DATABASE_URL: databaseUrl,
    CLICKHOUSE_DATA_DIR: path.join(testRunDir(), name, 'chdb'),
    HTTP_PORT: '0',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    LEDGER_PARTITIONS: '4',
    ...overrides,
  });
  return {
    config,
    cleanup: () => dropDatabase(databaseUrl),
  };
}
export * as ledgerEvents from './ledger-events';
export * from './day-boundary';
