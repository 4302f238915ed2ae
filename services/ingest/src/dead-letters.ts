import type { IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';

import type { Logger } from '@vevee/platform';

/** Headers of a dead-letter record. The value and key are the original record's. */
export const DLQ_HEADERS = {
  reason: 'vevee-dlq-reason',
  field: 'vevee-dlq-field',
  sourceTopic: 'vevee-dlq-source-topic',
  sourcePartition: 'vevee-dlq-source-partition',
  sourceOffset: 'vevee-dlq-source-offset',
} as const;

/** A rejected record of one source partition and why it was rejected. */
export interface DeadLetter {
  message: KafkaMessage;
  field: string;
  reason: string;
}

/** The position after a batch: the partition and the next offset to read. */
export interface SourcePosition {
  topic: string;
  partition: number;
  nextOffset: string;
}

function deadLetterHeaders(letter: DeadLetter, source: SourcePosition): IHeaders {
  return {
    // The original headers stay, so tools that read them still can.
    ...letter.message.headers,
    [DLQ_HEADERS.reason]: letter.reason,
    [DLQ_HEADERS.field]: letter.field,
    [DLQ_HEADERS.sourceTopic]: source.topic,
    [DLQ_HEADERS.sourcePartition]: String(source.partition),
    [DLQ_HEADERS.sourceOffset]: letter.message.offset,
  };
}

/**
 * Writes dead letters and the consumer group's offsets in one Kafka
 * transaction, so a crash leaves either both or neither: a redelivered batch
 * never writes its dead letters twice (for read_committed readers).
 *
 * Each source partition has its own transactional id, `<group>.dlq.<partition>`.
 * A process that takes a partition over registers the id again, which fences
 * the previous owner's producer, so a paused former owner cannot commit.
 */
export class DeadLetterWriter {
  private readonly producers = new Map<number, Producer>();

  constructor(
    private readonly kafka: Kafka,
    private readonly dlqTopic: string,
    private readonly consumerGroupId: string,
    private readonly logger: Logger,
  ) {}

  async commit(letters: DeadLetter[], source: SourcePosition): Promise<void> {
    const producer = await this.producerFor(source.partition);
    const transaction = await producer.transaction();
    try {
      await transaction.send({
        topic: this.dlqTopic,
        messages: letters.map((letter) => ({
          key: letter.message.key,
          value: letter.message.value,
          headers: deadLetterHeaders(letter, source),
        })),
      });
      await transaction.sendOffsets({
        consumerGroupId: this.consumerGroupId,
        topics: [{ topic: source.topic, partitions: [{ partition: source.partition, offset: source.nextOffset }] }],
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      // A failed or fenced producer is not reused: the next batch registers the id again.
      this.producers.delete(source.partition);
      await producer.disconnect().catch(() => undefined);
      this.logger.warn({ err: error, partition: source.partition, nextOffset: source.nextOffset }, 'dead-letter transaction failed; the batch will be retried');
      throw error;
    }
  }

  async close(): Promise<void> {
    const producers = [...this.producers.values()];
    this.producers.clear();
    await Promise.all(producers.map((producer) => producer.disconnect()));
  }

  private async producerFor(partition: number): Promise<Producer> {
    let producer = this.producers.get(partition);
    if (producer === undefined) {
      producer = this.kafka.producer({ transactionalId: `${this.consumerGroupId}.dlq.${partition}`, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      this.producers.set(partition, producer);
    }
    return producer;
  }
}
