import type { Kafka } from 'kafkajs';

import {
  LEDGER_EVENT_TYPES,
  decodeLedgerEvent,
  type LedgerEvent,
  type LedgerEventType,
  type QuotaCommittedEvent,
  type QuotaDeniedEvent,
  type QuotaReservedEvent,
} from '@vevee/contracts';
import { uniqueName, waitFor } from '@vevee/testing';

export interface LedgerRecord {
  partition: number;
  offset: bigint;
  event: LedgerEvent;
}

/** How far a reader got in one partition, and where the partition ends. */
interface PartitionProgress {
  /** The next offset to read. */
  position: bigint;
  /** The partition's end for committed reads when the reader started. */
  stableEnd: bigint;
  /** The highest high watermark a fetch reported, which includes records of open transactions. */
  highWatermark: bigint;
}

function describeLag(topic: string, progress: Map<number, PartitionProgress>): string {
  const lagging: string[] = [];
  for (const [partition, { position, stableEnd, highWatermark }] of progress) {
    if (position < stableEnd || position < highWatermark) {
      lagging.push(`${topic}[${partition}] read up to offset ${position}, high watermark ${highWatermark}`);
    }
  }
  return lagging.join('; ');
}

/**
 * Reads every committed record of the ledger topic with a consumer of a fresh
 * group. The consumer reads committed data only (kafkajs's default), so
 * records of aborted transactions, such as those of a fenced writer, are not
 * returned. It reads each partition up to its high watermark, so a
 * transaction that stays open (its commit or abort marker missing) fails the
 * read with the partition and offset, because no committed reader can pass it.
 * NOTE: the high watermark comes from fetches that returned records, so an
 * open transaction at offset 0 of a partition goes unnoticed.
 */
export async function readLedger(kafka: Kafka, topic: string, timeoutMs = 20_000): Promise<LedgerRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const progress = new Map<number, PartitionProgress>(
    ends.map((end) => [end.partition, { position: 0n, stableEnd: BigInt(end.high), highWatermark: 0n }]),
  );
  const records: LedgerRecord[] = [];
  if ([...progress.values()].every((partitionProgress) => partitionProgress.stableEnd === 0n)) return records;
  let failure: Error | undefined;

  const consumer = kafka.consumer({ groupId: uniqueName('ledger-reader'), maxWaitTimeInMs: 200 });
  // A batch that contains only a transaction marker reaches no eachBatch call,
  // but this event still reports its last offset.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const partitionProgress = progress.get(payload.partition);
    if (partitionProgress === undefined) return;
    partitionProgress.position = BigInt(payload.lastOffset) + 1n;
    const highWatermark = BigInt(payload.highWatermark);
    if (highWatermark > partitionProgress.highWatermark) partitionProgress.highWatermark = highWatermark;
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          try {
            records.push({ partition: batch.partition, offset: BigInt(message.offset), event: decodeLedgerEvent(message.value) });
          } catch (error) {
            // kafkajs would fetch the batch again and again, so the reader stops and reports the record.
            failure = new Error(`ledger record ${topic}[${batch.partition}]@${message.offset} cannot be decoded`, { cause: error });
            return;
          }
        }
      },
    });
    await waitFor(`the ledger reader to reach the end of ${topic}`, () => describeLag(topic, progress) === '' || failure !== undefined || undefined, { timeoutMs }).catch(() => {
      failure ??= new Error(
        `the ledger reader stopped before the end: ${describeLag(topic, progress)}. ` +
          'A transaction without a commit or abort marker blocks committed readers at that offset',
      );
    });
  } finally {
    await consumer.disconnect();
  }
  if (failure !== undefined) throw failure;
  return records;
}

/** What the ledger contains for one person. */
export interface PersonFold {
  counts: Record<LedgerEventType, number>;
  /** Sum of QuotaReserved quantities. */
  reservedQuantity: number;
  /** Sum of QuotaCommitted quantities. */
  committedQuantity: number;
}

export interface LedgerFold {
  persons: Map<string, PersonFold>;
  /** The reserve decision (QuotaReserved or QuotaDenied) of each idempotency key. */
  decisions: Map<string, QuotaReservedEvent | QuotaDeniedEvent>;
  /** Idempotency keys with more than one reserve decision. */
  repeatedKeys: string[];
  /** The QuotaCommitted event of each reservation. */
  commits: Map<string, QuotaCommittedEvent>;
  /** Reservations committed more than once. */
  repeatedCommits: string[];
  /** Per partition, the offset after the last event in it. */
  nextOffsets: Map<number, bigint>;
  eventCount: number;
}

function zeroCounts(): Record<LedgerEventType, number> {
  return Object.fromEntries(LEDGER_EVENT_TYPES.map((type) => [type, 0])) as Record<LedgerEventType, number>;
}

function emptyPerson(): PersonFold {
  return { counts: zeroCounts(), reservedQuantity: 0, committedQuantity: 0 };
}

/** Returns the number of events of each type in the fold, over all persons. */
export function countsOf(fold: LedgerFold): Record<LedgerEventType, number> {
  const counts = zeroCounts();
  for (const person of fold.persons.values()) {
    for (const type of LEDGER_EVENT_TYPES) counts[type] += person.counts[type];
  }
  return counts;
}

/** Folds ledger records of one workspace into per-person totals and the decisions of each key. */
export function foldLedger(records: LedgerRecord[]): LedgerFold {
  const fold: LedgerFold = {
    persons: new Map(),
    decisions: new Map(),
    repeatedKeys: [],
    commits: new Map(),
    repeatedCommits: [],
    nextOffsets: new Map(),
    eventCount: records.length,
  };
  for (const { partition, offset, event } of records) {
    const next = fold.nextOffsets.get(partition) ?? 0n;
    if (offset + 1n > next) fold.nextOffsets.set(partition, offset + 1n);

    let person = fold.persons.get(event.personId);
    if (person === undefined) {
      person = emptyPerson();
      fold.persons.set(event.personId, person);
    }
    person.counts[event.type] += 1;

    if (event.type === 'QuotaReserved' || event.type === 'QuotaDenied') {
      if (fold.decisions.has(event.idempotencyKey)) fold.repeatedKeys.push(event.idempotencyKey);
      else fold.decisions.set(event.idempotencyKey, event);
      if (event.type === 'QuotaReserved') person.reservedQuantity += event.quantity;
    }
    if (event.type === 'QuotaCommitted') {
      if (fold.commits.has(event.reservationId)) fold.repeatedCommits.push(event.reservationId);
      else fold.commits.set(event.reservationId, event);
      person.committedQuantity += event.quantity;
    }
  }
  return fold;
}

/** Reads the whole ledger and folds it. */
export async function foldWholeLedger(kafka: Kafka, topic: string): Promise<LedgerFold> {
  return foldLedger(await readLedger(kafka, topic));
}
