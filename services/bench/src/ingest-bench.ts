import 'reflect-metadata';

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';

import type { ClickHouseClient } from '@clickhouse/client';
import { Partitioners, type Message } from 'kafkajs';
import type { Registry } from 'prom-client';

import { CLICKHOUSE, quoteDatabase } from '@vevee/clickhouse';
import { personKey } from '@vevee/contracts';
import { ensureIngestTopics } from '@vevee/ingest';
import { createKafka, ingestTopic } from '@vevee/kafka';
import { METRICS, createLogger, loadConfig, type VeveeConfig } from '@vevee/platform';
import { startVevee } from '@vevee/standalone';
import { createDatabase, dropDatabase, waitFor } from '@vevee/testing';

/**
 * Measures the ingest sink on this machine, in two phases:
 *
 * 1. throughput: produces BENCH_INGEST_EVENTS events to a fresh ingest topic,
 *    then starts Vevee (the standalone module, in this process) and times how
 *    long the sink takes to make them all queryable in ClickHouse;
 * 2. lag: with the sink caught up, produces BENCH_INGEST_RATE events per
 *    second for BENCH_INGEST_LAG_S seconds, each stamped with its produce
 *    time, and reports the quantiles of `inserted_at - at` (insert time minus
 *    produce time) of those rows.
 *
 * Needs KAFKA_BROKERS (a broker the run may create topics on) and the
 * PostgreSQL server of DATABASE_URL. It creates a database, a namespace and a
 * chdb folder of its own and removes the database and folder at the end.
 */

const WORKSPACE = 'ws_bench';
const PERSONS = 5_000;
const PRODUCE_BATCH = 2_000;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet', 'llama-3-70b'];

function integerEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}="${raw}" is invalid: set a positive integer, or unset it for ${fallback}`);
  return value;
}

const settings = {
  events: integerEnv('BENCH_INGEST_EVENTS', 500_000),
  rate: integerEnv('BENCH_INGEST_RATE', 20_000),
  lagSeconds: integerEnv('BENCH_INGEST_LAG_S', 10),
  partitions: integerEnv('BENCH_INGEST_PARTITIONS', 12),
};

/** Builds one chat.completion event of about 270 bytes, as an app's pipeline would send it. */
function eventMessage(runId: string, index: number, timestamp: number): Message {
  const personId = `person-${index % PERSONS}`;
  const input = 200 + (index % 1_800);
  const output = 50 + (index % 450);
  const value = {
    eventId: `${runId}-${index}`,
    workspaceId: WORKSPACE,
    personId,
    type: 'chat.completion',
    timestamp,
    cost: (input * 0.15 + output * 0.6) / 1_000_000,
    currency: 'USD',
    properties: { model: MODELS[index % MODELS.length], inputTokens: input, outputTokens: output, latencyMs: 300 + (index % 2_000), region: 'eu-west' },
  };
  return { key: personKey(WORKSPACE, personId), value: JSON.stringify(value) };
}

async function countIngested(client: ClickHouseClient, config: VeveeConfig, prefix: string): Promise<number> {
  // No FINAL: the run produces each event once, and a count without it is
  // cheap enough to poll. The final check below uses FINAL.
  const result = await client.query({
    query: `SELECT count() AS count FROM ${quoteDatabase(config.clickhouseDatabase)}.events WHERE workspace_id = {workspaceId:String} AND startsWith(event_id, {prefix:String})`,
    query_params: { workspaceId: WORKSPACE, prefix },
    format: 'JSONEachRow',
  });
  return Number((await result.json<{ count: number | string }>())[0]?.count ?? 0);
}

async function queryOne<T>(client: ClickHouseClient, query: string, params: Record<string, unknown>): Promise<T> {
  const result = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return (await result.json<T>())[0]!;
}

async function main(): Promise<void> {
  const runId = `b${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const runDir = mkdtempSync(path.join(tmpdir(), 'vevee-ingest-bench-'));
  const databaseUrl = await createDatabase(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', `bench_ingest_${runId}`);
  const seedFile = path.join(runDir, 'seed.json');
  writeFileSync(seedFile, JSON.stringify({ workspaces: [{ id: WORKSPACE, name: 'Bench', timeZone: 'UTC', apiKeys: [`vv_bench_${runId}`], plan: { version: 1, meters: { tokens: { day: 1e12 } } } }] }));
  const config = loadConfig({
    ...process.env,
    VEVEE_NAMESPACE: `bench-${runId}`,
    DATABASE_URL: databaseUrl,
    CLICKHOUSE_DATA_DIR: path.join(runDir, 'chdb'),
    VEVEE_SEED_FILE: seedFile,
    HTTP_PORT: '0',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    INGEST_PARTITIONS: String(settings.partitions),
  });
  const logger = createLogger(config, 'ingest-bench');
  const kafka = createKafka(config, logger);
  let close: (() => Promise<void>) | undefined;

  try {
    await ensureIngestTopics(kafka, config);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();

    process.stderr.write(`producing ${settings.events} events to ${ingestTopic(config)} (${settings.partitions} partitions)\n`);
    const produceStart = performance.now();
    for (let start = 0; start < settings.events; start += PRODUCE_BATCH) {
      const messages: Message[] = [];
      for (let index = start; index < Math.min(start + PRODUCE_BATCH, settings.events); index += 1) {
        messages.push(eventMessage(`${runId}t`, index, Date.now()));
      }
      await producer.send({ topic: ingestTopic(config), acks: -1, messages });
    }
    const produceSeconds = (performance.now() - produceStart) / 1000;

    process.stderr.write('starting vevee and the ingest sink\n');
    const sinkStart = performance.now();
    const vevee = await startVevee(config, logger);
    close = () => vevee.close();
    const client = vevee.app.get<ClickHouseClient>(CLICKHOUSE, { strict: false });
    const startedSeconds = (performance.now() - sinkStart) / 1000;
    await waitFor(`${settings.events} ingested rows`, async () => (await countIngested(client, config, `${runId}t`)) >= settings.events || undefined, {
      timeoutMs: 600_000,
      intervalMs: 100,
    });
    const catchUpSeconds = (performance.now() - sinkStart) / 1000;
    const registry = vevee.app.get<Registry>(METRICS, { strict: false });
    const insertMetric = await registry.getSingleMetric('vevee_ingest_insert_duration_seconds')!.get();
    const insertSeconds = insertMetric.values.find((each) => (each as { metricName?: string }).metricName === 'vevee_ingest_insert_duration_seconds_sum')?.value ?? 0;
    const span = await queryOne<{ seconds: number; inserts: number | string }>(
      client,
      `SELECT (toUnixTimestamp64Milli(max(inserted_at)) - toUnixTimestamp64Milli(min(inserted_at))) / 1000 AS seconds, uniqExact(inserted_at) AS inserts
       FROM ${quoteDatabase(config.clickhouseDatabase)}.events WHERE workspace_id = {workspaceId:String} AND startsWith(event_id, {prefix:String})`,
      { workspaceId: WORKSPACE, prefix: `${runId}t` },
    );

    process.stderr.write(`lag phase: ${settings.rate} events/s for ${settings.lagSeconds} s\n`);
    const lagEvents = settings.rate * settings.lagSeconds;
    const tickMs = 50;
    const perTick = Math.max(1, Math.round((settings.rate * tickMs) / 1000));
    const lagStart = Date.now();
    let sent = 0;
    let behind = 0;
    while (sent < lagEvents) {
      const due = Math.min(lagEvents, Math.floor(((Date.now() - lagStart) / tickMs + 1) * perTick));
      if (due > sent) {
        const messages: Message[] = [];
        const now = Date.now();
        for (let index = sent; index < due; index += 1) messages.push(eventMessage(`${runId}l`, index, now));
        await producer.send({ topic: ingestTopic(config), acks: -1, messages });
        sent = due;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      if (Date.now() - lagStart > (settings.lagSeconds + 1) * 1000 && sent < lagEvents) behind += 1;
    }
    const produceLagSeconds = (Date.now() - lagStart) / 1000;
    await producer.disconnect();
    await waitFor(`${lagEvents} lag-phase rows`, async () => (await countIngested(client, config, `${runId}l`)) >= lagEvents || undefined, { timeoutMs: 300_000, intervalMs: 100 });
    const lag = await queryOne<{ p50: number; p95: number; p99: number; max: number }>(
      client,
      `SELECT quantileExact(0.5)(d) AS p50, quantileExact(0.95)(d) AS p95, quantileExact(0.99)(d) AS p99, max(d) AS max
       FROM (SELECT toUnixTimestamp64Milli(inserted_at) - toUnixTimestamp64Milli(at) AS d
             FROM ${quoteDatabase(config.clickhouseDatabase)}.events FINAL WHERE workspace_id = {workspaceId:String} AND startsWith(event_id, {prefix:String}))`,
      { workspaceId: WORKSPACE, prefix: `${runId}l` },
    );
    const total = await queryOne<{ count: number | string }>(
      client,
      `SELECT count() AS count FROM ${quoteDatabase(config.clickhouseDatabase)}.events FINAL WHERE workspace_id = {workspaceId:String}`,
      { workspaceId: WORKSPACE },
    );

    const lines = [
      `machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
      `topic: ${settings.partitions} partitions; events of about ${eventMessage(runId, 0, Date.now()).value!.length} bytes`,
      '',
      `throughput (${settings.events} events produced first, in ${produceSeconds.toFixed(1)} s)`,
      `  application start until the sink runs: ${startedSeconds.toFixed(2)} s`,
      `  start until every event is queryable:  ${catchUpSeconds.toFixed(2)} s = ${Math.round(settings.events / catchUpSeconds)} events/s`,
      `  first to last insert (${Number(span.inserts)} inserts): ${Number(span.seconds).toFixed(2)} s = ${Math.round(settings.events / Number(span.seconds))} events/s`,
      `  time inside ClickHouse inserts: ${insertSeconds.toFixed(2)} s`,
      '',
      `lag (${lagEvents} events at ${settings.rate}/s, produced in ${produceLagSeconds.toFixed(1)} s${behind > 0 ? ', the producer fell behind the rate' : ''})`,
      `  produce to insert: p50 ${lag.p50} ms, p95 ${lag.p95} ms, p99 ${lag.p99} ms, max ${lag.max} ms`,
      '',
      `rows in the workspace with FINAL: ${Number(total.count)} (expected ${settings.events + lagEvents})`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await close?.();
    await dropDatabase(databaseUrl).catch((error: unknown) => process.stderr.write(`dropping the database bench_ingest_${runId} failed: ${String(error)}\n`));
    rmSync(runDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`ingest benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
