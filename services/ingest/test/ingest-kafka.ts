import { writeFileSync } from 'node:fs';
import path from 'node:path';

import type { ClickHouseClient } from '@clickhouse/client';
import { Partitioners, type IHeaders, type Kafka, type KafkaMessage } from 'kafkajs';

import { CLICKHOUSE, quoteDatabase } from '@vevee/clickhouse';
import { personKey } from '@vevee/contracts';
import { groupId, ingestTopic } from '@vevee/kafka';
import { createLogger, loadConfig, type VeveeConfig } from '@vevee/platform';
import { createPool } from '@vevee/postgres';
import { startVevee, type RunningVevee } from '@vevee/standalone';
import { createTestEnvironment, testRunDir, waitFor } from '@vevee/testing';

import { INGEST_GROUP } from '../src/ingest-sink';

/** A raw ingest record: a key and a value exactly as a customer's pipeline would produce them. */
export interface RawRecord {
  key: string | null;
  value: string;
}

/** Returns a valid event record of a workspace, as produced to the ingest topic. */
export function eventRecord(workspaceId: string, personId: string, eventId: string, fields: Record<string, unknown> = {}): RawRecord {
  const value = { eventId, workspaceId, personId, type: 'page_view', timestamp: Date.now() - 60_000, properties: { path: `/${eventId}` }, ...fields };
  return { key: personKey(workspaceId, personId), value: JSON.stringify(value) };
}

export async function produceRecords(kafka: Kafka, config: VeveeConfig, records: RawRecord[]): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({ topic: ingestTopic(config), acks: -1, messages: records.map((record) => ({ key: record.key, value: record.value })) });
  } finally {
    await producer.disconnect();
  }
}

/** Waits until the sink's consumer group has committed every record of the ingest topic. */
export async function waitForSinkCaughtUp(kafka: Kafka, config: VeveeConfig, timeoutMs = 60_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(
      'the ingest sink to commit every record of the ingest topic',
      async () => {
        const topic = ingestTopic(config);
        const ends = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({ groupId: groupId(config, INGEST_GROUP), topics: [topic] });
        return ends.every((end) => {
          // A partition that never had a record has no committed offset (-1).
          const offset = committed?.partitions.find((each) => each.partition === end.partition)?.offset;
          return offset === end.high || (end.high === '0' && offset === '-1');
        });
      },
      { timeoutMs },
    );
  } finally {
    await admin.disconnect();
  }
}

/** One record of a topic, with its headers decoded as strings. */
export interface ReadRecord {
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([name, value]) => [name, String(value)]));
}

/** Reads every committed record of a topic from the start, once at least `expected` are there. */
export async function readTopic(kafka: Kafka, topic: string, expected: number): Promise<ReadRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await waitFor(`${expected} records in ${topic}`, async () => {
    const offsets = await admin.fetchTopicOffsets(topic);
    // Transaction markers take an offset each, so the end offsets bound the
    // record count from above; the consumer below counts records.
    return offsets.reduce((sum, offset) => sum + Number(offset.high), 0) >= expected && offsets;
  });
  await admin.disconnect();

  const records: ReadRecord[] = [];
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${Date.now()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const positions = new Map<number, bigint>();
  await consumer.run({
    eachMessage: async ({ partition, message }: { partition: number; message: KafkaMessage }) => {
      records.push({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers: decodeHeaders(message.headers) });
      positions.set(partition, BigInt(message.offset) + 1n);
    },
  });
  try {
    await waitFor(`the reader to reach the end of ${topic}`, () =>
      ends.every((end) => end.high === '0' || (positions.get(end.partition) ?? 0n) >= BigInt(end.high) - 1n) && records.length >= expected,
    );
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** Counts the rows of a workspace in the events table, with FINAL so copies count once. */
export async function countRows(client: ClickHouseClient, database: string, workspaceId: string, type?: string): Promise<number> {
  const result = await client.query({
    query: `SELECT count() AS count FROM ${quoteDatabase(database)}.events FINAL WHERE workspace_id = {workspaceId:String}${type === undefined ? '' : ' AND type = {type:String}'}`,
    query_params: { workspaceId, type },
    format: 'JSONEachRow',
  });
  const rows = await result.json<{ count: number | string }>();
  return Number(rows[0]?.count ?? 0);
}

/** Returns the event count of the `events_hourly` view, which the time series and analysts read. */
export async function countHourlyEvents(client: ClickHouseClient, database: string, workspaceId: string, filter: { type?: string; eventName?: string }): Promise<number> {
  const conditions = ['workspace_id = {workspaceId:String}'];
  if (filter.type !== undefined) conditions.push('type = {type:String}');
  if (filter.eventName !== undefined) conditions.push('event_name = {eventName:String}');
  const result = await client.query({
    query: `SELECT sum(events) AS events FROM ${quoteDatabase(database)}.events_hourly WHERE ${conditions.join(' AND ')}`,
    query_params: { workspaceId, ...filter },
    format: 'JSONEachRow',
  });
  const rows = await result.json<{ events: number | string }>();
  return Number(rows[0]?.events ?? 0);
}

export const TEST_API_KEY = 'vv_ingest_test_0123456789';
export const TEST_WORKSPACE = 'ws_ingest';

/** A standalone Vevee in this test process, on a namespace, database and chdb folder of the test's own. */
export interface IngestStack {
  config: VeveeConfig;
  vevee: RunningVevee;
  pool: ReturnType<typeof createPool>;
  /** The process's ClickHouse client; the embedded engine allows one per process. */
  clickhouse: ClickHouseClient;
  close(): Promise<void>;
}

/** Writes a seed file with one workspace, TEST_WORKSPACE with TEST_API_KEY, and returns its path. */
export function writeSeed(namespace: string, meters: Record<string, { day?: number; month?: number }>): string {
  const seedFile = path.join(testRunDir(), `${namespace}.seed.json`);
  writeFileSync(seedFile, JSON.stringify({ workspaces: [{ id: TEST_WORKSPACE, name: 'Ingest test', timeZone: 'UTC', apiKeys: [TEST_API_KEY], plan: { version: 1, meters } }] }));
  return seedFile;
}

/** Starts every service of the standalone process with one seeded workspace. */
export async function startIngestStack(meters: Record<string, { day?: number; month?: number }>, env: Record<string, string> = {}): Promise<IngestStack> {
  const environment = await createTestEnvironment(env);
  const seedFile = writeSeed(environment.config.namespace, meters);
  const config = loadConfig({ ...process.env, ...configEnv(environment.config), VEVEE_SEED_FILE: seedFile, ...env });
  const vevee = await startVevee(config, createLogger(config, 'ingest-test'));
  const pool = createPool(config.databaseUrl, 2);
  return {
    config,
    vevee,
    pool,
    clickhouse: vevee.app.get<ClickHouseClient>(CLICKHOUSE, { strict: false }),
    async close() {
      await pool.end();
      await vevee.close();
      await environment.cleanup();
    },
  };
}

/** Returns the variables that recreate a test environment's configuration in another process or a later start. */
export function configEnv(config: VeveeConfig): Record<string, string> {
  return {
    VEVEE_NAMESPACE: config.namespace,
    DATABASE_URL: config.databaseUrl,
    CLICKHOUSE_DATA_DIR: config.clickhouseDataDir,
    HTTP_PORT: '0',
    LEDGER_PARTITIONS: String(config.ledgerPartitions),
    INGEST_PARTITIONS: String(config.ingestPartitions),
    LOG_LEVEL: config.logLevel,
  };
}
