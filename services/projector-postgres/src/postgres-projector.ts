import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type pg from 'pg';
import type { Registry } from 'prom-client';

import { KAFKA, ensureLedgerTopic, groupId, ledgerTopic, runBatchConsumer } from '@vevee/kafka';
import { CONFIG, LOGGER, METRICS, type Logger, type VeveeConfig } from '@vevee/platform';
import { PG_POOL } from '@vevee/postgres';

import { projectBatch, type AppliedOutcome } from './project-batch';
import { ProjectorPostgresMetrics } from './projector-metrics';
import { projectedOffsets } from './progress';

/** The projector's name in projector_offsets. */
export const POSTGRES_PROJECTOR = 'projector-postgres';
/** The consumer group name, inside the configured namespace (see groupId). */
export const POSTGRES_PROJECTOR_GROUP = 'vevee-projector-postgres';

/**
 * Partitions applied at once. Each uses one pooled connection during its
 * transaction, and the pool (10 connections) is shared with the other services.
 */
const PARTITIONS_CONSUMED_CONCURRENTLY = 3;

/**
 * How long a fetch waits on the broker for new records. Shutdown waits for the
 * fetch in flight, so this bounds the shutdown time. Records are still
 * delivered as soon as they arrive.
 */
const MAX_FETCH_WAIT_MS = 1_000;

const REQUIRED_TABLES = ['projector_offsets', 'usage_counters', 'reservations'];

/** A partition stopped at a record this reader cannot decode. */
export interface StoppedPartition {
  topic: string;
  partition: number;
  offset: string;
  reason: string;
}

/**
 * Consumes the ledger and keeps usage_counters and reservations in PostgreSQL.
 *
 * Delivery guarantee: exactly-once effect. Kafka delivers at least once, but
 * each batch's rows and the partition's next offset commit in one PostgreSQL
 * transaction, and every record below the stored offset is skipped. Kafka's own
 * committed offset is only a hint, committed after PostgreSQL. On each
 * assignment the consumer seeks to the stored offset instead. So a restart
 * reads neither from too early (a crash between the two commits, an offset
 * reset) nor from too late (a database restored from a backup, or a new one).
 */
@Injectable()
export class PostgresProjector implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private consumer: Consumer | undefined;
  private readonly topic: string;
  private readonly log: Logger;
  private readonly metrics: ProjectorPostgresMetrics;
  /** Partitions whose position was checked against the stored offset since the last assignment. */
  private readonly positioned = new Set<number>();
  private readonly stopped = new Map<number, StoppedPartition>();

  constructor(
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(CONFIG) private readonly config: VeveeConfig,
    @Inject(LOGGER) logger: Logger,
    @Inject(METRICS) registry: Registry,
  ) {
    this.topic = ledgerTopic(config);
    this.log = logger.child({ component: POSTGRES_PROJECTOR });
    this.metrics = new ProjectorPostgresMetrics(registry, () => this.stopped.size);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.checkSchema();
    await ensureLedgerTopic(this.kafka, this.config);
    await this.checkProjectionMatchesLedger();

    const group = groupId(this.config, POSTGRES_PROJECTOR_GROUP);
    const consumer = this.kafka.consumer({ groupId: group, allowAutoTopicCreation: false, maxWaitTimeInMs: MAX_FETCH_WAIT_MS });
    consumer.on(consumer.events.GROUP_JOIN, (event) => this.onAssignment(event.payload.memberAssignment[this.topic] ?? []));
    consumer.on(consumer.events.CRASH, (event) => {
      this.log.error({ err: event.payload.error, restart: event.payload.restart }, 'projector consumer crashed');
    });
    this.consumer = consumer;

    // The Kafka offsets are only a hint: a partition starts at the offset stored in PostgreSQL.
    await runBatchConsumer(consumer, this.topic, (payload) => this.handleBatch(payload), {
      autoCommit: true,
      partitionsConsumedConcurrently: PARTITIONS_CONSUMED_CONCURRENTLY,
    });
    this.log.info({ topic: this.topic, groupId: group }, 'postgres projector started');
  }

  /**
   * Disconnects the consumer, which waits for the batch in flight. This runs
   * before every module's onApplicationShutdown, so the pool that the batch
   * uses is still open.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    if (consumer === undefined) return;
    await consumer.disconnect();
    this.log.info({ topic: this.topic }, 'postgres projector stopped');
  }

  /** Returns the partitions stopped at a record this reader cannot decode. */
  stoppedPartitions(): StoppedPartition[] {
    return [...this.stopped.values()];
  }

  private async checkSchema(): Promise<void> {
    const result = await this.pool.query<{ name: string }>(
      'SELECT name FROM unnest($1::text[]) AS required(name) WHERE to_regclass(name) IS NULL',
      [REQUIRED_TABLES],
    );
    if (result.rows.length > 0) {
      const missing = result.rows.map((row) => row.name).join(', ');
      throw new Error(`PostgreSQL has no table ${missing}: run migrate(DATABASE_URL) from @vevee/postgres before starting the projector`);
    }
  }

  /**
   * Fails when the database has projected past the end of a ledger partition,
   * which happens when the ledger was recreated under an old database: the
   * stored offsets would then skip the new ledger's events.
   */
  private async checkProjectionMatchesLedger(): Promise<void> {
    const stored = await projectedOffsets(this.pool, POSTGRES_PROJECTOR, this.topic);
    if (stored.size === 0) return;
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      for (const { partition, high } of await admin.fetchTopicOffsets(this.topic)) {
        const projected = stored.get(partition) ?? 0n;
        if (projected > BigInt(high)) {
          throw new Error(
            `PostgreSQL has projected ${this.topic}[${partition}] up to offset ${projected}, but the ledger partition ends at ${high}: ` +
              'the ledger was recreated after this database was built. Point DATABASE_URL at a new database, or drop this one',
          );
        }
      }
    } finally {
      await admin.disconnect();
    }
  }

  private onAssignment(partitions: number[]): void {
    // kafkajs restarts every assigned partition from Kafka's committed offset
    // after a join, so each must be moved to the stored offset again.
    this.positioned.clear();
    for (const partition of this.stopped.keys()) {
      if (!partitions.includes(partition)) this.stopped.delete(partition);
    }
    this.metrics.lag.reset();
    this.seekToStoredOffsets(partitions).catch((error: unknown) => {
      this.log.error({ err: error, topic: this.topic, partitions }, 'projector could not read its stored offsets; the first batch of each partition checks them instead');
    });
  }

  /**
   * Seeks each assigned partition to its stored next offset, or to the start
   * of the log when it has none, so a new database is rebuilt from the whole
   * ledger even when Kafka's committed offset is at the end. A fetch that
   * raced ahead of this seek is caught by projectBatch's own check.
   */
  private async seekToStoredOffsets(partitions: number[]): Promise<void> {
    const stored = await projectedOffsets(this.pool, POSTGRES_PROJECTOR, this.topic);
    for (const partition of partitions) {
      // A batch of this partition checked its position while the query ran.
      if (this.positioned.has(partition)) continue;
      const offset = (stored.get(partition) ?? 0n).toString();
      this.log.debug({ topic: this.topic, partition, offset }, 'projector seeks to its stored offset');
      this.consumer?.seek({ topic: this.topic, partition, offset });
      this.positioned.add(partition);
    }
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (!payload.isRunning() || payload.isStale()) return;

    const endTimer = this.metrics.batchSeconds.startTimer();
    let outcome;
    try {
      outcome = await projectBatch(this.pool, {
        projector: POSTGRES_PROJECTOR,
        topic: batch.topic,
        partition: batch.partition,
        records: batch.messages,
        firstOffset: batch.firstOffset(),
        lastOffset: batch.lastOffset(),
        positioned: this.positioned.has(batch.partition),
      });
    } catch (error) {
      this.log.error({ err: error, topic: batch.topic, partition: batch.partition, offset: batch.firstOffset() }, 'projector batch failed; kafkajs retries it');
      throw error;
    }
    this.positioned.add(batch.partition);

    if (outcome.kind === 'reposition') {
      this.log.info(
        { topic: batch.topic, partition: batch.partition, offset: outcome.offset.toString(), fetchedOffset: batch.firstOffset() },
        'projector seeks to its stored offset',
      );
      this.consumer?.seek({ topic: batch.topic, partition: batch.partition, offset: outcome.offset.toString() });
      return;
    }

    endTimer();
    this.record(outcome, batch.partition, batch.messages.length);

    // Kafka's offset is committed only after the rows are committed in
    // PostgreSQL. A crash between the two redelivers records that the stored
    // offset then skips.
    if (outcome.lastHandledOffset !== undefined) {
      payload.resolveOffset(outcome.lastHandledOffset);
      await payload.commitOffsetsIfNecessary();
    }

    if (outcome.failure !== undefined) {
      this.stopPartition(payload, outcome.failure);
    } else {
      this.metrics.lag.set({ partition: String(batch.partition) }, Number(batch.offsetLag()));
    }
  }

  private record(outcome: AppliedOutcome, partition: number, batchSize: number): void {
    this.metrics.batchSize.observe(batchSize);
    this.metrics.recordsSkipped.inc(outcome.skipped);
    for (const event of outcome.events) {
      this.metrics.eventsApplied.inc({ type: event.type });
    }
    for (const { event, reason } of outcome.anomalies) {
      this.metrics.anomalies.inc({ type: event.type });
      this.log.warn(
        {
          workspaceId: event.workspaceId,
          personId: event.personId,
          eventId: event.eventId,
          type: event.type,
          reservationId: 'reservationId' in event ? event.reservationId : undefined,
          partition,
          reason,
        },
        'projector applied an event that does not match the projected reservation',
      );
    }
  }

  private stopPartition(payload: EachBatchPayload, failure: NonNullable<AppliedOutcome['failure']>): void {
    const { topic, partition } = payload.batch;
    payload.pause();
    this.stopped.set(partition, { topic, partition, offset: failure.offset, reason: failure.error.message });
    this.log.error(
      { topic, partition, offset: failure.offset, err: failure.error },
      'projector stopped the partition at a ledger record it cannot decode; deploy a projector that reads it and restart',
    );
  }
}
