import { writeFileSync } from 'node:fs';
import path from 'node:path';

import type { ClickHouseClient } from '@clickhouse/client';

import { CLICKHOUSE } from '@vevee/clickhouse';
import { createKafka, ledgerTopic } from '@vevee/kafka';
import { createLogger, loadConfig, type VeveeConfig } from '@vevee/platform';
import { createPool } from '@vevee/postgres';
import { Vevee } from '@vevee/sdk';
import { createTestEnvironment, testRunDir } from '@vevee/testing';

import { startVevee, type RunningVevee } from '../src/start';

export const TEST_API_KEY = 'vv_test_0123456789abcdef';
export const TEST_WORKSPACE = 'ws_test';

export interface TestStack {
  config: VeveeConfig;
  vevee: RunningVevee;
  sdk: Vevee;
  pool: ReturnType<typeof createPool>;
  /** The process's ClickHouse client; the embedded engine allows only one. */
  clickhouse: ClickHouseClient;
  /** Sum of the ledger's end offsets: grows by one per appended event. */
  ledgerEnd(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Starts every service in this test process on a namespace, database and
 * ClickHouse directory of the test's own, with one seeded workspace.
 */
export async function startTestStack(meters: Record<string, { day?: number; month?: number }>, env: Record<string, string> = {}): Promise<TestStack> {
  return startTestStackWith({ plan: { version: 1, meters } }, env);
}

/**
 * Starts the stack like startTestStack, with the seed workspace's plan fields
 * given as they appear in a seed file: `plan`, or `meters`, `plans` and `defaultPlanId`.
 */
export async function startTestStackWith(workspace: Record<string, unknown>, env: Record<string, string> = {}): Promise<TestStack> {
  const environment = await createTestEnvironment(env);
  const seedFile = path.join(testRunDir(), `${environment.config.namespace}.seed.json`);
  writeFileSync(
    seedFile,
    JSON.stringify({
      workspaces: [{ id: TEST_WORKSPACE, name: 'Test', timeZone: 'UTC', apiKeys: [TEST_API_KEY], ...workspace }],
    }),
  );
  const config = loadConfig({ ...process.env, ...configEnv(environment.config), VEVEE_SEED_FILE: seedFile, ...env });
  const logger = createLogger(config, 'vevee-test');
  const vevee = await startVevee(config, logger);
  const sdk = new Vevee({ apiKey: TEST_API_KEY, baseUrl: vevee.url, maxRetries: 10 });
  const pool = createPool(config.databaseUrl, 2);
  const kafka = createKafka(config, logger);

  return {
    config,
    vevee,
    sdk,
    pool,
    clickhouse: vevee.app.get<ClickHouseClient>(CLICKHOUSE, { strict: false }),
    async ledgerEnd() {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchTopicOffsets(ledgerTopic(config));
        return offsets.reduce((sum, offset) => sum + Number(offset.high), 0);
      } finally {
        await admin.disconnect();
      }
    },
    async close() {
      sdk.close();
      await pool.end();
      await vevee.close();
      await environment.cleanup();
    },
  };
}

function configEnv(config: VeveeConfig): Record<string, string> {
  return {
    VEVEE_NAMESPACE: config.namespace,
    DATABASE_URL: config.databaseUrl,
    CLICKHOUSE_DATA_DIR: config.clickhouseDataDir,
    HTTP_PORT: '0',
    LEDGER_PARTITIONS: String(config.ledgerPartitions),
    LOG_LEVEL: config.logLevel,
  };
}

/** Sends a raw Connect JSON request, for inputs the typed SDK cannot express. */
export async function postJson(baseUrl: string, method: string, body: string, apiKey: string | null = TEST_API_KEY): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey !== null) headers.authorization = `Bearer ${apiKey}`;
  const response = await fetch(`${baseUrl}/vevee.v1.QuotaService/${method}`, { method: 'POST', headers, body });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

