import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLICKHOUSE } from '@vevee/clickhouse';
import { createKafka, groupId, ingestTopic } from '@vevee/kafka';
import { createLogger, loadConfig, type VeveeConfig } from '@vevee/platform';
import { createPool } from '@vevee/postgres';
import { startVevee, type RunningVevee } from '@vevee/standalone';
import { createTestEnvironment, testRunDir, waitFor, type TestEnvironment } from '@vevee/testing';

import { INGEST_GROUP } from '../src/ingest-sink';
import { ensureIngestTopics } from '../src/ingest-topics';
import { TEST_WORKSPACE, configEnv, countHourlyEvents, countRows, eventRecord, produceRecords, waitForSinkCaughtUp, writeSeed, type RawRecord } from './ingest-kafka';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PLAIN_EVENTS = 60_000;
const PERSONS = 200;
/** Each of these persons gets 5 metered events of 10 tokens. */
const METERED_PERSONS = 20;

let environment: TestEnvironment;
let config: VeveeConfig;
let child: ChildProcess | undefined;
let vevee: RunningVevee | undefined;

function childEnv(): Record<string, string> {
  // The child logs at info, because its "vevee started" line carries its URL.
  return { ...(process.env as Record<string, string>), ...configEnv(config), VEVEE_SEED_FILE: config.seedFile!, LOG_LEVEL: 'info' };
}

/** Starts the standalone process as a child and returns its base URL from its "vevee started" log line. */
async function spawnVevee(): Promise<string> {
  const log = createWriteStream(path.join(testRunDir(), `${config.namespace}.crash-child.log`));
  child = spawn(process.execPath, ['--import', 'tsx', 'services/standalone/src/main.ts'], { cwd: REPO_ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.pipe(log);
  let url: string | undefined;
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    log.write(chunk);
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.includes('"vevee started"')) url = (JSON.parse(line) as { url: string }).url;
    }
  });
  return waitFor('the child process to log "vevee started"', () => url, { timeoutMs: 120_000 });
}

async function insertedByChild(url: string): Promise<number> {
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const match = /^vevee_ingest_records_total\{outcome="inserted"\} (\d+)/m.exec(metrics);
  return Number(match?.[1] ?? 0);
}

async function committedRecords(): Promise<number> {
  const admin = createKafka(config, createLogger(config, 'crash-test')).admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId: groupId(config, INGEST_GROUP), topics: [ingestTopic(config)] });
    return (offsets?.partitions ?? []).reduce((sum, each) => sum + Math.max(0, Number(each.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  environment = await createTestEnvironment({ INGEST_PARTITIONS: '4' });
  const seedFile = writeSeed(environment.config.namespace, { tokens: { day: 1_000_000 } });
  config = loadConfig({ ...process.env, ...configEnv(environment.config), VEVEE_SEED_FILE: seedFile });
});


afterAll(async () => {
  child?.kill('SIGKILL');
  await vevee?.close();
  await environment?.cleanup();
});

describe('ingest sink crash', () => {
  it('loses and doubles nothing after a kill mid-stream', async () => {
    const logger = createLogger(config, 'crash-test');
    const kafka = createKafka(config, logger);
    await ensureIngestTopics(kafka, config);

    const records: RawRecord[] = [];
    for (let index = 0; index < PLAIN_EVENTS; index += 1) {
      records.push(eventRecord(TEST_WORKSPACE, `person-${index % PERSONS}`, `plain-${index}`));
    }
    for (let person = 0; person < METERED_PERSONS; person += 1) {
      for (let index = 0; index < 5; index += 1) {
        records.push(eventRecord(TEST_WORKSPACE, `metered-${person}`, `metered-${person}-${index}`, { type: 'chat.completion', meter: 'tokens', quantity: 10 }));
      }
    }
    for (let start = 0; start < records.length; start += 5_000) {
      await produceRecords(kafka, config, records.slice(start, start + 5_000));
    }

    const url = await spawnVevee();
    await waitFor('the child to insert its first ingested rows', async () => (await insertedByChild(url)) > 0, { timeoutMs: 120_000 });
    child!.kill('SIGKILL');
    await once(child!, 'exit');
    child = undefined;
    const committedAtKill = await committedRecords();
    console.info(`child killed with ${committedAtKill} of ${records.length} records committed`);

    vevee = await startVevee(config, logger);
    await waitForSinkCaughtUp(kafka, config, 180_000);
    const clickhouse = vevee.app.get<ClickHouseClient>(CLICKHOUSE, { strict: false });

    expect(await countRows(clickhouse, config.clickhouseDatabase, TEST_WORKSPACE, 'Ingested')).toBe(PLAIN_EVENTS);
    expect(await countHourlyEvents(clickhouse, config.clickhouseDatabase, TEST_WORKSPACE, { type: 'Ingested' })).toBe(PLAIN_EVENTS);
    const pool = createPool(config.databaseUrl, 1);
    try {
      const used = await waitFor('usage_counters to reach 1000 tokens in total', async () => {
        const result = await pool.query<{ used: string }>(
          `SELECT coalesce(sum(used), 0) AS used FROM usage_counters WHERE workspace_id = $1 AND meter = 'tokens' AND period = 'day' AND window_end > now()`,
          [TEST_WORKSPACE],
        );
        const value = Number(result.rows[0]!.used);
        return value >= METERED_PERSONS * 5 * 10 && value;
      });
      expect(used).toBe(METERED_PERSONS * 5 * 10);
    } finally {
      await pool.end();
    }
    expect(await countRows(clickhouse, config.clickhouseDatabase, TEST_WORKSPACE, 'UsageTracked')).toBe(METERED_PERSONS * 5);
    expect(await countHourlyEvents(clickhouse, config.clickhouseDatabase, TEST_WORKSPACE, { type: 'UsageTracked' })).toBe(METERED_PERSONS * 5);
  });
});
