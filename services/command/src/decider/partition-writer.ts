import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';

import { encodeLedgerEvent, personKey, type LedgerEvent } from '@vevee/contracts';

import { unavailable } from '../errors';

/** The maximum number of records per transaction; later records wait for the next one. */
const MAX_BATCH_RECORDS = 2_000;

/**
 * How long one transaction may take before its callers get `unavailable`. The
 * kafkajs call cannot be cancelled, so the owner then replaces the writer: the
 * new producer fences the stuck one, and the rebuilt state shows whether the
 * transaction committed.
 */
const TRANSACTION_TIMEOUT_MS = 5_000;

class TransactionTimeoutError extends Error {
  constructor() {
    super(`the ledger transaction did not finish within ${TRANSACTION_TIMEOUT_MS} ms`);
    this.name = 'TransactionTimeoutError';
  }
}

async function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TransactionTimeoutError()), TRANSACTION_TIMEOUT_MS);
  });
  // The losing promise may still reject later, and this keeps that rejection handled.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Batch {
  messages: Message[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  // Callers await the promise themselves; this keeps an unobserved failure from
  // being reported as an unhandled rejection.
  promise.catch(() => undefined);
  return { messages: [], promise, resolve, reject };
}

/** kafkajs error types that mean another producer took over the transactional id. */
const FENCED_ERRORS = new Set(['INVALID_PRODUCER_EPOCH', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED']);

export function isFencedError(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = (current as { cause?: unknown }).cause ?? (current as { originalError?: unknown }).originalError) {
    const type = (current as { type?: unknown }).type;
    if (typeof type === 'string' && FENCED_ERRORS.has(type)) return true;
    if (/fenced|epoch/i.test(current.message)) return true;
  }
  return false;
}

/**
 * Creates a transactional producer and fences every earlier producer of its
 * transactional id: the first transaction registers the id with the
 * coordinator, which bumps its epoch and aborts the previous producer's open
 * transaction. Aborting it sends nothing, because no partition was added.
 */
async function openFencedProducer(kafka: Kafka, transactionalId: string): Promise<Producer> {
  const producer = kafka.producer({
    // Every record names its partition, so the partitioner never runs.
    createPartitioner: Partitioners.DefaultPartitioner,
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    transactionTimeout: 30_000,
    // While the markers of the same id's previous transaction are still being
    // written, the broker returns CONCURRENT_TRANSACTIONS. A short first backoff
    // keeps that retry cheap: docs/fencing.md measured a p99 of about 120 ms
    // with a 100 ms backoff and about 20 ms with 10 ms.
    retry: { retries: 10, initialRetryTime: 10, maxRetryTime: 2_000 },
  });
  await producer.connect();
  try {
    const fence = await producer.transaction();
    await fence.abort();
  } catch (error) {
    await producer.disconnect().catch(() => undefined);
    throw error;
  }
  return producer;
}

export interface PartitionWriterHooks {
  /** Called once when a transaction fails; the writer is closed afterwards. */
  onFailed(error: unknown, fenced: boolean): void;
  onBatchWritten(records: number, seconds: number): void;
}

/**
 * Appends one ledger partition's events through transactional producers whose
 * two transactional ids belong to the partition. Opening a writer fences every
 * earlier writer of the partition: the broker bumps each id's epoch and aborts
 * its open transaction, so a paused former owner can never commit again.
 *
 * Group commit: events decided while a transaction is in flight gather in the
 * next batch, and each batch is one transaction (send, then commit). Callers
 * get their reply when their batch's transaction has committed.
 */
export class PartitionWriter {
  private readonly queue: Batch[] = [];
  private flushing = false;
  private failed = false;
  /** The offset after the last record this writer committed, once it committed one. */
  committedEnd: bigint | undefined;

  /** The producer the next transaction uses: 0 or 1. */
  private turn = 0;

  private constructor(
    private readonly producers: [Producer, Producer],
    private readonly topic: string,
    readonly partition: number,
    private readonly hooks: PartitionWriterHooks,
  ) {}

  /**
   * Opens the partition's writer: one producer for each of its transactional
   * ids, each fenced before use. Batches alternate between the two producers:
   * a transaction then never starts while the broker still writes the markers
   * of the same id's previous one, which it would reject with
   * CONCURRENT_TRANSACTIONS, causing a retry (see docs/fencing.md).
   */
  static async open(kafka: Kafka, topic: string, partition: number, transactionalIds: readonly [string, string], hooks: PartitionWriterHooks): Promise<PartitionWriter> {
    const opened: Producer[] = [];
    try {
      for (const transactionalId of transactionalIds) {
        opened.push(await openFencedProducer(kafka, transactionalId));
      }
    } catch (error) {
      await Promise.all(opened.map((producer) => producer.disconnect().catch(() => undefined)));
      throw error;
    }
    return new PartitionWriter(opened as [Producer, Producer], topic, partition, hooks);
  }

  /** Queues events and returns a promise that settles when they are committed. */
  append(events: LedgerEvent[]): Promise<void> {
    if (this.failed) {
      return Promise.reject(unavailable('the ledger writer of this partition failed; retry with the same idempotency key'));
    }
    let batch = this.queue.at(-1);
    if (batch === undefined || batch.messages.length + events.length > MAX_BATCH_RECORDS) {
      batch = newBatch();
      this.queue.push(batch);
    }
    for (const event of events) {
      batch.messages.push({
        key: personKey(event.workspaceId, event.personId),
        value: encodeLedgerEvent(event),
        partition: this.partition,
        headers: { 'vevee-type': event.type, 'vevee-version': String(event.version) },
      });
    }
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
    return batch.promise;
  }

  /** Waits for queued batches, then disconnects the producer. */
  async close(): Promise<void> {
    const last = this.queue.at(-1);
    if (last !== undefined) await last.promise.catch(() => undefined);
    await Promise.all(this.producers.map((producer) => producer.disconnect()));
  }

  private async commitBatch(batch: Batch): Promise<void> {
    const producer = this.producers[this.turn]!;
    this.turn = 1 - this.turn;
    const transaction = await producer.transaction();
    try {
      const metadata = await transaction.send({ topic: this.topic, acks: -1, messages: batch.messages });
      await transaction.commit();
      const baseOffset = metadata.find((each) => each.partition === this.partition)?.baseOffset;
      if (baseOffset !== undefined) this.committedEnd = BigInt(baseOffset) + BigInt(batch.messages.length);
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw error;
    }
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0 && !this.failed) {
      const batch = this.queue.shift()!;
      const started = performance.now();
      try {
        await withTimeout(this.commitBatch(batch));
        batch.resolve();
        this.hooks.onBatchWritten(batch.messages.length, (performance.now() - started) / 1000);
      } catch (error) {
        // A kafkajs producer whose transaction failed cannot be trusted again.
        // Every batch still queued was decided on state that included the failed
        // events, so it fails too, and the owner rebuilds the partition.
        this.failed = true;
        for (const each of [batch, ...this.queue.splice(0)]) {
          each.reject(unavailable('the ledger append failed; retry with the same idempotency key', error));
        }
        this.hooks.onFailed(error, isFencedError(error));
      }
    }
    this.flushing = false;
  }
}
