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

/**
 * Reads every committed record of the ledger topic, as of its end offsets at
 * the call, with a consumer of a fresh group. The consumer reads committed
 * data only (kafkajs's default), so records of aborted transactions, such as
 * those of a fenced writer, are not returned.
 */
export async function readLedger(kafka: Kafka, topic: string): Promise<LedgerRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const remaining = new Map(ends.filter((end) => BigInt(end.high) > 0n).map((end) => [end.partition, BigInt(end.high)]));
  const records: LedgerRecord[] = [];
  if (remaining.size === 0) return records;

  const consumer = kafka.consumer({ groupId: uniqueName('ledger-reader'), maxWaitTimeInMs: 200 });
  // A batch that holds only a transaction marker reaches no eachBatch call,
  // but this event still reports its last offset.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const end = remaining.get(payload.partition);
    if (end !== undefined && BigInt(payload.lastOffset) + 1n >= end) remaining.delete(payload.partition);
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          records.push({ partition: batch.partition, offset: BigInt(message.offset), event: decodeLedgerEvent(message.value) });
        }
      },
    });
    await waitFor(`the ledger reader to reach the end of ${topic}`, () => remaining.size === 0 || undefined, { timeoutMs: 30_000 });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** What the ledger holds for one person. */
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
