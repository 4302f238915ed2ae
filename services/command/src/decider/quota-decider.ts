import { randomUUID } from 'node:crypto';

import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Kafka, Producer } from 'kafkajs';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import { LedgerDecodeError, personKey, reservationIdFor } from '@vevee/contracts';
import { decide, type QuotaCommand, type QuotaReply } from '@vevee/domain';
import { KAFKA, ledgerTopic, partitionFor } from '@vevee/kafka';
import { CONFIG, LOGGER, METRICS, type Logger, type VeveeConfig } from '@vevee/platform';

import { CommandServiceError, overloaded, unavailable } from '../errors';
import { WorkspaceDirectory } from '../workspaces';
import { readPartitions } from './ledger-reader';
import { LedgerWriter } from './ledger-writer';
import { PartitionState } from './partition';

/** The most undurable events a partition may hold before new commands are rejected as overloaded. */
const MAX_PENDING_EVENTS_PER_PARTITION = 20_000;
const RECOVERY_RETRY_MS = 1_000;

interface DeciderMetrics {
  decisionSeconds: Histogram<'command'>;
  appendSeconds: Histogram;
  batchRecords: Histogram;
  recoveries: Counter;
}

function createMetrics(registry: Registry, pendingEvents: () => number): DeciderMetrics {
  new Gauge({
    name: 'vevee_decider_pending_events',
    help: 'Events decided but not yet durable in the ledger, across owned partitions.',
    registers: [registry],
    collect() {
      this.set(pendingEvents());
    },
  });
  return {
    decisionSeconds: new Histogram({
      name: 'vevee_decider_decision_seconds',
      help: 'Time from receiving a command to its durable reply, in seconds.',
      labelNames: ['command'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
    appendSeconds: new Histogram({
      name: 'vevee_decider_append_seconds',
      help: 'Duration of one group-commit append to the ledger, in seconds.',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
    batchRecords: new Histogram({
      name: 'vevee_decider_batch_records',
      help: 'Records per group-commit append.',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
      registers: [registry],
    }),
    recoveries: new Counter({
      name: 'vevee_decider_recoveries_total',
      help: 'Partitions rebuilt from the ledger after a failed append.',
      registers: [registry],
    }),
  };
}

/**
 * The single writer for the persons of the ledger partitions this process
 * owns. Commands for one partition are decided one after another on in-memory
 * state (JavaScript runs them to completion in turn), appended in batches, and
 * answered once their batch is durable.
 *
 * NOTE: this process owns every partition and nothing fences a second process
 * started on the same ledger; run one command process per ledger.
 */
@Injectable()
export class QuotaDecider implements OnApplicationBootstrap, OnApplicationShutdown {
  private partitions: PartitionState[] = [];
  private producer: Producer | undefined;
  private writer: LedgerWriter | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly topic: string;
  private readonly metrics: DeciderMetrics;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(CONFIG) private readonly config: VeveeConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) registry: Registry,
    @Inject(WorkspaceDirectory) private readonly workspaces: WorkspaceDirectory,
  ) {
    this.topic = ledgerTopic(config);
    this.metrics = createMetrics(registry, () => this.partitions.reduce((sum, partition) => sum + partition.pendingEvents, 0));
  }

  async onApplicationBootstrap(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: [this.topic] }).finally(() => admin.disconnect());
    const partitionCount = metadata.topics[0]!.partitions.length;
    this.partitions = Array.from({ length: partitionCount }, (_, partition) => new PartitionState(partition));

    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 } });
    await this.producer.connect();
    this.writer = new LedgerWriter(this.producer, this.topic, {
      onAppendFailed: (partitions, error) => this.onAppendFailed(partitions, error),
      onBatchWritten: (records, seconds) => {
        this.metrics.batchRecords.observe(records);
        this.metrics.appendSeconds.observe(seconds);
      },
    });

    await this.recover(this.partitions);
    this.sweeper = setInterval(() => this.sweepExpiries(), this.config.expirySweepMs);
    this.logger.info({ topic: this.topic, partitions: partitionCount }, 'decider serving');
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sweeper);
    await this.writer?.drain();
    await this.producer?.disconnect();
  }

  /**
   * Decides a command and resolves with the reply once every event it depends
   * on is durable. Rejects with a DomainError for a rejected command, or a
   * retriable CommandServiceError when the ledger cannot take it now.
   */
  async submit(command: QuotaCommand): Promise<QuotaReply> {
    const started = performance.now();
    const key = personKey(command.workspaceId, command.personId);
    const partition = this.partitions[partitionFor(key, this.partitions.length)];
    if (partition === undefined || partition.status === 'recovering') {
      throw unavailable('the decider for this person is recovering; retry with the same idempotency key');
    }
    if (partition.status === 'failed') {
      throw unavailable(`ledger partition ${partition.partition} is stopped on a record this version cannot read; see the command service log`);
    }
    if (partition.pendingEvents >= MAX_PENDING_EVENTS_PER_PARTITION) {
      throw overloaded(`the decider for this person has ${partition.pendingEvents} undurable events queued; retry with backoff`);
    }
    const plan = this.workspaces.plan(command.workspaceId);
    if (plan === undefined) {
      throw new CommandServiceError('internal', `workspace "${command.workspaceId}" has no plan`, false);
    }

    const now = Math.max(Date.now(), partition.lastAt);
    const decision = decide(partition.personState(key), command, {
      now,
      plan,
      newEventId: randomUUID,
      newReservationId: (personId) => reservationIdFor(personId, randomUUID()),
    });

    if (decision.events.length > 0) {
      partition.lastAt = now;
      partition.pendingEvents += decision.events.length;
      const append = this.writer!.append(partition.partition, decision.events);
      partition.lastAppend = append;
      for (const event of decision.events) {
        if (event.type === 'QuotaReserved') partition.expiries.push(event.expiresAt, key);
      }
      const count = decision.events.length;
      void append.then(
        () => {
          partition.pendingEvents = Math.max(0, partition.pendingEvents - count);
        },
        () => undefined,
      );
    }
    // A reply that appends nothing (a repeat, a rejection) still read state that
    // may include undurable events, so it waits for them too.
    if (partition.lastAppend !== undefined) {
      await partition.lastAppend;
    }
    this.metrics.decisionSeconds.observe({ command: command.kind }, (performance.now() - started) / 1000);
    if (decision.error !== undefined) throw decision.error;
    return decision.reply!;
  }

  private sweepExpiries(): void {
    const now = Date.now();
    for (const partition of this.partitions) {
      if (partition.status !== 'serving') continue;
      for (const key of partition.expiries.popDue(now)) {
        const separator = key.indexOf(':');
        const command: QuotaCommand = { kind: 'expire', workspaceId: key.slice(0, separator), personId: key.slice(separator + 1) };
        this.submit(command).catch((error: unknown) => {
          // The hold stays in state, and the next command for the person expires it.
          this.logger.warn({ err: error, partition: partition.partition, personKey: key }, 'expiry sweep failed for a person');
        });
      }
    }
  }

  private onAppendFailed(partitions: Set<number>, error: unknown): void {
    this.logger.error({ err: error, partitions: [...partitions] }, 'ledger append failed; rebuilding the partitions from the log');
    const affected = [...partitions].map((partition) => this.partitions[partition]!);
    for (const partition of affected) partition.reset();
    this.metrics.recoveries.inc(affected.length);
    void this.recover(affected);
  }

  /** Rebuilds partitions from the log, retrying until it succeeds; their commands are rejected as unavailable meanwhile. */
  private async recover(partitions: PartitionState[]): Promise<void> {
    for (;;) {
      try {
        for (const partition of partitions) partition.reset();
        const started = performance.now();
        await readPartitions(
          this.kafka,
          this.topic,
          partitions.map((partition) => partition.partition),
          (partition, event) => this.partitions[partition]!.replay(event),
          this.logger,
        );
        for (const partition of partitions) partition.status = 'serving';
        this.logger.info({ partitions: partitions.map((partition) => partition.partition), ms: Math.round(performance.now() - started) }, 'partitions recovered from the ledger');
        return;
      } catch (error) {
        if (error instanceof LedgerDecodeError) {
          // Skipping a record would decide on an incomplete history: stop instead.
          for (const partition of partitions) partition.status = 'failed';
          this.logger.error({ err: error, ...error.detail }, 'ledger partition stopped: a record cannot be read by this version');
          return;
        }
        this.logger.error({ err: error, partitions: partitions.map((partition) => partition.partition) }, 'partition recovery failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, RECOVERY_RETRY_MS));
      }
    }
  }
}
