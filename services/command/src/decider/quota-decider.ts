import { randomUUID } from 'node:crypto';

import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { EachBatchPayload, Kafka } from 'kafkajs';
import type pg from 'pg';
import type { Registry } from 'prom-client';

import { LedgerDecodeError, decodeLedgerEvent, personKey, reservationIdFor } from '@vevee/contracts';
import { decide, emptyPersonState, nextCreditSettlement, type PersonState, type QuotaCommand, type QuotaReply } from '@vevee/domain';
import { KAFKA, groupId, ledgerTopic, partitionFor } from '@vevee/kafka';
import { CONFIG, Deferred, HTTP_URL, LOGGER, METRICS, type Logger, type VeveeConfig } from '@vevee/platform';
import { PG_POOL } from '@vevee/postgres';

import { CommandServiceError, overloaded, unavailable } from '../errors';
import { PartitionMembership } from '../ownership/partition-membership';
import { WorkspaceDirectory } from '../workspaces';
import { createDeciderMetrics, type DeciderMetrics } from './decider-metrics';
import { OwnedPartition } from './partition';
import { PartitionWriter } from './partition-writer';
import { SnapshotStore } from './snapshot-store';

/** The maximum number of undurable events per partition; past it, new commands are rejected as overloaded. */
const MAX_PENDING_EVENTS_PER_PARTITION = 2_000;
const TAKEOVER_RETRY_MS = 1_000;
export const COMMAND_GROUP = 'vevee-command';

/** The replica that decides a person's commands. */
export type PersonRoute = { kind: 'local' } | { kind: 'remote'; url: string } | { kind: 'unknown'; partition: number };

/**
 * The single writer for the persons of the ledger partitions this replica
 * owns. Replicas share the partitions through a consumer group. A replica that
 * takes a partition over first fences its previous owner (see PartitionWriter).
 * It then restores the latest snapshot, replays the ledger after it, and only
 * then serves. Commands for one partition are decided one after another on
 * in-memory state (each runs to completion on the event loop), appended in
 * transactions that group many decisions, and replied to once durable.
 */
@Injectable()
export class QuotaDecider implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly owned = new Map<number, OwnedPartition>();
  private partitionCount = 0;
  private membership: PartitionMembership | undefined;
  private url: string | undefined;
  private assignedOnce = false;
  private readyOnce = false;
  private readonly firstAssignmentServed = new Deferred<void>();
  private sweeper: NodeJS.Timeout | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly topic: string;
  private readonly snapshots: SnapshotStore;
  private readonly metrics: DeciderMetrics;
  private readonly log: Logger;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(CONFIG) private readonly config: VeveeConfig,
    @Inject(LOGGER) logger: Logger,
    @Inject(METRICS) registry: Registry,
    @Inject(WorkspaceDirectory) private readonly workspaces: WorkspaceDirectory,
    @Inject(PG_POOL) pool: pg.Pool,
    @Inject(HTTP_URL) private readonly httpUrl: Deferred<string>,
  ) {
    this.topic = ledgerTopic(config);
    this.log = logger.child({ component: 'decider' });
    this.snapshots = new SnapshotStore(pool, this.topic);
    this.metrics = createDeciderMetrics(registry, {
      pendingEvents: () => [...this.owned.values()].reduce((sum, owned) => sum + owned.pendingEvents, 0),
      ownedPartitions: () => this.owned.size,
      persons: (where) => [...this.owned.values()].reduce((sum, owned) => sum + (where === 'memory' ? owned.persons.size : owned.evicted.size), 0),
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: [this.topic] }).finally(() => admin.disconnect());
    this.partitionCount = metadata.topics[0]!.partitions.length;

    // The group learns this replica's URL, which is known once the server listens.
    void this.httpUrl.promise
      .then((url) => this.join(this.config.advertisedUrl ?? url))
      .catch((error: unknown) => this.log.error({ err: error }, 'joining the command group failed'));
    this.sweeper = setInterval(() => this.sweepExpiries(), this.config.expirySweepMs);
    this.snapshotTimer = setInterval(() => this.snapshotChangedPartitions(), this.config.snapshotIntervalMs);
  }

  /** Resolves once this replica serves every partition of its first assignment. */
  ready(): Promise<void> {
    return this.firstAssignmentServed.promise;
  }

  /** Returns true once the first assignment is served, for `/readyz`. */
  isReady(): boolean {
    return this.readyOnce;
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    clearInterval(this.snapshotTimer);
    // A final snapshot shortens the next owner's replay.
    await Promise.all([...this.owned.values()].map((owned) => this.takeSnapshot(owned)));
    for (const partition of [...this.owned.keys()]) this.release(partition);
    await this.membership?.stop();
  }

  /** Returns where a person's commands are decided. */
  locate(workspaceId: string, personId: string): PersonRoute {
    const partition = partitionFor(personKey(workspaceId, personId), this.partitionCount);
    if (this.owned.has(partition)) return { kind: 'local' };
    const url = this.membership?.ownerUrl(partition);
    if (url !== undefined && url !== this.url) return { kind: 'remote', url };
    return { kind: 'unknown', partition };
  }

  countForward(outcome: 'ok' | 'error'): void {
    this.metrics.forwarded.inc({ outcome });
  }

  /**
   * Decides a command and resolves with the reply once every event it depends
   * on is durable. Rejects with a DomainError for a rejected command, or a
   * retriable CommandServiceError when the person's partition cannot take it
   * here and now.
   */
  async submit(command: QuotaCommand): Promise<QuotaReply> {
    const started = performance.now();
    const key = personKey(command.workspaceId, command.personId);
    const partition = partitionFor(key, this.partitionCount);
    let owned = this.owned.get(partition);
    for (;;) {
      while (owned?.snapshotGate !== undefined) {
        await owned.snapshotGate;
        owned = this.owned.get(partition);
      }
      if (owned?.status !== 'serving' || !owned.evicted.has(key)) break;
      // Reading the state back waits, so the checks above run again after it.
      await this.loadEvicted(owned, key);
      owned = this.owned.get(partition);
    }
    if (owned === undefined) {
      throw unavailable(`ledger partition ${partition} is not owned by this replica; retry with the same idempotency key`);
    }
    if (owned.status === 'recovering') {
      const detail = owned.failure === undefined ? '' : ` (${owned.failure})`;
      throw unavailable(`ledger partition ${partition} is recovering${detail}; retry with the same idempotency key`);
    }
    if (owned.status !== 'serving') {
      throw unavailable(`ledger partition ${partition} is stopped: ${owned.failure ?? owned.status}; see the command service log`);
    }
    if (owned.pendingEvents >= MAX_PENDING_EVENTS_PER_PARTITION) {
      throw overloaded(`ledger partition ${partition} has ${owned.pendingEvents} undurable events queued; retry with backoff`);
    }
    const catalog = this.workspaces.catalog(command.workspaceId);
    if (catalog === undefined) {
      throw new CommandServiceError('internal', `workspace "${command.workspaceId}" has no plan`, false);
    }

    const wallClock = Date.now();
    const now = Math.max(wallClock, owned.lastAt);
    const state = owned.personState(key);
    owned.lastUsed.set(key, wallClock);
    const decision = decide(state, command, {
      now,
      catalog,
      newEventId: randomUUID,
      newReservationId: (personId) => reservationIdFor(personId, randomUUID()),
    });

    if (decision.events.length > 0) {
      owned.lastAt = now;
      const count = decision.events.length;
      owned.pendingEvents += count;
      owned.eventsSinceSnapshot += count;
      owned.changed.add(key);
      const append = owned.writer!.append(decision.events);
      owned.lastAppend = append;
      for (const event of decision.events) {
        if (event.type === 'QuotaReserved') owned.expiries.push(event.expiresAt, key);
      }
      if (decision.events.some((event) => event.type.startsWith('Credits'))) owned.creditSettlements.delete(key);
      void append.then(
        () => {
          owned.pendingEvents = Math.max(0, owned.pendingEvents - count);
        },
        () => undefined,
      );
    }
    if (state.grants.size > 0 && !owned.creditSettlements.has(key)) this.scheduleCreditSettlement(owned, key, state, catalog.timeZone, now);
    // A reply that appends nothing (a repeat, a rejection) still read state that
    // may include undurable events, so it waits for them too.
    if (owned.lastAppend !== undefined) {
      await owned.lastAppend;
    }
    this.metrics.decisionSeconds.observe({ command: command.kind }, (performance.now() - started) / 1000);
    if (decision.error !== undefined) throw decision.error;
    return decision.reply!;
  }

  private async join(url: string): Promise<void> {
    this.url = url;
    this.membership = new PartitionMembership(
      this.kafka,
      {
        groupId: groupId(this.config, COMMAND_GROUP),
        topic: this.topic,
        url,
        sessionTimeoutMs: this.config.commandSessionTimeoutMs,
        owned: () => [...this.owned.keys()],
      },
      {
        onAssignment: (partitions) => this.onAssignment(partitions),
        onBatch: (payload) => this.onReplayBatch(payload),
        onProgress: (partition, lastOffset, highWatermark) => this.onReplayProgress(partition, lastOffset, highWatermark),
      },
      this.log,
    );
    await this.membership.start();
    this.log.info({ url, topic: this.topic }, 'joined the command group');
  }

  private onAssignment(assigned: number[]): void {
    this.metrics.rebalances.inc();
    this.log.info({ partitions: assigned }, 'partitions assigned');
    for (const partition of [...this.owned.keys()]) {
      if (!assigned.includes(partition)) this.release(partition);
    }
    for (const partition of assigned) {
      const owned = this.owned.get(partition);
      if (owned === undefined) {
        void this.takeOver(partition, 'assigned');
      } else if (owned.replay !== undefined) {
        // A join pauses every assigned partition and drops earlier seeks, so a
        // replay in progress restarts where it stopped.
        this.membership?.replayFrom(partition, owned.replay.next);
      }
    }
    this.assignedOnce = true;
    this.checkReady();
  }

  /**
   * Makes this replica the partition's writer: fences the previous writer,
   * restores the snapshot, and starts replaying the ledger after it.
   */
  private async takeOver(partition: number, reason: 'assigned' | 'append_failed' | 'open_transaction'): Promise<void> {
    if (this.stopping) return;
    const owned = new OwnedPartition(partition);
    this.owned.set(partition, owned);
    this.metrics.recoveries.inc({ reason });
    const isCurrent = () => this.owned.get(partition) === owned;
    try {
      const writer = await PartitionWriter.open(this.kafka, this.topic, partition, this.transactionalIds(partition), {
        onFailed: (error, fenced) => this.onWriterFailed(owned, error, fenced),
        onBatchWritten: (records, seconds) => {
          this.metrics.batchRecords.observe(records);
          this.metrics.appendSeconds.observe(seconds);
        },
      });
      if (!isCurrent()) {
        await writer.close();
        return;
      }
      owned.writer = writer;

      const snapshot = await this.snapshots.load(partition);
      if (snapshot !== undefined) owned.restore(snapshot);
      const end = await this.endOffset(partition);
      if (!isCurrent()) return;
      if (owned.durableEnd >= end) {
        this.serve(owned);
      } else {
        owned.replay = { next: owned.durableEnd, end };
        this.membership?.replayFrom(partition, owned.durableEnd);
      }
    } catch (error) {
      this.log.error({ err: error, partition }, 'taking over a partition failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, TAKEOVER_RETRY_MS));
      if (isCurrent() && !this.stopping) {
        this.owned.delete(partition);
        await owned.writer?.close().catch(() => undefined);
        void this.takeOver(partition, reason);
      }
    }
  }

  private onReplayBatch({ batch }: EachBatchPayload): void {
    const owned = this.owned.get(batch.partition);
    const replay = owned?.replay;
    if (owned === undefined || replay === undefined) return;
    for (const message of batch.messages) {
      const offset = BigInt(message.offset);
      if (offset < replay.next) continue;
      if (offset >= replay.end) break;
      try {
        owned.replayEvent(decodeLedgerEvent(message.value));
      } catch (error) {
        if (!(error instanceof LedgerDecodeError)) throw error;
        // Deciding on an incomplete history could oversell: stop the partition instead.
        this.stopPartition(owned, `the record at offset ${message.offset} cannot be read: ${error.message}`);
        return;
      }
      replay.next = offset + 1n;
    }
  }

  private onReplayProgress(partition: number, lastOffset: bigint, highWatermark: bigint): void {
    const owned = this.owned.get(partition);
    if (owned?.replay === undefined) return;
    if (highWatermark > owned.replay.end) {
      // No process writes the partition while its new owner replays it, so records
      // past the committed end belong to a transaction whose markers are not
      // written yet, or never will be (a hanging transaction). Deciding without
      // them could oversell, so the takeover starts again later.
      const reason = `records from offset ${owned.replay.end} to ${highWatermark} belong to a transaction without commit markers`;
      owned.replay = undefined;
      owned.failure = reason;
      this.membership?.pause(partition);
      this.log.warn({ topic: this.topic, partition, reason }, 'partition takeover waits for an open transaction; a hanging one needs kafka-transactions.sh abort');
      setTimeout(() => {
        if (this.owned.get(partition) !== owned || this.stopping) return;
        this.owned.delete(partition);
        void owned.writer?.close().catch(() => undefined);
        void this.takeOver(partition, 'open_transaction');
      }, TAKEOVER_RETRY_MS);
      return;
    }
    if (lastOffset + 1n < owned.replay.end) return;
    owned.durableEnd = owned.replay.end;
    owned.replay = undefined;
    this.membership?.pause(partition);
    this.serve(owned);
  }

  private stopPartition(owned: OwnedPartition, reason: string): void {
    owned.status = 'failed';
    owned.failure = reason;
    owned.replay = undefined;
    this.membership?.pause(owned.partition);
    this.log.error({ topic: this.topic, partition: owned.partition, reason }, 'ledger partition stopped');
    this.checkReady();
  }

  private serve(owned: OwnedPartition): void {
    const now = Math.max(Date.now(), owned.lastAt);
    for (const [key, state] of owned.persons) {
      if (state.grants.size === 0) continue;
      const timeZone = this.workspaces.catalog(key.slice(0, key.indexOf(':')))?.timeZone;
      if (timeZone !== undefined) this.scheduleCreditSettlement(owned, key, state, timeZone, now);
    }
    owned.status = 'serving';
    this.log.info({ partition: owned.partition, persons: owned.persons.size, offset: owned.durableEnd.toString() }, 'partition serving');
    this.checkReady();
  }

  private checkReady(): void {
    if (this.assignedOnce && [...this.owned.values()].every((owned) => owned.status !== 'recovering')) {
      this.readyOnce = true;
      this.firstAssignmentServed.resolve();
    }
  }

  /** Stops serving a partition. Commands already decided finish their append. */
  private release(partition: number): void {
    const owned = this.owned.get(partition);
    if (owned === undefined) return;
    this.owned.delete(partition);
    owned.status = 'released';
    void owned.writer?.close().catch((error: unknown) => this.log.warn({ err: error, partition }, 'closing a partition writer failed'));
    this.log.info({ partition }, 'partition released');
  }

  private onWriterFailed(owned: OwnedPartition, error: unknown, fenced: boolean): void {
    if (this.owned.get(owned.partition) !== owned) return;
    if (fenced) {
      // Another replica took the partition over, and the next rebalance reports it too.
      this.log.warn({ err: error, partition: owned.partition }, 'partition writer was fenced by a newer owner; releasing the partition');
      this.release(owned.partition);
      return;
    }
    this.log.error({ err: error, partition: owned.partition }, 'ledger append failed; rebuilding the partition from its snapshot and the ledger');
    this.owned.delete(owned.partition);
    void owned.writer?.close().catch(() => undefined);
    void this.takeOver(owned.partition, 'append_failed');
  }

  /** Returns the partition's two transactional ids; every writer of the partition uses both. */
  private transactionalIds(partition: number): readonly [string, string] {
    return [`${this.topic}.decider.${partition}.a`, `${this.topic}.decider.${partition}.b`];
  }

  private async endOffset(partition: number): Promise<bigint> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(this.topic);
      return BigInt(offsets.find((offset) => offset.partition === partition)?.high ?? '0');
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Wakes the person when its credits next need settling (a renewal, or an
   * expiry with credit left), so that those events reach the ledger, and the
   * balances read from PostgreSQL, without waiting for the person's next
   * command. Each person has one pending settlement time at most.
   */
  private scheduleCreditSettlement(owned: OwnedPartition, key: string, state: PersonState, timeZone: string, now: number): void {
    // Infinity marks a person with nothing due, so later decisions skip the computation.
    const due = nextCreditSettlement(state, timeZone, now) ?? Infinity;
    owned.creditSettlements.set(key, due);
    if (due !== Infinity) owned.expiries.push(due, key);
  }

  private sweepExpiries(): void {
    const now = Date.now();
    for (const owned of this.owned.values()) {
      if (owned.status !== 'serving') continue;
      for (const key of owned.expiries.popDue(now)) {
        // The expire command also settles credits, and the decision schedules the next wake-up.
        if ((owned.creditSettlements.get(key) ?? Infinity) <= now) owned.creditSettlements.delete(key);
        const separator = key.indexOf(':');
        const command: QuotaCommand = { kind: 'expire', workspaceId: key.slice(0, separator), personId: key.slice(separator + 1) };
        this.submit(command).catch((error: unknown) => {
          // The hold stays in state, and the next command for the person expires it.
          this.log.warn({ err: error, partition: owned.partition, personKey: key }, 'expiry sweep failed for a person');
        });
      }
    }
  }

  /** Reads an evicted person's state back from its snapshot row; concurrent commands for the person share one read. */
  private async loadEvicted(owned: OwnedPartition, key: string): Promise<void> {
    let loading = owned.loading.get(key);
    if (loading === undefined) {
      loading = this.snapshots
        .loadPerson(owned.partition, key)
        .then((state) => {
          // A person with no row had no events, so it starts empty.
          if (owned.evicted.delete(key)) owned.persons.set(key, state ?? emptyPersonState());
          this.metrics.personReads.inc();
        })
        .finally(() => owned.loading.delete(key));
      owned.loading.set(key, loading);
    }
    try {
      await loading;
    } catch (error) {
      this.log.warn({ err: error, partition: owned.partition, personKey: key }, 'reading an evicted person from its snapshot failed');
      throw unavailable(`reading the person's state from PostgreSQL failed (${(error as Error).message}); retry with the same idempotency key`);
    }
  }

  private snapshotChangedPartitions(): void {
    for (const owned of this.owned.values()) {
      if (owned.eventsSinceSnapshot > 0 && owned.snapshotGate === undefined && owned.snapshotWrite === undefined) {
        void this.takeSnapshot(owned);
      } else if (owned.eventsSinceSnapshot === 0 && owned.snapshotWrite === undefined) {
        this.evictIdle(owned);
      }
    }
  }

  /** Drops the persons idle for DECIDER_PERSON_IDLE_MS whose events a written snapshot holds. */
  private evictIdle(owned: OwnedPartition): void {
    if (this.config.personIdleMs === 0 || owned.status !== 'serving') return;
    const evicted = owned.evictIdle(Date.now() - this.config.personIdleMs);
    if (evicted > 0) this.log.debug({ partition: owned.partition, evicted, inMemory: owned.persons.size }, 'idle persons dropped from memory');
  }

  /**
   * Snapshots a partition at a point where every decided event is durable:
   * new commands wait while the last append finishes and the state is
   * serialized, then go on while the snapshot is written.
   */
  private async takeSnapshot(owned: OwnedPartition): Promise<void> {
    while (owned.snapshotWrite !== undefined) await owned.snapshotWrite;
    if (owned.status !== 'serving' || owned.snapshotGate !== undefined) return;
    const gate = new Deferred<void>();
    owned.snapshotGate = gate.promise;
    let write: Promise<boolean> | undefined;
    let changed: string[] = [];
    try {
      await owned.lastAppend?.catch(() => undefined);
      if (owned.status === 'serving' && this.owned.get(owned.partition) === owned) {
        const end = owned.writer?.committedEnd ?? owned.durableEnd;
        changed = [...owned.changed];
        owned.changed.clear();
        write = this.snapshots.save(owned.partition, end > owned.durableEnd ? end : owned.durableEnd, owned.lastAt, owned.persons, changed);
        owned.eventsSinceSnapshot = 0;
      }
    } finally {
      owned.snapshotGate = undefined;
      gate.resolve();
    }
    if (write === undefined) return;
    const done = new Deferred<void>();
    owned.snapshotWrite = done.promise;
    // Persons a snapshot did not write stay for the next one.
    const keep = () => changed.forEach((key) => owned.changed.add(key));
    try {
      if (await write) {
        this.evictIdle(owned);
      } else {
        keep();
      }
    } catch (error) {
      keep();
      owned.eventsSinceSnapshot += 1;
      this.log.warn({ err: error, partition: owned.partition, persons: changed.length }, 'writing a decider snapshot failed; the next one retries');
    } finally {
      owned.snapshotWrite = undefined;
      done.resolve();
    }
  }
}
