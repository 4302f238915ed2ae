import { randomUUID } from 'node:crypto';

import type { Kafka } from 'kafkajs';

import { LedgerDecodeError, decodeLedgerEvent, type LedgerEvent } from '@vevee/contracts';
import type { Logger } from '@vevee/platform';

/**
 * Reads partitions of the ledger from the beginning up to their current end
 * and hands each event to `onEvent` in log order. It uses a throwaway consumer
 * group and commits nothing.
 */
export async function readPartitions(
  kafka: Kafka,
  topic: string,
  partitions: number[],
  onEvent: (partition: number, event: LedgerEvent) => void,
  logger: Logger,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(
      offsets
        .filter((offset) => partitions.includes(offset.partition) && BigInt(offset.high) > BigInt(offset.low))
        .map((offset) => [offset.partition, BigInt(offset.high)]),
    );
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return;

  const groupId = `${topic}.restore.${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxBytesPerPartition: 8 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 });
  const remaining = new Set(ends.keys());
  let finish!: () => void;
  let fail!: (error: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });

  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const end = ends.get(batch.partition);
        if (end === undefined || !remaining.has(batch.partition)) return;
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset >= end) break;
          try {
            onEvent(batch.partition, decodeLedgerEvent(message.value));
          } catch (error) {
            const detail = error instanceof Error ? error.message : String(error);
            fail(new LedgerDecodeError(`cannot read ledger record at ${topic}[${batch.partition}]@${message.offset}: ${detail}`, { topic, partition: batch.partition, offset: message.offset }));
            return;
          }
        }
        // Compare with the batch's last offset, not the last record's, because
        // control records of transactions take offsets too.
        if (BigInt(batch.lastOffset()) + 1n >= end) {
          remaining.delete(batch.partition);
          if (remaining.size === 0) finish();
        }
      },
    });
    await done;
  } finally {
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteGroups([groupId]).catch((error: unknown) => logger.warn({ err: error, groupId }, 'could not delete the restore consumer group; it expires on its own'));
    await cleanup.disconnect();
  }
}
