import type { ClickHouseClient } from '@clickhouse/client';
import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';

import { CLICKHOUSE, ensureClickHouseSchema, insertEventRows, type EventRow } from '@vevee/clickhouse';
import { WorkspaceDirectory } from '@vevee/command';
import { KAFKA, groupId, ingestDlqTopic, ingestTopic, runBatchConsumer } from '@vevee/kafka';
import { CONFIG, LOGGER, type Logger, type VeveeConfig } from '@vevee/platform';

import { DeadLetterWriter, type DeadLetter } from './dead-letters';
import { INGEST_METRICS, type IngestMetrics } from './ingest-metrics';
import type { IngestEvent, IngestRejection } from './ingest-record';
import { ensureIngestTopics } from './ingest-topics';
import { trackMeteredEvents } from './metered-events';
import { sortBatch } from './sink-batch';

export const INGEST_GROUP = 'vevee-ingest';

/**
 * Returns why a workspace cannot take an event: the workspace is not
 * configured, or the event's meter is not in its plan. Undefined when it can.
 */
export function checkWorkspace(directory: WorkspaceDirectory, event: Pick<IngestEvent, 'workspaceId' | 'meter'>): IngestRejection | undefined {
  const catalog = directory.catalog(event.workspaceId);
  if (catalog === undefined) {
    return { field: 'workspaceId', reason: `unknown workspace "${event.workspaceId}": send the id of a workspace configured in Vevee` };
  }
  if (event.meter !== undefined && catalog.meters[event.meter] === undefined) {
    return { field: 'meter', reason: `unknown meter "${event.meter}"; the workspace defines: ${Object.keys(catalog.meters).join(', ')}` };
  }
  return undefined;
}

/**
 * Reads the ingest topic and stores each valid event once. An event without a
 * meter becomes a row of the ClickHouse `events` table. A metered event
 * becomes a Track command to the person's decider, and the ledger projectors
 * count it from there. An invalid record goes to the dead-letter topic with
 * its reason.
 */
@Injectable()
export class IngestSink implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger: Logger;
  private consumer: Consumer | undefined;
  private deadLetters: DeadLetterWriter | undefined;

  constructor(
    @Inject(CLICKHOUSE) private readonly client: ClickHouseClient,
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(CONFIG) private readonly config: VeveeConfig,
    @Inject(CommandBus) private readonly commandBus: CommandBus,
    @Inject(WorkspaceDirectory) private readonly workspaces: WorkspaceDirectory,
    @Inject(INGEST_METRICS) private readonly metrics: IngestMetrics,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'ingest' });
  }

  async onApplicationBootstrap(): Promise<void> {
    await ensureClickHouseSchema(this.client, this.config.clickhouseDatabase, this.logger);
    await ensureIngestTopics(this.kafka, this.config);

    const topic = ingestTopic(this.config);
    const group = groupId(this.config, INGEST_GROUP);
    this.deadLetters = new DeadLetterWriter(this.kafka, ingestDlqTopic(this.config), group, this.logger);
    // Large fetches make large inserts, which chdb and ClickHouse handle far
    // better than many small ones. A fetch waits at most 200 ms for new
    // records, which bounds the lag an idle partition adds. Partitions are
    // processed one at a time: with 3 at once, chdb 26.7 inserts contended
    // and throughput fell by half (docs/benchmarks.md).
    const consumer = this.kafka.consumer({
      groupId: group,
      maxWaitTimeInMs: 200,
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
    });
    this.consumer = consumer;
    await runBatchConsumer(consumer, topic, (payload) => this.storeBatch(payload));
    this.logger.info({ topic, groupId: group }, 'ingest sink started');
  }

  async onModuleDestroy(): Promise<void> {
    // Waits for the batch in progress to finish its insert and commit, before
    // the ClickHouse client closes at application shutdown.
    await this.consumer?.disconnect();
    this.consumer = undefined;
    await this.deadLetters?.close();
    this.logger.info('ingest sink stopped');
  }

  private async storeBatch({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const lastOffset = batch.lastOffset();
    if (batch.messages.length === 0) return;

    const limits = { maxAgeMs: this.config.ingestMaxAgeMs, maxFutureMs: this.config.ingestMaxFutureMs };
    const sorted = sortBatch(batch, limits, (event) => checkWorkspace(this.workspaces, event));

    // Both are idempotent: rows collapse by event id, and the decider returns
    // its first reply to a repeated idempotency key. So a crash before the
    // offsets commit, which redelivers the batch, adds nothing.
    const [meteredRejections] = await Promise.all([trackMeteredEvents(this.commandBus, sorted.metered, heartbeat), this.insert(sorted.rows, topic, partition)]);

    const deadLetters: DeadLetter[] = [...sorted.deadLetters];
    for (const rejection of meteredRejections) {
      const message = batch.messages.find((each) => each.offset === rejection.offset)!;
      deadLetters.push({ message, field: rejection.field, reason: rejection.reason });
    }

    const nextOffset = (BigInt(lastOffset) + 1n).toString();
    if (deadLetters.length > 0) {
      await this.deadLetters!.commit(deadLetters, { topic, partition, nextOffset });
      this.logger.warn(
        { topic, partition, rejected: deadLetters.length, first: { offset: deadLetters[0]!.message.offset, field: deadLetters[0]!.field, reason: deadLetters[0]!.reason } },
        'ingest records rejected to the dead-letter topic',
      );
    } else {
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: nextOffset }] }] });
    }
    resolveOffset(lastOffset);

    this.metrics.records.inc({ outcome: 'inserted' }, sorted.rows.length);
    this.metrics.records.inc({ outcome: 'metered' }, sorted.metered.length - meteredRejections.length);
    this.metrics.records.inc({ outcome: 'duplicate' }, sorted.duplicates);
    this.metrics.records.inc({ outcome: 'rejected' }, deadLetters.length);
    await heartbeat();
  }

  private async insert(rows: EventRow[], topic: string, partition: number): Promise<void> {
    if (rows.length === 0) return;
    const endTimer = this.metrics.insertSeconds.startTimer();
    try {
      await insertEventRows(this.client, this.config.clickhouseDatabase, rows);
    } catch (error) {
      // Rethrown so that kafkajs fetches the batch again from the last committed offset.
      this.logger.error(
        { err: error, topic, partition, firstOffset: rows[0]?.ledger_offset, lastOffset: rows.at(-1)?.ledger_offset },
        'clickhouse insert of ingest batch failed; the batch will be retried',
      );
      throw error;
    } finally {
      endTimer();
    }
  }
}
