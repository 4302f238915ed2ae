/**
 * Measures the two ways a new owner of a ledger partition can fence the previous owner,
 * on a real broker, and prints one table per question:
 *
 *   (A) Kafka transactions with one stable transactional id per ledger partition.
 *   (B) A PartitionClaimed{generation} marker appended through a plain idempotent
 *       producer and read back before serving.
 *
 * Run: KAFKA_BROKERS=127.0.0.1:19092 npx tsx services/bench/src/fencing.ts
 *
 * Environment:
 *   KAFKA_BROKERS    comma-separated host:port list (required)
 *   BENCH_SECONDS    measured seconds per append run, default 3 (a 0.5 s warm-up comes first)
 *   BENCH_SECTIONS   comma-separated subset of append,fencing,claim,startup, default all
 *   LOG_LEVEL        level of the kafkajs log lines, default fatal. The fencing section
 *                    provokes errors, and kafkajs logs those at level error.
 *
 * Every run creates its own topics (12 partitions each) and deletes them at the end.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import { Partitioners, type Consumer, type EachBatchPayload, type Kafka, type Message, type Producer } from 'kafkajs';

import { createKafka } from '@vevee/kafka';
import { createLogger, type VeveeConfig } from '@vevee/platform';

const PARTITIONS = 12;
const BATCH_SIZES = [1, 10, 100, 1000] as const;
const RECORD_BYTES = 400;
const WARMUP_MS = 500;
const WAIT_TIMEOUT_MS = 60_000;

/** Producer retry settings of the command service's ledger writers (services/command/src/decider). */
const PRODUCER_RETRY = { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 };
/**
 * Producer retry settings with a short first backoff. kafkajs retries the whole send when
 * AddPartitionsToTxn returns CONCURRENT_TRANSACTIONS, which it does when the previous
 * transaction's commit markers are still being written. From 1% to nearly all
 * back-to-back transactions waited for this backoff in runs of this script. With ten
 * retries the backoffs add up to about 6.5 s, against about 3.1 s for PRODUCER_RETRY
 * (estimates: kafkajs doubles each backoff up to maxRetryTime, with ±20% jitter).
 */
const FAST_PRODUCER_RETRY = { retries: 10, initialRetryTime: 10, maxRetryTime: 2_000 };
/** Transaction timeout of the command service's partition writer, in ms. */
const TRANSACTION_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------
// Settings and output
// ---------------------------------------------------------------------------

interface BenchSettings {
  brokers: string[];
  measuredMs: number;
  sections: Set<string>;
  logLevel: VeveeConfig['logLevel'];
}

const SECTION_NAMES = ['append', 'fencing', 'claim', 'startup'];
const LOG_LEVELS: readonly VeveeConfig['logLevel'][] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function readSettings(): BenchSettings {
  const brokers = (process.env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker !== '');
  if (brokers.length === 0) {
    throw new Error('KAFKA_BROKERS is missing: set a comma-separated host:port list such as 127.0.0.1:19092');
  }

  const seconds = Number(process.env.BENCH_SECONDS ?? '3');
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new Error(`BENCH_SECONDS="${process.env.BENCH_SECONDS}" is invalid: set a positive number of seconds`);
  }

  const sections = new Set((process.env.BENCH_SECTIONS ?? SECTION_NAMES.join(',')).split(',').map((name) => name.trim()));
  for (const name of sections) {
    if (!SECTION_NAMES.includes(name)) {
      throw new Error(`BENCH_SECTIONS contains "${name}": use a comma-separated subset of ${SECTION_NAMES.join(',')}`);
    }
  }

  const logLevel = process.env.LOG_LEVEL ?? 'fatal';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new Error(`LOG_LEVEL="${logLevel}" is invalid: set one of ${LOG_LEVELS.join(', ')}`);
  }

  return { brokers, measuredMs: seconds * 1000, sections, logLevel: logLevel as VeveeConfig['logLevel'] };
}

function printLine(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Writes a progress line on stderr, so stdout contains only the report. */
function printProgress(line: string): void {
  process.stderr.write(`${line}\n`);
}

function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ');
  printLine();
  printLine(`### ${title}`);
  printLine();
  printLine(line(header));
  printLine(widths.map((width) => '-'.repeat(width)).join('-|-'));
  for (const row of cells.slice(1)) printLine(line(row));
}

function ms(value: number): string {
  return value.toFixed(value < 10 ? 2 : 1);
}

function percentile(sortedValues: number[], fraction: number): number {
  if (sortedValues.length === 0) return Number.NaN;
  const index = Math.min(sortedValues.length - 1, Math.max(0, Math.ceil(fraction * sortedValues.length) - 1));
  return sortedValues[index]!;
}

/** Returns the error's class, Kafka error type and code, retriable flag and message, then those of its causes. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth += 1) {
    const fields = current as Error & { type?: string; code?: number | string; retriable?: boolean; cause?: unknown };
    const kafkaFields = [fields.type && `type=${fields.type}`, fields.code !== undefined && `code=${fields.code}`, fields.retriable !== undefined && `retriable=${fields.retriable}`]
      .filter(Boolean)
      .join(' ');
    parts.push(`${current.name}${kafkaFields ? ` [${kafkaFields}]` : ''}: ${current.message}`);
    current = fields.cause;
  }
  if (parts.length === 0) return `non-Error value ${String(error)}`;
  return parts.join(' <- caused by ');
}

/** Runs an operation and returns "ok" or the description of the error it threw. */
async function outcomeOf(operation: () => Promise<unknown>): Promise<string> {
  try {
    await operation();
    return 'ok';
  } catch (error) {
    return `FAILED ${describeError(error)}`;
  }
}

async function withTimeout<T>(description: string, promise: Promise<T>, timeoutMs = WAIT_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${description}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// Clients, topics and records
// ---------------------------------------------------------------------------

/** Creates a plain idempotent producer configured like the command service's current writer. */
function idempotentProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    retry: PRODUCER_RETRY,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

/** Creates a transactional producer configured like the command service's partition writer. */
function transactionalProducer(kafka: Kafka, transactionalId: string, retry = PRODUCER_RETRY): Producer {
  return kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    transactionTimeout: TRANSACTION_TIMEOUT_MS,
    retry,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

function transactionalIdFor(topic: string, partition: number): string {
  return `vevee-decider-${topic}-${partition}`;
}

/**
 * Registers the producer's transactional id with the coordinator. kafkajs sends the
 * transactional InitProducerId on the first transaction(), not on connect(), so this is
 * the step that bumps the epoch and fences the previous producer of the id. An abort of a
 * transaction without partitions sends nothing to the broker.
 */
async function fence(producer: Producer): Promise<void> {
  const transaction = await producer.transaction();
  await transaction.abort();
}

/** Counts the producer's requests per Kafka API, to show retries inside one call. */
function countRequests(producer: Producer): Map<string, number> {
  const counts = new Map<string, number>();
  producer.on(producer.events.REQUEST, (event) => {
    counts.set(event.payload.apiName, (counts.get(event.payload.apiName) ?? 0) + 1);
  });
  return counts;
}

function formatCounts(counts: Map<string, number>, divisor = 1): string {
  return [...counts.entries()]
    .filter(([apiName]) => apiName !== 'Metadata' && apiName !== 'ApiVersions')
    .map(([apiName, count]) => `${apiName} ${divisor === 1 ? count : (count / divisor).toFixed(2)}`)
    .join(', ');
}

async function createTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: -1 }] });
  } finally {
    await admin.disconnect();
  }
}

async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}

/** Returns a JSON value of exactly RECORD_BYTES bytes, shaped like a ledger event. */
function recordValue(label: string): Buffer {
  const event = { version: 1, type: 'QuotaReserved', workspaceId: 'ws-bench', personId: label, at: new Date().toISOString(), pad: '' };
  const unpadded = Buffer.byteLength(JSON.stringify(event));
  event.pad = 'x'.repeat(Math.max(0, RECORD_BYTES - unpadded));
  return Buffer.from(JSON.stringify(event));
}

function recordBatch(partition: number, size: number, label = 'person'): Message[] {
  return Array.from({ length: size }, (_, index) => ({
    key: `ws-bench:${label}-${index}`,
    value: recordValue(`${label}-${index}`),
    partition,
  }));
}

// ---------------------------------------------------------------------------
// Section 1: append latency and throughput
// ---------------------------------------------------------------------------

interface BatchOutcome {
  records: number;
  /** True when the batch's first request (Produce or AddPartitionsToTxn) was sent more than once. */
  retried: boolean;
}

interface BatchTiming extends BatchOutcome {
  startedAt: number;
  endedAt: number;
}

interface WriterTimings {
  /** Batches that started after the warm-up. */
  measured: BatchTiming[];
  /** All batches, warm-up included, to turn request counts into requests per batch. */
  calls: number;
}

/**
 * Calls `appendBatch` again as soon as the previous call resolves, which is how group
 * commit appends, and keeps the batches that started after the warm-up.
 */
async function appendSequentially(appendBatch: () => Promise<BatchOutcome>, warmupEndsAt: number, stopAt: number): Promise<WriterTimings> {
  const measured: BatchTiming[] = [];
  let calls = 0;
  let now = performance.now();
  while (now < stopAt) {
    const outcome = await appendBatch();
    const endedAt = performance.now();
    calls += 1;
    if (now >= warmupEndsAt) measured.push({ ...outcome, startedAt: now, endedAt });
    now = endedAt;
  }
  return { measured, calls };
}

interface AppendResult {
  batches: number;
  p50: number;
  p99: number;
  mean: number;
  retriedShare: number;
  recordsPerSecond: number;
}

function summarize(timings: BatchTiming[]): AppendResult {
  const latencies = timings.map((timing) => timing.endedAt - timing.startedAt).sort((a, b) => a - b);
  const firstStart = Math.min(...timings.map((timing) => timing.startedAt));
  const lastEnd = Math.max(...timings.map((timing) => timing.endedAt));
  const records = timings.reduce((sum, timing) => sum + timing.records, 0);
  return {
    batches: timings.length,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    mean: latencies.reduce((sum, latency) => sum + latency, 0) / latencies.length,
    retriedShare: timings.filter((timing) => timing.retried).length / timings.length,
    recordsPerSecond: records / ((lastEnd - firstStart) / 1000),
  };
}

/** Runs one batch and reports whether the producer sent `apiName` more than once for it. */
async function runBatch(counts: Map<string, number>, apiName: string, records: number, append: () => Promise<unknown>): Promise<BatchOutcome> {
  const before = counts.get(apiName) ?? 0;
  await append();
  return { records, retried: (counts.get(apiName) ?? 0) - before > 1 };
}

interface ConnectedWriters {
  /** One function per concurrent writer; each appends one batch. */
  writers: (() => Promise<BatchOutcome>)[];
  requestCounts: Map<string, number>[];
  close: () => Promise<void>;
}

/** One way of appending batches to the topic. */
interface AppendMode {
  name: string;
  activePartitions: number;
  /** Number of partitions one batch writes to, so a batch contains this many times the batch size. */
  partitionsPerBatch: number;
  connect(kafka: Kafka, topic: string, batchSize: number, runId: string): Promise<ConnectedWriters>;
}

async function closeAll(producers: Producer[]): Promise<void> {
  await Promise.all(producers.map((producer) => producer.disconnect()));
}

/** Idempotent producers, one per partition, each sending its partition's batch with acks=-1. */
function idempotentPerPartition(partitions: number): AppendMode {
  return {
    name: `idempotent send, ${partitions} producer${partitions > 1 ? 's (1 per partition)' : ''}`,
    activePartitions: partitions,
    partitionsPerBatch: 1,
    async connect(kafka, topic, batchSize) {
      const producers = Array.from({ length: partitions }, () => idempotentProducer(kafka));
      const requestCounts = producers.map(countRequests);
      await Promise.all(producers.map((producer) => producer.connect()));
      const writers = producers.map((producer, partition) => {
        const messages = recordBatch(partition, batchSize);
        const counts = requestCounts[partition]!;
        return () => runBatch(counts, 'Produce', messages.length, () => producer.send({ topic, acks: -1, messages }));
      });
      return { writers, requestCounts, close: () => closeAll(producers) };
    },
  };
}

/** One idempotent producer whose every request carries a batch for each of the 12 partitions. */
const idempotentShared: AppendMode = {
  name: `idempotent send, 1 shared producer, 1 request spans ${PARTITIONS} partitions`,
  activePartitions: PARTITIONS,
  partitionsPerBatch: PARTITIONS,
  async connect(kafka, topic, batchSize) {
    const producer = idempotentProducer(kafka);
    const requestCounts = countRequests(producer);
    await producer.connect();
    const messages = Array.from({ length: PARTITIONS }, (_, partition) => recordBatch(partition, batchSize)).flat();
    const writer = () => runBatch(requestCounts, 'Produce', messages.length, () => producer.send({ topic, acks: -1, messages }));
    return { writers: [writer], requestCounts: [requestCounts], close: () => closeAll([producer]) };
  },
};

/** Transactional producers, one per partition, each appending one transaction per batch. */
function transactionalPerPartition(partitions: number, retry: typeof PRODUCER_RETRY): AppendMode {
  const retryLabel = `retry initialRetryTime ${retry.initialRetryTime} ms`;
  return {
    name: `transaction begin/send/commit, ${partitions} producer${partitions > 1 ? 's (1 per partition)' : ''}, ${retryLabel}`,
    activePartitions: partitions,
    partitionsPerBatch: 1,
    async connect(kafka, topic, batchSize, runId) {
      const producers = Array.from({ length: partitions }, (_, partition) => transactionalProducer(kafka, `${transactionalIdFor(topic, partition)}-${runId}`, retry));
      await Promise.all(
        producers.map(async (producer) => {
          await producer.connect();
          await fence(producer);
        }),
      );
      const requestCounts = producers.map(countRequests);
      const writers = producers.map((producer, partition) => {
        const messages = recordBatch(partition, batchSize);
        const counts = requestCounts[partition]!;
        return () =>
          runBatch(counts, 'AddPartitionsToTxn', messages.length, async () => {
            const transaction = await producer.transaction();
            await transaction.send({ topic, acks: -1, messages });
            await transaction.commit();
          });
      });
      return { writers, requestCounts, close: () => closeAll(producers) };
    },
  };
}

const appendModes: AppendMode[] = [
  idempotentPerPartition(1),
  transactionalPerPartition(1, PRODUCER_RETRY),
  transactionalPerPartition(1, FAST_PRODUCER_RETRY),
  idempotentShared,
  idempotentPerPartition(PARTITIONS),
  transactionalPerPartition(PARTITIONS, PRODUCER_RETRY),
  transactionalPerPartition(PARTITIONS, FAST_PRODUCER_RETRY),
];

function mergeCounts(countsList: Map<string, number>[]): Map<string, number> {
  const merged = new Map<string, number>();
  for (const counts of countsList) {
    for (const [apiName, count] of counts) merged.set(apiName, (merged.get(apiName) ?? 0) + count);
  }
  return merged;
}

async function measureAppends(kafka: Kafka, settings: BenchSettings, topic: string): Promise<void> {
  const rows: (string | number)[][] = [];
  for (const mode of appendModes) {
    for (const batchSize of BATCH_SIZES) {
      const runId = randomUUID().slice(0, 8);
      const { writers, requestCounts, close } = await mode.connect(kafka, topic, batchSize, runId);
      try {
        const warmupEndsAt = performance.now() + WARMUP_MS;
        const stopAt = warmupEndsAt + settings.measuredMs;
        const perWriter = await Promise.all(writers.map((writer) => appendSequentially(writer, warmupEndsAt, stopAt)));
        const result = summarize(perWriter.flatMap((timings) => timings.measured));
        const calls = perWriter.reduce((sum, timings) => sum + timings.calls, 0);
        rows.push([
          mode.name,
          mode.activePartitions,
          batchSize * mode.partitionsPerBatch,
          result.batches,
          ms(result.p50),
          ms(result.p99),
          ms(result.mean),
          `${Math.round(result.retriedShare * 100)}%`,
          Math.round(result.recordsPerSecond),
          formatCounts(mergeCounts(requestCounts), calls),
        ]);
        printProgress(`append: ${mode.name}, batch ${batchSize}: p50 ${ms(result.p50)} ms, ${Math.round(result.recordsPerSecond)} records/s`);
      } finally {
        await close();
      }
    }
  }
  printTable(
    `Append latency per batch (sequential batches per producer, acks=-1, ${RECORD_BYTES}-byte records, ${settings.measuredMs / 1000} s after ${WARMUP_MS} ms warm-up)`,
    ['mode', 'active partitions', 'records per batch', 'batches', 'p50 ms', 'p99 ms', 'mean ms', 'batches retried', 'records/s (all partitions)', 'requests per batch'],
    rows,
  );
}

// ---------------------------------------------------------------------------
// Section 2: fencing by transactions
// ---------------------------------------------------------------------------

/** Reads one partition from the start with a fresh group until a record with `lastValue` arrives. */
async function readPartitionValues(kafka: Kafka, topic: string, partition: number, lastValue: string, readUncommitted: boolean): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: `bench-fencing-read-${randomUUID()}`, readUncommitted, maxWaitTimeInMs: 200 });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const reachedLast = new Promise<void>((resolve) => {
      void consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }: EachBatchPayload) => {
          if (batch.partition !== partition) return;
          for (const message of batch.messages) {
            const value = message.value?.toString() ?? '';
            values.push(value);
            if (value === lastValue) resolve();
          }
        },
      });
    });
    await withTimeout(`record "${lastValue}" in ${topic}/${partition}`, reachedLast);
    return values;
  } finally {
    await consumer.disconnect();
  }
}

async function commitOneRecord(producer: Producer, topic: string, partition: number, value: string): Promise<void> {
  const transaction = await producer.transaction();
  await transaction.send({ topic, acks: -1, messages: [{ key: 'fencing', value, partition }] });
  await transaction.commit();
}

interface FencingFindings {
  rows: string[][];
}

/** Old owner idle (no open transaction, last commit 1 s ago) when the new owner fences. */
async function fenceIdleOwner(kafka: Kafka, topic: string, findings: FencingFindings): Promise<void> {
  const situation = 'old owner idle for 1 s';
  const partition = 0;
  const transactionalId = transactionalIdFor(topic, partition);
  const oldOwner = transactionalProducer(kafka, transactionalId);
  await oldOwner.connect();
  await commitOneRecord(oldOwner, topic, partition, 'idle-old-before');

  const newOwner = transactionalProducer(kafka, transactionalId);
  const newOwnerRequests = countRequests(newOwner);
  const connectStarted = performance.now();
  await newOwner.connect();
  const connectMs = performance.now() - connectStarted;
  findings.rows.push([situation, 'new owner connect() alone', `${ms(connectMs)} ms; requests: ${formatCounts(newOwnerRequests)}`]);
  newOwnerRequests.clear();

  // connect() sends only a non-transactional InitProducerId, so the old owner is not fenced yet.
  findings.rows.push([situation, 'old owner commits after new owner connect(), before its first transaction()', await outcomeOf(() => commitOneRecord(oldOwner, topic, partition, 'idle-old-after-connect'))]);

  // The idle time lets the coordinator finish writing the commit markers of that commit.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const fenceStarted = performance.now();
  await fence(newOwner);
  const fenceMs = performance.now() - fenceStarted;
  findings.rows.push([situation, 'new owner transaction()+abort() (the fence)', `${ms(fenceMs)} ms; requests: ${formatCounts(newOwnerRequests)}`]);

  let staleTransaction: Awaited<ReturnType<Producer['transaction']>> | undefined;
  findings.rows.push([situation, 'old owner transaction()', await outcomeOf(async () => (staleTransaction = await oldOwner.transaction()))]);
  if (staleTransaction !== undefined) {
    const transaction = staleTransaction;
    findings.rows.push([situation, 'old owner send() in that transaction', await outcomeOf(() => transaction.send({ topic, acks: -1, messages: [{ key: 'fencing', value: 'idle-old-after-fence', partition }] }))]);
    findings.rows.push([situation, 'old owner commit() after the failed send', await outcomeOf(() => transaction.commit())]);
  }
  findings.rows.push([situation, 'old owner transaction()+send()+commit() again', await outcomeOf(() => commitOneRecord(oldOwner, topic, partition, 'idle-old-again'))]);

  await commitOneRecord(newOwner, topic, partition, 'idle-new-after-fence');
  const committed = await readPartitionValues(kafka, topic, partition, 'idle-new-after-fence', false);
  findings.rows.push([situation, 'read_committed reader of the partition sees', committed.join(', ')]);

  await oldOwner.disconnect();
  await newOwner.disconnect();
}

/** Old owner committed a transaction a moment before the new owner fences. */
async function fenceOwnerThatJustCommitted(kafka: Kafka, topic: string, findings: FencingFindings): Promise<void> {
  const situation = 'old owner committed just before';
  const partition = 3;
  const transactionalId = transactionalIdFor(topic, partition);
  const oldOwner = transactionalProducer(kafka, transactionalId);
  const newOwner = transactionalProducer(kafka, transactionalId);
  await oldOwner.connect();
  await newOwner.connect();
  const newOwnerRequests = countRequests(newOwner);

  await commitOneRecord(oldOwner, topic, partition, 'recent-old-committed');
  const started = performance.now();
  await fence(newOwner);
  findings.rows.push([situation, 'new owner transaction()+abort() (the fence)', `${ms(performance.now() - started)} ms; requests: ${formatCounts(newOwnerRequests)}`]);

  await oldOwner.disconnect();
  await newOwner.disconnect();
}

/** Old owner has an open transaction with records already written when the new owner fences. */
async function fenceOwnerWithOpenTransaction(kafka: Kafka, topic: string, findings: FencingFindings): Promise<void> {
  const partition = 1;
  const transactionalId = transactionalIdFor(topic, partition);
  const oldOwner = transactionalProducer(kafka, transactionalId);
  await oldOwner.connect();
  await commitOneRecord(oldOwner, topic, partition, 'open-old-committed');

  const openTransaction = await oldOwner.transaction();
  await openTransaction.send({ topic, acks: -1, messages: [1, 2, 3].map((index) => ({ key: 'fencing', value: `open-old-uncommitted-${index}`, partition })) });

  const newOwner = transactionalProducer(kafka, transactionalId);
  const newOwnerRequests = countRequests(newOwner);
  const started = performance.now();
  await newOwner.connect();
  const connected = performance.now();
  newOwnerRequests.clear();
  await fence(newOwner);
  const fenced = performance.now();
  findings.rows.push(['old owner with open transaction', 'new owner transaction()+abort() (the fence)', `${ms(fenced - connected)} ms after connect() took ${ms(connected - started)} ms; requests: ${formatCounts(newOwnerRequests)}`]);

  findings.rows.push(['old owner with open transaction', 'old owner send() in its open transaction', await outcomeOf(() => openTransaction.send({ topic, acks: -1, messages: [{ key: 'fencing', value: 'open-old-after-fence', partition }] }))]);
  findings.rows.push(['old owner with open transaction', 'old owner commit()', await outcomeOf(() => openTransaction.commit())]);
  findings.rows.push(['old owner with open transaction', 'old owner abort() after the failed commit', await outcomeOf(() => openTransaction.abort())]);
  findings.rows.push(['old owner with open transaction', 'old owner transaction() after the failed commit', await outcomeOf(() => oldOwner.transaction())]);
  await oldOwner.disconnect();
  await oldOwner.connect();
  findings.rows.push(['old owner with open transaction', 'same producer object after disconnect()+connect(): transaction()', await outcomeOf(() => oldOwner.transaction())]);
  await oldOwner.disconnect();

  await commitOneRecord(newOwner, topic, partition, 'open-new-after-fence');
  const committed = await readPartitionValues(kafka, topic, partition, 'open-new-after-fence', false);
  const uncommitted = await readPartitionValues(kafka, topic, partition, 'open-new-after-fence', true);
  findings.rows.push(['old owner with open transaction', 'read_committed reader sees', committed.join(', ')]);
  findings.rows.push(['old owner with open transaction', 'read_uncommitted reader sees', uncommitted.join(', ')]);
  await newOwner.disconnect();
}

/** Old owner's commit fails, which leaves its kafkajs producer unusable; a new producer object recovers. */
async function replaceStuckProducer(kafka: Kafka, topic: string, findings: FencingFindings): Promise<void> {
  const partition = 2;
  const transactionalId = transactionalIdFor(topic, partition);
  const first = transactionalProducer(kafka, transactionalId);
  await first.connect();
  const transaction = await first.transaction();
  await transaction.send({ topic, acks: -1, messages: [{ key: 'fencing', value: 'stuck-first-uncommitted', partition }] });

  const second = transactionalProducer(kafka, transactionalId);
  await second.connect();
  await fence(second);
  await transaction.commit().catch(() => undefined);
  await second.disconnect();

  // The first producer is the one whose commit failed. Its owner was fenced, but the same
  // process could win the partition back: a new producer object with the same id works.
  const replacement = transactionalProducer(kafka, transactionalId);
  await replacement.connect();
  const started = performance.now();
  const outcome = await outcomeOf(async () => {
    await fence(replacement);
    await commitOneRecord(replacement, topic, partition, 'stuck-replacement');
  });
  findings.rows.push(['commit failed', 'new producer object with the same id: fence + commit one record', `${outcome} (${ms(performance.now() - started)} ms)`]);
  findings.rows.push(['commit failed', 'original producer object transaction()', await outcomeOf(() => first.transaction())]);
  await first.disconnect();
  await replacement.disconnect();
}

async function measureFencing(kafka: Kafka, topic: string): Promise<void> {
  const findings: FencingFindings = { rows: [] };
  await fenceIdleOwner(kafka, topic, findings);
  await fenceOwnerThatJustCommitted(kafka, topic, findings);
  await fenceOwnerWithOpenTransaction(kafka, topic, findings);
  await replaceStuckProducer(kafka, topic, findings);
  printTable('Fencing with transactions: one transactional id per partition', ['situation', 'step', 'result'], findings.rows);
}

// ---------------------------------------------------------------------------
// Section 3: fencing by a claim marker
// ---------------------------------------------------------------------------

/**
 * Tracks what a consumer delivered for one partition. After `readFrom(offset)` it ignores
 * batches that started after that offset, which a fetch issued before the seek may
 * still deliver, until a batch that contains the offset arrives.
 */
class PartitionProgress {
  private delivered = -1n;
  private readStart: bigint | undefined;
  private waiters: { offset: bigint; resolve: () => void }[] = [];
  firstBatchAt: number | undefined;

  constructor(readonly partition: number) {}

  readFrom(offset: bigint): void {
    this.readStart = offset;
    this.delivered = -1n;
    this.firstBatchAt = undefined;
  }

  onBatch(payload: EachBatchPayload): void {
    const { batch } = payload;
    if (batch.partition !== this.partition || batch.isEmpty()) return;
    const first = BigInt(batch.firstOffset()!);
    if (this.readStart !== undefined) {
      if (first > this.readStart) return;
      this.readStart = undefined;
    }
    this.firstBatchAt ??= performance.now();
    this.delivered = BigInt(batch.lastOffset());
    for (const waiter of this.waiters.filter((each) => each.offset <= this.delivered)) waiter.resolve();
    this.waiters = this.waiters.filter((each) => each.offset > this.delivered);
  }

  reached(offset: bigint): Promise<void> {
    if (this.readStart === undefined && offset <= this.delivered) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ offset, resolve }));
  }
}

interface RunningReader {
  consumer: Consumer;
  progress: PartitionProgress;
  joinedAt: Promise<number>;
}

/** Starts a consumer in a new group and waits until it has joined. */
async function startReader(kafka: Kafka, topic: string, partition: number, options: { maxWaitTimeInMs: number }): Promise<RunningReader> {
  const consumer = kafka.consumer({ groupId: `bench-fencing-claim-${randomUUID()}`, maxWaitTimeInMs: options.maxWaitTimeInMs });
  const progress = new PartitionProgress(partition);
  const joinedAt = new Promise<number>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve(performance.now())));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  await consumer.run({ autoCommit: false, eachBatch: async (payload) => progress.onBatch(payload) });
  return { consumer, progress, joinedAt };
}

async function appendMarker(producer: Producer, topic: string, partition: number, generation: number): Promise<bigint> {
  const [metadata] = await producer.send({
    topic,
    acks: -1,
    messages: [{ key: 'partition-claim', value: JSON.stringify({ type: 'PartitionClaimed', generation }), partition }],
  });
  if (metadata?.baseOffset === undefined) throw new Error(`produce response for ${topic}/${partition} has no baseOffset`);
  return BigInt(metadata.baseOffset);
}

const READ_BACK_RECORDS = [0, 1_000, 10_000] as const;
const CLAIM_TRIALS = 10;

async function fillPartition(producer: Producer, topic: string, partition: number, records: number): Promise<void> {
  const messages = recordBatch(partition, 1000, 'tail');
  for (let written = 0; written < records; written += messages.length) {
    await producer.send({ topic, acks: -1, messages });
  }
}

/** A generation number for each marker, increasing within the run. */
let lastGeneration = 0;

async function measureMarkerAppend(producer: Producer, topic: string, partition: number): Promise<(string | number)[]> {
  const durations: number[] = [];
  for (let trial = 0; trial < CLAIM_TRIALS * 2; trial += 1) {
    const started = performance.now();
    await appendMarker(producer, topic, partition, (lastGeneration += 1));
    durations.push(performance.now() - started);
  }
  durations.sort((a, b) => a - b);
  return ['append PartitionClaimed marker (idempotent send, acks=-1)', '-', durations.length, ms(percentile(durations, 0.5)), ms(durations.at(-1)!), ''];
}

/** Measures a new owner that starts a consumer in a fresh group, then seeks to its snapshot offset. */
async function measureFreshGroupReadBack(kafka: Kafka, producer: Producer, topic: string, partition: number, tail: number): Promise<(string | number)[]> {
  const trials = 3;
  const durations: number[] = [];
  const breakdown: string[] = [];
  for (let trial = 0; trial < trials; trial += 1) {
    const markerOffset = await appendMarker(producer, topic, partition, (lastGeneration += 1));
    const started = performance.now();
    const reader = await startReader(kafka, topic, partition, { maxWaitTimeInMs: 5_000 });
    try {
      reader.progress.readFrom(markerOffset - BigInt(tail));
      reader.consumer.seek({ topic, partition, offset: String(markerOffset - BigInt(tail)) });
      await withTimeout('claim marker in a fresh group', reader.progress.reached(markerOffset));
      const ended = performance.now();
      durations.push(ended - started);
      breakdown.push(`join ${ms((await reader.joinedAt) - started)}, first batch ${ms((reader.progress.firstBatchAt ?? ended) - started)}`);
    } finally {
      await reader.consumer.disconnect();
    }
  }
  durations.sort((a, b) => a - b);
  return ['fresh consumer group: connect, join, seek, read to marker', tail, trials, ms(percentile(durations, 0.5)), ms(durations.at(-1)!), breakdown.join('; ')];
}

/**
 * Measures a new owner that is already a running member of the group and takes over a
 * partition it did not read before. The partition stays paused until the claim. Then the
 * member seeks to the snapshot offset and resumes the partition.
 */
async function measureRunningMemberReadBack(kafka: Kafka, producer: Producer, topic: string, partition: number, maxWaitTimeInMs: number, trials: number): Promise<(string | number)[][]> {
  const rows: (string | number)[][] = [];
  const reader = await startReader(kafka, topic, partition, { maxWaitTimeInMs });
  try {
    await reader.joinedAt;
    reader.consumer.pause([{ topic, partitions: [partition] }]);
    for (const tail of READ_BACK_RECORDS) {
      const durations: number[] = [];
      for (let trial = 0; trial < trials; trial += 1) {
        const markerOffset = await appendMarker(producer, topic, partition, (lastGeneration += 1));
        const started = performance.now();
        reader.progress.readFrom(markerOffset - BigInt(tail));
        reader.consumer.seek({ topic, partition, offset: String(markerOffset - BigInt(tail)) });
        reader.consumer.resume([{ topic, partitions: [partition] }]);
        await withTimeout('claim marker after seek', reader.progress.reached(markerOffset));
        durations.push(performance.now() - started);
        reader.consumer.pause([{ topic, partitions: [partition] }]);
      }
      durations.sort((a, b) => a - b);
      rows.push([`running member: seek + resume, read to marker (maxWaitTimeInMs ${maxWaitTimeInMs})`, tail, trials, ms(percentile(durations, 0.5)), ms(durations.at(-1)!), '']);
    }
  } finally {
    await reader.consumer.disconnect();
  }
  return rows;
}

async function measureClaimReadBack(kafka: Kafka, producer: Producer, topic: string, rows: (string | number)[][]): Promise<void> {
  const partition = 0;
  await fillPartition(producer, topic, partition, Math.max(...READ_BACK_RECORDS));
  rows.push(await measureMarkerAppend(producer, topic, partition));
  for (const tail of READ_BACK_RECORDS) {
    rows.push(await measureFreshGroupReadBack(kafka, producer, topic, partition, tail));
  }
  // With the kafkajs default maxWaitTimeInMs of 5 s, every trial takes about 5 s, so 3 trials show it.
  rows.push(...(await measureRunningMemberReadBack(kafka, producer, topic, partition, 5_000, 3)));
  rows.push(...(await measureRunningMemberReadBack(kafka, producer, topic, partition, 100, CLAIM_TRIALS)));
}

/**
 * Measures the read-back an owner needs after each batch to learn that no newer claim
 * precedes its records: append a batch, then wait until a consumer that tails the
 * partition has delivered the batch's last offset. The same numbers give the delay before
 * a projector receives a batch, for both producers.
 */
async function measurePerBatchReadBack(kafka: Kafka, topic: string, settings: BenchSettings, rows: (string | number)[][]): Promise<void> {
  const partition = 3;
  const idempotent = idempotentProducer(kafka);
  const transactional = transactionalProducer(kafka, `${transactionalIdFor(topic, partition)}-tail`);
  await idempotent.connect();
  await transactional.connect();
  await fence(transactional);

  const appenders: Appender[] = [
    {
      name: 'idempotent send',
      append: async (messages) => {
        const [metadata] = await idempotent.send({ topic, acks: -1, messages });
        return BigInt(metadata!.baseOffset!) + BigInt(messages.length - 1);
      },
    },
    {
      name: 'transaction begin/send/commit',
      append: async (messages) => {
        const transaction = await transactional.transaction();
        const [metadata] = await transaction.send({ topic, acks: -1, messages });
        await transaction.commit();
        return BigInt(metadata!.baseOffset!) + BigInt(messages.length - 1);
      },
    },
  ];

  const reader = await startReader(kafka, topic, partition, { maxWaitTimeInMs: 5_000 });
  try {
    await reader.joinedAt;
    // A new group starts at the end of the log, but kafkajs resolves that offset on its
    // first fetch, which may come after the first append, so read from the end known now.
    const end = await endOffset(kafka, topic, partition);
    reader.progress.readFrom(end);
    reader.consumer.seek({ topic, partition, offset: String(end) });
    for (const appender of appenders) {
      for (const batchSize of [1, 100]) {
        rows.push(await measureTailReads(reader, appender, recordBatch(partition, batchSize), Math.min(settings.measuredMs, 3_000)));
      }
    }
  } finally {
    await reader.consumer.disconnect();
    await idempotent.disconnect();
    await transactional.disconnect();
  }
}

interface Appender {
  name: string;
  /** Appends the records and returns the offset of the last one. */
  append: (messages: Message[]) => Promise<bigint>;
}

async function measureTailReads(reader: RunningReader, appender: Appender, messages: Message[], durationMs: number): Promise<(string | number)[]> {
  const appendDurations: number[] = [];
  const readDurations: number[] = [];
  const stopAt = performance.now() + durationMs;
  while (performance.now() < stopAt) {
    const started = performance.now();
    const lastOffset = await appender.append(messages);
    const appended = performance.now();
    await withTimeout('tailing consumer to deliver the batch', reader.progress.reached(lastOffset));
    appendDurations.push(appended - started);
    readDurations.push(performance.now() - appended);
  }
  appendDurations.sort((a, b) => a - b);
  readDurations.sort((a, b) => a - b);
  return [
    `${appender.name}, then a tailing read_committed consumer delivers the batch`,
    messages.length,
    readDurations.length,
    `${ms(percentile(readDurations, 0.5))} (append ${ms(percentile(appendDurations, 0.5))})`,
    `${ms(percentile(readDurations, 0.99))} (append ${ms(percentile(appendDurations, 0.99))})`,
    'read-back after the append',
  ];
}

async function endOffset(kafka: Kafka, topic: string, partition: number): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const high = offsets.find((entry) => entry.partition === partition)?.high;
    if (high === undefined) throw new Error(`no offsets returned for ${topic}/${partition}`);
    return BigInt(high);
  } finally {
    await admin.disconnect();
  }
}

async function measureClaim(kafka: Kafka, topic: string, settings: BenchSettings): Promise<void> {
  const producer = idempotentProducer(kafka);
  await producer.connect();
  const rows: (string | number)[][] = [];
  try {
    await measureClaimReadBack(kafka, producer, topic, rows);
    await measurePerBatchReadBack(kafka, topic, settings, rows);
  } finally {
    await producer.disconnect();
  }
  printTable('Fencing with a claim marker: append and read-back', ['step', 'records read back before the marker', 'trials', 'p50 ms', 'max/p99 ms', 'notes (ms from start)'], rows);
}

// ---------------------------------------------------------------------------
// Section 4: startup cost per partition
// ---------------------------------------------------------------------------

async function connectAndFence(kafka: Kafka, transactionalId: string): Promise<{ producer: Producer; connectMs: number; fenceMs: number }> {
  const producer = transactionalProducer(kafka, transactionalId);
  const started = performance.now();
  await producer.connect();
  const connected = performance.now();
  await fence(producer);
  return { producer, connectMs: connected - started, fenceMs: performance.now() - connected };
}

async function openTransactions(kafka: Kafka, topic: string, ids: string[]): Promise<Producer[]> {
  return Promise.all(
    ids.map(async (transactionalId, partition) => {
      const producer = transactionalProducer(kafka, transactionalId);
      await producer.connect();
      const transaction = await producer.transaction();
      await transaction.send({ topic, acks: -1, messages: recordBatch(partition, 10, 'open') });
      return producer;
    }),
  );
}

async function startTwelve(kafka: Kafka, ids: string[], concurrently: boolean): Promise<{ wallMs: number; connect: number[]; fence: number[] }> {
  const started = performance.now();
  const results: Awaited<ReturnType<typeof connectAndFence>>[] = [];
  if (concurrently) {
    results.push(...(await Promise.all(ids.map((id) => connectAndFence(kafka, id)))));
  } else {
    for (const id of ids) results.push(await connectAndFence(kafka, id));
  }
  const wallMs = performance.now() - started;
  await Promise.all(results.map((result) => result.producer.disconnect()));
  const sorted = (values: number[]) => values.sort((a, b) => a - b);
  return { wallMs, connect: sorted(results.map((result) => result.connectMs)), fence: sorted(results.map((result) => result.fenceMs)) };
}

async function measureStartup(kafka: Kafka, topic: string): Promise<void> {
  const rows: (string | number)[][] = [];
  for (const concurrently of [false, true]) {
    const order = concurrently ? 'concurrently' : 'sequentially';
    const ids = Array.from({ length: PARTITIONS }, (_, partition) => `${transactionalIdFor(topic, partition)}-startup-${order}`);

    const firstStart = await startTwelve(kafka, ids, concurrently);
    rows.push([`12 transactional producers, ${order}, ids never used`, ms(firstStart.wallMs), ms(percentile(firstStart.connect, 0.5)), ms(percentile(firstStart.fence, 0.5)), ms(firstStart.fence.at(-1)!)]);

    const takeover = await startTwelve(kafka, ids, concurrently);
    rows.push([`12 transactional producers, ${order}, ids of idle disconnected owners`, ms(takeover.wallMs), ms(percentile(takeover.connect, 0.5)), ms(percentile(takeover.fence, 0.5)), ms(takeover.fence.at(-1)!)]);

    const previousOwners = await openTransactions(kafka, topic, ids);
    const fromOpen = await startTwelve(kafka, ids, concurrently);
    rows.push([`12 transactional producers, ${order}, each previous owner has an open transaction`, ms(fromOpen.wallMs), ms(percentile(fromOpen.connect, 0.5)), ms(percentile(fromOpen.fence, 0.5)), ms(fromOpen.fence.at(-1)!)]);
    await Promise.all(previousOwners.map((producer) => producer.disconnect()));
  }

  const idempotentStarted = performance.now();
  const idempotent = idempotentProducer(kafka);
  await idempotent.connect();
  rows.push(['1 idempotent producer connect()', ms(performance.now() - idempotentStarted), '-', '-', '-']);
  await idempotent.disconnect();

  printTable('Startup: connect() and fence (transaction()+abort()) per partition', ['case', 'wall ms for all', 'connect p50 ms', 'fence p50 ms', 'fence max ms'], rows);
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const settings = readSettings();
  const logger = createLogger({ logLevel: settings.logLevel }, 'bench-fencing');
  const kafka = createKafka({ kafkaBrokers: settings.brokers }, logger, 'vevee-bench-fencing');
  const runId = randomUUID().slice(0, 8);
  const topics: string[] = [];

  const topicFor = async (section: string) => {
    printProgress(`section ${section}: started`);
    const topic = `vevee-bench-fencing-${section}-${runId}`;
    await createTopic(kafka, topic);
    topics.push(topic);
    return topic;
  };

  printLine(`# Fencing benchmark, run ${runId}: brokers ${settings.brokers.join(',')}, Node ${process.version}, ${PARTITIONS} partitions per topic`);
  try {
    if (settings.sections.has('append')) await measureAppends(kafka, settings, await topicFor('append'));
    if (settings.sections.has('fencing')) await measureFencing(kafka, await topicFor('fencing'));
    if (settings.sections.has('claim')) await measureClaim(kafka, await topicFor('claim'), settings);
    if (settings.sections.has('startup')) await measureStartup(kafka, await topicFor('startup'));
  } finally {
    if (topics.length > 0) await deleteTopics(kafka, topics);
  }
}

main().catch((error: unknown) => {
  printProgress(`fencing benchmark failed: ${describeError(error)}`);
  process.exitCode = 1;
});
