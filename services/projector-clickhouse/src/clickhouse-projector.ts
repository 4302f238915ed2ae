import type { ClickHouseClient } from '@clickhouse/client';
import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';

import { CLICKHOUSE, ensureClickHouseSchema, insertEventRows, type EventRow } from '@vevee/clickhouse';
import type { LedgerDecodeError } from '@vevee/contracts';
import { KAFKA, groupId, ledgerTopic, runBatchConsumer } from '@vevee/kafka';
import { CONFIG, LOGGER, METRICS, type Logger, type VeveeConfig } from '@vevee/platform';

import { decodeBatch } from './decode-batch';
import { createProjectorMetrics, type ProjectorMetrics } from './projector-metrics';

export const PROJECTOR_CLICKHOUSE_GROUP = 'vevee-projector-clickhouse';

/** A ledger partition whose projection stopped at a record that cannot be decoded. */
export interface StoppedPartition {
  topic: string;
  partition: number;
  /** The offset of the record that cannot be decoded. */
  offset: string;
  reason: string;
}

/**
 * Projects the ledger into the ClickHouse `events` table: one row per event,
 * one insert per fetched batch.
 */
@Injectable()
export class ClickHouseProjector implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger: Logger;
  private readonly metrics: ProjectorMetrics;
  private readonly stopped = new Map<string, StoppedPartition>();
  private consumer: Consumer | undefined;

  constructor(
    @Inject(CLICKHOUSE) private readonly client: ClickHouseClient,
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(CONFIG) private readonly config: VeveeConfig,
    @Inject(LOGGER) logger: Logger,
    @Inject(METRICS) registry: Registry,
  ) {
    this.logger = logger.child({ component: 'projector-clickhouse' });
    this.metrics = createProjectorMetrics(registry);
  }

  async onApplicationBootstrap(): Promise<void> {
    await ensureClickHouseSchema(this.client, this.config.clickhouseDatabase, this.logger);

    const topic = ledgerTopic(this.config);
    const group = groupId(this.config, PROJECTOR_CLICKHOUSE_GROUP);
    // A fetch waits at most 1 s for new records (kafkajs defaults to 5 s), so
    // shutdown, which waits for the fetch in flight, takes about a second.
    // Up to 4 MiB per partition and fetch (kafkajs defaults to 1 MiB) made
    // batches, and so inserts, of about 9,000 ledger events while catching up
    // in the throughput measurement (docs/clickhouse.md).
    const consumer = this.kafka.consumer({ groupId: group, maxWaitTimeInMs: 1_000, maxBytesPerPartition: 4 * 1024 * 1024 });
    this.consumer = consumer;
    // Offsets are resolved by hand, so a batch stopped at a record that
    // cannot be decoded does not move past that record.
    await runBatchConsumer(consumer, topic, (payload) => this.projectBatch(payload));
    this.logger.info({ topic, groupId: group }, 'clickhouse projector started');
  }

  async onModuleDestroy(): Promise<void> {
    // Runs before the ClickHouse client closes at application shutdown, and
    // waits for the batch in progress to finish its insert and commit.
    await this.consumer?.disconnect();
    this.consumer = undefined;
    this.logger.info('clickhouse projector stopped');
  }

  /** Returns the partitions stopped at a record that cannot be decoded, in the order they stopped. */
  stoppedPartitions(): StoppedPartition[] {
    return [...this.stopped.values()];
  }

  private async projectBatch({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, pause }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const decoded = decodeBatch(batch);

    if (decoded.lastOffset !== undefined) {
      await this.insert(decoded.rows, topic, partition);
      resolveOffset(decoded.lastOffset);
      // At-least-once: the offsets are committed only after the insert has
      // returned, so a crash in between redelivers the batch. The events table
      // collapses rows with the same event id and queries read it with FINAL,
      // so each event still counts once.
      await commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: (BigInt(decoded.lastOffset) + 1n).toString() }] }],
      });
    }

    if (decoded.failure !== undefined) {
      pause();
      this.stopPartition(topic, partition, decoded.failure);
    }
    await heartbeat();
  }

  private async insert(rows: EventRow[], topic: string, partition: number): Promise<void> {
    const endTimer = this.metrics.insertSeconds.startTimer();
    try {
      await insertEventRows(this.client, this.config.clickhouseDatabase, rows);
    } catch (error) {
      // Rethrown so that kafkajs retries the batch from the last committed offset.
      this.logger.error(
        { err: error, topic, partition, firstOffset: rows[0]?.ledger_offset, lastOffset: rows.at(-1)?.ledger_offset },
        'clickhouse insert of ledger batch failed; the batch will be retried',
      );
      throw error;
    } finally {
      endTimer();
    }
    this.metrics.rowsInserted.inc(rows.length);
  }

  private stopPartition(topic: string, partition: number, failure: LedgerDecodeError): void {
    const offset = failure.detail.offset ?? 'unknown';
    this.stopped.set(`${topic}:${partition}`, { topic, partition, offset, reason: failure.message });
    this.metrics.stoppedPartitions.set(this.stopped.size);
    this.logger.error(
      { err: failure, topic, partition, offset },
      'ledger record cannot be decoded; projection of this partition stopped until a reader that supports it is deployed',
    );
  }
}
