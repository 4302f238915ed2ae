import { Kafka, logLevel, type Producer } from 'kafkajs';

import { LatencySamples } from './recorder';

/** How long each probe mode appends, back to back. */
const PROBE_MS = 2_000;
const PROBE_TOPIC = 'bench.append-probe';
/** Partitions of the probe topic: the ledger's default, so the last mode matches the decider's writers. */
const PROBE_PARTITIONS = 12;

export interface AppendLatency {
  mode: string;
  appendsPerSecond: number;
  /** p50 and p99 of one append, in milliseconds. */
  p50Ms: number;
  p99Ms: number;
  /** Sends that kafkajs retried (it logs each retry as "Failed to send messages"). */
  retries: number;
}

interface ProbeMode {
  mode: string;
  transactional: boolean;
  /** Producers appending at once, each to its own partition. */
  producers: number;
}

/**
 * The retry settings of the decider's transactional writers (PartitionWriter) when this
 * was written. Their short first delay matters, because the retry waits out
 * CONCURRENT_TRANSACTIONS after each commit.
 */
const WRITER_RETRY = { retries: 10, initialRetryTime: 10, maxRetryTime: 2_000 };

const MODES: ProbeMode[] = [
  { mode: 'idempotent producer', transactional: false, producers: 1 },
  { mode: 'transaction per append', transactional: true, producers: 1 },
  { mode: `transaction per append, ${PROBE_PARTITIONS} transactional producers at once`, transactional: true, producers: PROBE_PARTITIONS },
];

/**
 * Measures the broker's append latency without Vevee: one record per append with
 * acks=all, back to back, through a kafkajs idempotent producer and through
 * transactional ones (begin, send, commit) with the decider's writer settings, one per
 * partition. It is the floor under the decider's append time on this machine and
 * broker. A transaction that follows a commit at once can find the previous one still
 * completing on the broker (CONCURRENT_TRANSACTIONS), and kafkajs then retries the send
 * after its retry delay.
 */
export async function probeAppendLatency(brokers: string): Promise<AppendLatency[]> {
  let retries = 0;
  const kafka = new Kafka({
    clientId: 'vevee-bench-probe',
    brokers: [brokers],
    logLevel: logLevel.ERROR,
    logCreator: () => (entry) => {
      if (String(entry.log.message).startsWith('Failed to send messages')) retries++;
    },
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: PROBE_TOPIC, numPartitions: PROBE_PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }

  const results: AppendLatency[] = [];
  for (const [index, probe] of MODES.entries()) {
    const producers = Array.from({ length: probe.producers }, (_, partition) =>
      probe.transactional
        ? kafka.producer({ transactionalId: `bench-probe-${index}-${partition}`, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 30_000, retry: WRITER_RETRY })
        : kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: WRITER_RETRY }),
    );
    await Promise.all(producers.map((producer) => producer.connect()));
    retries = 0;
    try {
      const samples = new LatencySamples();
      const deadline = performance.now() + PROBE_MS;
      await Promise.all(producers.map((producer, partition) => appendUntil(producer, partition, probe.transactional, deadline, samples)));
      const [p50, p99] = samples.percentiles([0.5, 0.99]);
      results.push({ mode: probe.mode, appendsPerSecond: samples.size / (PROBE_MS / 1000), p50Ms: p50!, p99Ms: p99!, retries });
    } finally {
      await Promise.all(producers.map((producer) => producer.disconnect()));
    }
  }
  return results;
}

async function appendUntil(producer: Producer, partition: number, transactional: boolean, deadline: number, samples: LatencySamples): Promise<void> {
  const message = { topic: PROBE_TOPIC, acks: -1, messages: [{ value: 'probe', partition }] };
  while (performance.now() < deadline) {
    const started = performance.now();
    if (transactional) {
      const transaction = await producer.transaction();
      await transaction.send(message);
      await transaction.commit();
    } else {
      await producer.send(message);
    }
    samples.add(performance.now() - started);
  }
}
