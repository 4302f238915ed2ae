/**
 * The reserve benchmark: Vevee through its SDK against three baselines (a naive
 * check-then-update and a conditional row-lock update in PostgreSQL, and
 * rate-limiter-flexible on Redis), on a workload from the Azure LLM inference trace.
 * Prints one Markdown report on stdout and progress on stderr.
 *
 * Run it with `bash deploy/local/bench.sh`, which starts a throwaway Kafka broker and
 * sets BENCH_RUN_DIR, KAFKA_BROKERS, KAFKA_VERSION and KAFKA_BENCH_PID. docs/benchmarks.md
 * lists the optional BENCH_* settings.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { Redis } from 'ioredis';
import pg from 'pg';

import { loadTrace } from '@vevee/demo';
import { createDatabase, dropDatabase } from '@vevee/testing';

import { benchPostgres, benchRedis } from './bench-baselines';
import { benchVevee } from './bench-vevee';
import { machineBusyPercent } from './cpu';
import { machineInfo } from './machine';
import { NaivePostgresBaseline, RowLockPostgresBaseline } from './postgres-baselines';
import { RedisLimiterBaseline } from './redis-baseline';
import type { PhaseContext } from './phases';
import { emptyDiagnostics, formatReport, type MaxRunDiagnostics } from './report';
import type { PhaseResult } from './results';
import { BenchSettingsError, readSettings, type BenchSettings } from './settings';
import { VeveeSystem } from './vevee-system';

const cleanups: (() => Promise<void>)[] = [];

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Runs the cleanup steps, newest first, once; a failed step is reported and the rest still run. */
async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    const step = cleanups.pop()!;
    try {
      await step();
    } catch (error) {
      progress(`cleanup step failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function serverVersions(settings: BenchSettings): Promise<{ postgres: string; redis: string }> {
  const client = new pg.Client({ connectionString: settings.postgresUrl });
  await client.connect();
  let postgres: string;
  try {
    const result = await client.query<{ version: string }>('SELECT version() AS version');
    postgres = result.rows[0]!.version.split(' ').slice(0, 2).join(' ');
  } finally {
    await client.end();
  }
  const redis = new Redis(settings.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const info = await redis.info('server');
    return { postgres, redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown' };
  } finally {
    redis.disconnect();
  }
}

async function run(settings: BenchSettings): Promise<string> {
  const startedAt = new Date();
  const machine = machineInfo();
  const busyBefore = await machineBusyPercent(3_000);
  const runId = randomBytes(4).toString('hex');
  const versions = { kafka: settings.kafkaVersion, ...(await serverVersions(settings)) };
  // One socket per request in flight at most; later requests queue in the agent, and their latency counts the wait.
  http.globalAgent.maxSockets = settings.maxSockets;

  const context: PhaseContext = {
    settings,
    trace: await loadTrace(),
    cpuGroups: [{ label: 'bench', pid: process.pid }, ...(settings.kafkaPid === undefined ? [] : [{ label: 'Kafka', pid: settings.kafkaPid }])],
    progress,
  };
  const onCleanup = (step: () => Promise<void>): void => {
    cleanups.push(step);
  };
  const results: PhaseResult[] = [];
  let diagnostics: MaxRunDiagnostics = emptyDiagnostics();

  if (settings.systems.includes('vevee')) {
    // The standalone process creates this database at start.
    const veveeDatabase = databaseUrl(settings.postgresUrl, `vevee_bench_${runId}`);
    onCleanup(() => dropDatabase(veveeDatabase));
    const logs = path.join(settings.root, '.vevee', 'logs');
    const vevee = await benchVevee({
      context,
      databaseUrl: veveeDatabase,
      runId,
      profileCopy: path.join(logs, 'bench-vevee-max.cpuprofile'),
      logCopy: path.join(logs, 'bench-vevee.log'),
      onCleanup,
    });
    results.push(...vevee.results);
    diagnostics = vevee.diagnostics;
  }

  const naive = settings.systems.includes('pg-naive');
  const rowLock = settings.systems.includes('pg-row-lock');
  if (naive || rowLock) {
    const baselineDatabase = await createDatabase(settings.postgresUrl, `bench_baselines_${runId}`);
    onCleanup(() => dropDatabase(baselineDatabase));
    results.push(...(await benchPostgres({ context, databaseUrl: baselineDatabase, naive, rowLock, onCleanup })));
  }

  if (settings.systems.includes('redis')) {
    const redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: 1 });
    onCleanup(async () => {
      await redis.quit();
    });
    results.push(...(await benchRedis({ context, redis, keyPrefix: `vevee-bench-${runId}` })));
  }

  return formatReport(
    { startedAt, machine, busyBefore, versions, settings, results, diagnostics, loadAverageAtEnd: os.loadavg() },
    { vevee: VeveeSystem.label, naive: NaivePostgresBaseline.label, rowLock: RowLockPostgresBaseline.label, redis: RedisLimiterBaseline.label },
  );
}

async function main(): Promise<void> {
  let settings: BenchSettings;
  try {
    settings = readSettings();
  } catch (error) {
    if (!(error instanceof BenchSettingsError)) throw error;
    progress(error.message);
    process.exit(2);
  }
  for (const [signal, status] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      progress(`${signal} received; cleaning up`);
      void cleanUp().finally(() => process.exit(status));
    });
  }

  let report: string;
  try {
    report = await run(settings);
  } finally {
    await cleanUp();
  }
  process.stdout.write(report);
}

main().catch((error: unknown) => {
  progress(`the benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
