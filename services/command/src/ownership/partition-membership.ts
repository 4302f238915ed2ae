import { AssignerProtocol, type Consumer, type EachBatchPayload, type Kafka } from 'kafkajs';

import type { Logger } from '@vevee/platform';

import { decodeAdvert, stickyAssigner } from './sticky-assigner';

export interface MembershipHooks {
  /** The full set of partitions assigned to this replica after a group join. */
  onAssignment(partitions: number[]): void;
  /** Records fetched for a partition that was resumed for replay. */
  onBatch(payload: EachBatchPayload): void;
  /** The consumer finished a fetch of a partition up to `lastOffset`, control records included. */
  onProgress(partition: number, lastOffset: bigint, highWatermark: bigint): void;
}

export interface MembershipOptions {
  groupId: string;
  topic: string;
  /** This replica's base URL, advertised to the others for forwarding. */
  url: string;
  sessionTimeoutMs: number;
  owned: () => number[];
}

/**
 * This replica's membership in the command service's consumer group. The
 * group decides which replica owns which ledger partition; the consumer reads
 * a partition only while its new owner replays it, and stays paused otherwise.
 * Fencing does not depend on the group: two replicas that both believe they
 * own a partition are kept apart by the partition's transactional id.
 */
export class PartitionMembership {
  private consumer: Consumer | undefined;
  private routes = new Map<number, string>();

  constructor(
    private readonly kafka: Kafka,
    private readonly options: MembershipOptions,
    private readonly hooks: MembershipHooks,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const { topic } = this.options;
    const consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      partitionAssigners: [stickyAssigner(() => ({ url: this.options.url, owned: this.options.owned() }))],
      sessionTimeout: this.options.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(this.options.sessionTimeoutMs / 6)),
      rebalanceTimeout: 30_000,
      maxWaitTimeInMs: 250,
      maxBytesPerPartition: 8 * 1024 * 1024,
      allowAutoTopicCreation: false,
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const assigned = [...(event.payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
      // Nothing is read from a partition until its new owner resumes it for replay.
      consumer.pause([{ topic, partitions: assigned }]);
      this.hooks.onAssignment(assigned);
      void this.refreshRoutes();
    });
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
      this.hooks.onProgress(event.payload.partition, BigInt(event.payload.lastOffset), BigInt(event.payload.highWatermark));
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.logger.error({ err: event.payload.error, restart: event.payload.restart }, 'command group consumer crashed');
    });
    this.consumer = consumer;

    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async (payload) => this.hooks.onBatch(payload),
    });
  }

  async stop(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.disconnect();
  }

  /** Starts reading a partition from `offset`, for replay. */
  replayFrom(partition: number, offset: bigint): void {
    this.consumer?.seek({ topic: this.options.topic, partition, offset: offset.toString() });
    this.consumer?.resume([{ topic: this.options.topic, partitions: [partition] }]);
  }

  pause(partition: number): void {
    this.consumer?.pause([{ topic: this.options.topic, partitions: [partition] }]);
  }

  /** Returns the URL of the replica that owns a partition, as of the last group join. */
  ownerUrl(partition: number): string | undefined {
    return this.routes.get(partition);
  }

  /** Reads every member's URL and assignment from the group, so any replica can forward to the owner. */
  async refreshRoutes(): Promise<void> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const { groups } = await admin.describeGroups([this.options.groupId]);
      const routes = new Map<number, string>();
      for (const member of groups[0]?.members ?? []) {
        const advert = decodeAdvert(AssignerProtocol.MemberMetadata.decode(member.memberMetadata)?.userData);
        const assignment = AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment ?? {};
        if (advert === undefined) continue;
        for (const partition of assignment[this.options.topic] ?? []) routes.set(partition, advert.url);
      }
      this.routes = routes;
    } catch (error) {
      this.logger.warn({ err: error, groupId: this.options.groupId }, 'could not read the command group members; forwarding uses the previous routes');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
