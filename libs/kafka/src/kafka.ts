import { Kafka, Partitioners, logLevel, type Consumer, type EachBatchPayload, type LogEntry, type PartitionMetadata } from 'kafkajs';

import { CATALOG_TOPIC, INGEST_DLQ_TOPIC, INGEST_TOPIC, LEDGER_TOPIC, namespacedTopic } from '@vevee/contracts';
import type { Logger, VeveeConfig } from '@vevee/platform';

const PINO_LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * Drops Node's TimeoutNegativeWarning. kafkajs 2.x computes some request
 * timeouts from a time in the past and passes a negative delay to setTimeout.
 * Node runs such a timer after 1 ms and prints this warning on every start.
 * Other warnings still print.
 */
export function dropNegativeTimeoutWarnings(): void {
  if (negativeTimeoutWarningsDropped) return;
  negativeTimeoutWarningsDropped = true;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === 'TimeoutNegativeWarning' || (warning instanceof Error && warning.name === 'TimeoutNegativeWarning')) return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
}

let negativeTimeoutWarningsDropped = false;

/** Creates a kafkajs client that logs through the process logger. */
export function createKafka(config: Pick<VeveeConfig, 'kafkaBrokers'>, logger: Logger, clientId = 'vevee'): Kafka {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  dropNegativeTimeoutWarnings();
  return new Kafka({
    clientId,
    brokers: config.kafkaBrokers,
    logLevel: logLevel.WARN,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 5_000 },
    logCreator: () => (entry: LogEntry) => {
      const { message, ...fields } = entry.log;
      // kafkajs logs each CONCURRENT_TRANSACTIONS retry as an error, but it is
      // the normal wait for the previous transaction's markers, and it retries.
      const routine = /concurrent operation|CONCURRENT_TRANSACTIONS/i.test(`${message} ${String((fields as { error?: unknown }).error ?? '')}`);
      const level = routine ? 'debug' : (PINO_LEVELS[entry.level] ?? 'info');
      kafkaLogger[level]({ namespace: entry.namespace, ...fields }, message);
    },
  });
}

export function ledgerTopic(config: Pick<VeveeConfig, 'namespace'>): string {
  return namespacedTopic(config.namespace, LEDGER_TOPIC);
}

export function ingestTopic(config: Pick<VeveeConfig, 'namespace'>): string {
  return namespacedTopic(config.namespace, INGEST_TOPIC);
}

export function ingestDlqTopic(config: Pick<VeveeConfig, 'namespace'>): string {
  return namespacedTopic(config.namespace, INGEST_DLQ_TOPIC);
}

export function catalogTopic(config: Pick<VeveeConfig, 'namespace'>): string {
  return namespacedTopic(config.namespace, CATALOG_TOPIC);
}

/** Returns a consumer group id inside the configured namespace. */
export function groupId(config: Pick<VeveeConfig, 'namespace'>, name: string): string {
  return namespacedTopic(config.namespace, name);
}

const defaultPartitioner = Partitioners.DefaultPartitioner();
const partitionTables = new Map<number, PartitionMetadata[]>();

/**
 * Returns the partition of a record key: murmur2 of the key modulo the
 * partition count, the same as the Java client's default partitioner, so
 * producers in any language put a person's records in the same partition.
 */
export function partitionFor(key: string, partitionCount: number): number {
  let partitionMetadata = partitionTables.get(partitionCount);
  if (partitionMetadata === undefined) {
    partitionMetadata = Array.from({ length: partitionCount }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    partitionTables.set(partitionCount, partitionMetadata);
  }
  return defaultPartitioner({ topic: '', partitionMetadata, message: { key, value: null } });
}

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  configEntries?: { name: string; value: string }[];
  /** The environment variable that sets `numPartitions`, named in the error for an existing topic of another size. */
  partitionsVariable?: string;
}

/**
 * Creates the topics that are missing. An existing topic with another
 * partition count is an error, because keys would map to other partitions.
 */
export async function ensureTopics(kafka: Kafka, topics: TopicSpec[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((spec) => !existing.has(spec.topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((spec) => ({
          topic: spec.topic,
          numPartitions: spec.numPartitions,
          replicationFactor: -1,
          configEntries: spec.configEntries ?? [],
        })),
      });
    }
    const present = topics.filter((spec) => existing.has(spec.topic));
    if (present.length > 0) {
      const metadata = await admin.fetchTopicMetadata({ topics: present.map((spec) => spec.topic) });
      for (const topic of metadata.topics) {
        const spec = present.find((each) => each.topic === topic.name)!;
        const expected = spec.numPartitions;
        if (topic.partitions.length !== expected) {
          throw new Error(
            `topic ${topic.name} has ${topic.partitions.length} partitions but ${expected} are configured; set ${spec.partitionsVariable ?? 'LEDGER_PARTITIONS'}=${topic.partitions.length} or use a new namespace`,
          );
        }
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/** Creates the ledger topic with the configured partition count when missing. */
export async function ensureLedgerTopic(kafka: Kafka, config: Pick<VeveeConfig, 'namespace' | 'ledgerPartitions'>): Promise<void> {
  await ensureTopics(kafka, [
    {
      topic: ledgerTopic(config),
      numPartitions: config.ledgerPartitions,
      // The ledger is the source of truth: keep every event.
      configEntries: [{ name: 'retention.ms', value: '-1' }, { name: 'min.insync.replicas', value: '1' }],
    },
  ]);
}

/**
 * Creates the compacted catalog topic when missing. One partition keeps every
 * workspace's catalogs in one order and lets a reader reach its end with one fetch.
 */
export async function ensureCatalogTopic(kafka: Kafka, config: Pick<VeveeConfig, 'namespace'>): Promise<void> {
  await ensureTopics(kafka, [
    {
      topic: catalogTopic(config),
      numPartitions: 1,
      configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'min.insync.replicas', value: '1' }],
    },
  ]);
}

/**
 * Connects `consumer`, subscribes it to `topic` from the start, and runs
 * `eachBatch` with offsets under the handler's control. kafkajs resolves no
 * offset on its own, and commits the resolved ones only with `autoCommit`,
 * so a batch that fails is fetched again.
 */
export async function runBatchConsumer(
  consumer: Consumer,
  topic: string,
  eachBatch: (payload: EachBatchPayload) => Promise<void>,
  options: { autoCommit?: boolean; partitionsConsumedConcurrently?: number } = {},
): Promise<void> {
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ autoCommit: options.autoCommit ?? false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: options.partitionsConsumedConcurrently, eachBatch });
}
