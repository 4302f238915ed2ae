import type { Kafka } from 'kafkajs';

import { ensureTopics, ingestDlqTopic, ingestTopic } from '@vevee/kafka';
import type { VeveeConfig } from '@vevee/platform';

/**
 * Creates the ingest topic and its dead-letter topic when missing, both with
 * `INGEST_PARTITIONS` partitions and the broker's default retention.
 */
export async function ensureIngestTopics(kafka: Kafka, config: Pick<VeveeConfig, 'namespace' | 'ingestPartitions'>): Promise<void> {
  await ensureTopics(kafka, [
    {
      topic: ingestTopic(config),
      numPartitions: config.ingestPartitions,
      partitionsVariable: 'INGEST_PARTITIONS',
      // The broker stamps each record with its append time. The sink judges
      // an event's timestamp against it, so the verdict does not depend on the
      // producer's clock and is the same when a record is delivered again.
      configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
    },
    { topic: ingestDlqTopic(config), numPartitions: config.ingestPartitions, partitionsVariable: 'INGEST_PARTITIONS' },
  ]);
}
