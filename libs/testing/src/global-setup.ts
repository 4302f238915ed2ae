import { randomBytes } from 'node:crypto';

import { Kafka, logLevel } from 'kafkajs';

/**
 * Runs once before the test files. A new broker creates its group-offsets
 * topic on the first consumer-group request and answers "coordinator is
 * loading" until that topic's partitions are ready. kafkajs handles that
 * answer by crashing and restarting the consumer, and a test that closes its
 * consumer during the restart can see the crash as an unhandled error. Joining
 * one group here moves that start-up into this setup, before any test runs.
 */
export default async function warmUpBroker(): Promise<void> {
  const brokers = process.env.KAFKA_BROKERS;
  if (brokers === undefined || brokers === '') return;

  const kafka = new Kafka({ clientId: 'vevee-test-setup', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const topic = `vevee-test-setup-${randomBytes(4).toString('hex')}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const consumer = kafka.consumer({ groupId: topic, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1_000 } });
  try {
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
    await withTimeout(joined, 120_000, `the test broker at ${brokers} did not let a consumer join a group within 120 s`);
  } finally {
    await consumer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
}

function withTimeout(promise: Promise<void>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
