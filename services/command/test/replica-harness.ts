import { mkdirSync } from 'node:fs';
import path from 'node:path';

import type { Kafka } from 'kafkajs';

import { personKey } from '@vevee/contracts';
import { createKafka, ensureLedgerTopic, ledgerTopic, partitionFor } from '@vevee/kafka';
import { createLogger, type Logger, type VeveeConfig } from '@vevee/platform';
import { applySeed, createPool, migrate, type Seed } from '@vevee/postgres';
import { Vevee } from '@vevee/sdk';
import { createTestEnvironment, testRunDir, waitFor, type TestEnvironment } from '@vevee/testing';

import { ReplicaProcess } from './replica-process';

export const TEST_API_KEY = 'vv_test_replicas_0123456789abcdef';
export const TEST_WORKSPACE = 'ws_replicas';
export const TEST_METER = 'tokens';
export const LEDGER_PARTITIONS = 12;
/** The smallest session timeout the command service accepts, so a silent replica loses its partitions fast. */
export const SESSION_TIMEOUT_MS = 6_000;

export interface ClusterOptions {
  /** The day limit of the `tokens` meter. */
  dayLimit: number;
  /** Environment overrides for the configuration and every replica, for example KAFKA_BROKERS. */
  env?: Record<string, string>;
}

/**
 * A namespace, database and ledger topic of the test's own, with one seeded
 * workspace, on which command replicas run as child processes.
 */
export interface ReplicaCluster {
  config: VeveeConfig;
  logger: Logger;
  kafka: Kafka;
  pool: ReturnType<typeof createPool>;
  topic: string;
  /** The folder that contains every replica's log files. */
  logDir: string;
  replicas: ReplicaProcess[];
  /** Spawns a replica and waits until it serves its first assignment. */
  start(name: string, env?: Record<string, string>): Promise<ReplicaProcess>;
  /** Returns a client of one replica. The cluster closes it. */
  sdk(replica: ReplicaProcess, options?: { maxRetries?: number; timeoutMs?: number }): Vevee;
  /** Stops every replica (SIGKILL after a grace period), then drops the database. */
  close(): Promise<void>;
}

export const OWNED_PARTITIONS = 'vevee_decider_owned_partitions';

/** Waits until two replicas own and serve all partitions between them, each some, and returns their assignments. */
export async function waitForSplit(a: ReplicaProcess, b: ReplicaProcess): Promise<{ a: number[]; b: number[] }> {
  return waitFor(
    'both replicas to own partitions that add up to 12',
    async () => {
      const [ownedA, ownedB] = [await a.metric(OWNED_PARTITIONS), await b.metric(OWNED_PARTITIONS)];
      const split = { a: a.assignedPartitions(), b: b.assignedPartitions() };
      const union = new Set([...split.a, ...split.b]);
      const settled = ownedA > 0 && ownedB > 0 && ownedA + ownedB === LEDGER_PARTITIONS && union.size === LEDGER_PARTITIONS;
      const serving = sameSet(a.servingPartitions(), split.a) && sameSet(b.servingPartitions(), split.b);
      return settled && serving ? split : undefined;
    },
    { timeoutMs: 40_000 },
  );
}

function sameSet(left: number[], right: number[]): boolean {
  return left.length === right.length && left.every((value) => right.includes(value));
}

/** Returns `count` person ids whose partitions are in `partitions`. */
export function personsIn(partitions: number[], count: number, prefix: string): string[] {
  const persons: string[] = [];
  for (let index = 0; persons.length < count; index++) {
    const personId = `${prefix}-${index}`;
    if (partitions.includes(partitionOf(personId))) persons.push(personId);
  }
  return persons;
}

/** Returns the ledger partition of a person of the test workspace. */
export function partitionOf(personId: string): number {
  return partitionFor(personKey(TEST_WORKSPACE, personId), LEDGER_PARTITIONS);
}

function seedOf(dayLimit: number): Seed {
  return {
    workspaces: [
      {
        id: TEST_WORKSPACE,
        name: 'Replicas',
        timeZone: 'UTC',
        apiKeys: [TEST_API_KEY],
        plan: { version: 1, meters: { [TEST_METER]: { day: dayLimit } } },
      },
    ],
  };
}

/** Returns the environment of a replica process: the cluster's stores, a free HTTP port and info logs. */
function replicaEnv(config: VeveeConfig, extra: Record<string, string>): Record<string, string> {
  return {
    KAFKA_BROKERS: config.kafkaBrokers.join(','),
    DATABASE_URL: config.databaseUrl,
    VEVEE_NAMESPACE: config.namespace,
    LEDGER_PARTITIONS: String(LEDGER_PARTITIONS),
    HTTP_PORT: '0',
    LOG_LEVEL: 'info',
    COMMAND_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
    SNAPSHOT_INTERVAL_MS: '1000',
    EXPIRY_SWEEP_MS: '250',
    // Persons idle for 100 ms leave memory at the next snapshot, so the faults run with evictions and reads back.
    DECIDER_PERSON_IDLE_MS: '100',
    ...extra,
  };
}

/**
 * Creates a test environment with a migrated and seeded database and a
 * 12-partition ledger topic. Replicas are started with `start`.
 */
export async function createReplicaCluster(options: ClusterOptions): Promise<ReplicaCluster> {
  const env = { LEDGER_PARTITIONS: String(LEDGER_PARTITIONS), ...options.env };
  const environment: TestEnvironment = await createTestEnvironment(env);
  const { config } = environment;
  const logger = createLogger(config, 'vevee-replica-test');
  const logDir = path.join(testRunDir(), config.namespace);
  mkdirSync(logDir, { recursive: true });
  const pool = createPool(config.databaseUrl, 4);
  const kafka = createKafka(config, logger, 'vevee-replica-test');

  try {
    await migrate(config.databaseUrl, logger);
    await applySeed(pool, seedOf(options.dayLimit), logger);
    await ensureLedgerTopic(kafka, config);
  } catch (error) {
    await pool.end();
    await environment.cleanup();
    throw error;
  }

  const replicas: ReplicaProcess[] = [];
  const clients: Vevee[] = [];
  return {
    config,
    logger,
    kafka,
    pool,
    topic: ledgerTopic(config),
    logDir,
    replicas,
    async start(name, extra = {}) {
      const replica = ReplicaProcess.spawn(name, replicaEnv(config, { ...options.env, ...extra }), logDir);
      replicas.push(replica);
      await replica.ready();
      return replica;
    },
    sdk(replica, sdkOptions = {}) {
      if (replica.url === undefined) throw new Error(`replica ${replica.name} is not ready: await cluster.start() first`);
      const client = new Vevee({ apiKey: TEST_API_KEY, baseUrl: replica.url, maxRetries: sdkOptions.maxRetries ?? 6, timeoutMs: sdkOptions.timeoutMs });
      clients.push(client);
      return client;
    },
    async close() {
      for (const client of clients) client.close();
      await Promise.all(replicas.map((replica) => replica.stop()));
      await pool.end();
      await environment.cleanup();
    },
  };
}
