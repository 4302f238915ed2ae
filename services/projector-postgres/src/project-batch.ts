import type pg from 'pg';

import { LedgerDecodeError, type LedgerEvent, type UsageTransferredOutEvent } from '@vevee/contracts';
import { withTransaction } from '@vevee/postgres';

import { planAccountProjection, subscriptionEventIds, subscriptionPersons } from './account-projection';
import { loadSubscriptions, recordedSubscriptionEvents, writeAccountPlan } from './account-store';
import { decodeForProjection } from './event-fields';
import { planProjection, referencedReservations, type Anomaly } from './projection';
import { loadReservations, lockNextOffset, saveNextOffset, writeCounterChanges, writeReservations } from './projection-store';

export interface BatchInput {
  projector: string;
  topic: string;
  partition: number;
  /** The batch's records in offset order, as kafkajs delivers them (control records left out). */
  records: Array<{ offset: string; value: Buffer | null }>;
  /** kafkajs `batch.firstOffset()`: the first offset fetched, control records included. */
  firstOffset: string | null;
  /** kafkajs `batch.lastOffset()`: the last offset fetched, control records included. */
  lastOffset: string;
  /** False for the first batch of a partition after an assignment. */
  positioned: boolean;
}

/** The consumer must seek to `offset`, the stored position, before anything is applied. */
export interface RepositionOutcome {
  kind: 'reposition';
  offset: bigint;
}

export interface AppliedOutcome {
  kind: 'applied';
  events: LedgerEvent[];
  anomalies: Anomaly[];
  /** Records below the stored next offset: redelivered, and applied already. */
  skipped: number;
  nextOffset: bigint;
  /** The offset of the last record handled (applied or skipped), for kafkajs resolveOffset. */
  lastHandledOffset: string | undefined;
  /** The record this reader cannot decode. The batch stops before it and it stays unapplied. */
  failure: { offset: string; error: LedgerDecodeError } | undefined;
}

export type BatchOutcome = RepositionOutcome | AppliedOutcome;

function decodeUntilFailure(records: BatchInput['records']): { events: LedgerEvent[]; failure: AppliedOutcome['failure'] } {
  const events: LedgerEvent[] = [];
  for (const record of records) {
    try {
      events.push(decodeForProjection(record.value));
    } catch (error) {
      if (!(error instanceof LedgerDecodeError)) throw error;
      return { events, failure: { offset: record.offset, error } };
    }
  }
  return { events, failure: undefined };
}

function lastOffsetBefore(records: BatchInput['records'], limit: string | undefined): string | undefined {
  if (limit === undefined) return records.at(-1)?.offset;
  const before = records.filter((record) => BigInt(record.offset) < BigInt(limit));
  return before.at(-1)?.offset;
}

/**
 * Records each merge that an alias started. The first merge of a person is
 * kept: the decider never merges a person twice, and a redelivered event
 * changes nothing.
 */
async function writePersonMerges(client: pg.PoolClient, events: LedgerEvent[]): Promise<void> {
  const merges = events.filter((event): event is UsageTransferredOutEvent => event.type === 'UsageTransferredOut' && event.reservationId === undefined);
  if (merges.length === 0) return;
  await client.query(
    `INSERT INTO person_merges (workspace_id, person_id, merged_into, transfer_id, merged_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
     ON CONFLICT (workspace_id, person_id) DO NOTHING`,
    [
      merges.map((event) => event.workspaceId),
      merges.map((event) => event.personId),
      merges.map((event) => event.targetPersonId),
      merges.map((event) => event.transferId),
      merges.map((event) => new Date(event.at).toISOString()),
    ],
  );
}

/**
 * Applies one batch of one partition in a single PostgreSQL transaction: lock
 * the partition's offset row, skip records below the stored next offset,
 * write the counters, reservations, subscriptions and credits of the rest,
 * and store the new next offset. Rows and offset commit together or not at all.
 */
export async function projectBatch(pool: pg.Pool, input: BatchInput): Promise<BatchOutcome> {
  return withTransaction(pool, async (client): Promise<BatchOutcome> => {
    const storedNext = await lockNextOffset(client, input.projector, input.topic, input.partition);

    // The consumer seeks to the stored offset after each assignment, but a
    // fetch may start before that seek, from Kafka's committed offset, which
    // can be behind the stored one or ahead of it. Such a first batch is not
    // applied: the consumer seeks to the stored offset instead.
    if (!input.positioned && input.firstOffset !== null && BigInt(input.firstOffset) !== storedNext) {
      return { kind: 'reposition', offset: storedNext };
    }

    const pending = input.records.filter((record) => BigInt(record.offset) >= storedNext);
    const { events, failure } = decodeUntilFailure(pending);

    let anomalies: Anomaly[] = [];
    if (events.length > 0) {
      const stored = await loadReservations(client, referencedReservations(events));
      const plan = planProjection(events, stored);
      await writeCounterChanges(client, plan.counterChanges);
      await writeReservations(client, plan.reservations);
      anomalies = plan.anomalies;

      const subscriptions = await loadSubscriptions(client, subscriptionPersons(events));
      const recorded = await recordedSubscriptionEvents(client, subscriptionEventIds(events));
      await writeAccountPlan(client, planAccountProjection(events, subscriptions, recorded));
      await writePersonMerges(client, events);
    }

    // Without a failure the whole fetched range is handled, control records
    // included, so the next offset is past the batch's last offset.
    let nextOffset = BigInt(input.lastOffset) + 1n;
    if (failure !== undefined) nextOffset = BigInt(failure.offset);
    if (nextOffset < storedNext) nextOffset = storedNext;
    if (nextOffset !== storedNext) {
      await saveNextOffset(client, input.projector, input.topic, input.partition, nextOffset);
    }

    return {
      kind: 'applied',
      events,
      anomalies,
      skipped: input.records.length - pending.length,
      nextOffset,
      lastHandledOffset: lastOffsetBefore(input.records, failure?.offset),
      failure,
    };
  });
}
