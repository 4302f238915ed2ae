import { setTimeout as delay } from 'node:timers/promises';

import { Kafka, logLevel } from 'kafkajs';

import { INGEST_DLQ_TOPIC, INGEST_TOPIC, namespacedTopic } from '@vevee/contracts';
import { dropNegativeTimeoutWarnings } from '@vevee/kafka';

import { formatCount } from './report';
import { seededRandom } from './random';

export interface FunnelDemoOptions {
  log: (line: string) => void;
  graphqlUrl: string;
  apiKey: string;
  workspaceId: string;
  kafkaBrokers: string[];
  /** The topic namespace of the running Vevee (`VEVEE_NAMESPACE`), empty for none. */
  namespace: string;
  /** Makes the run's ids unique, so a second run adds new persons. */
  runId: string;
  visitors?: number;
  seed?: number;
}

/** The product funnel the generated sessions go through, in order. */
export const FUNNEL_STEPS = ['page_view', 'signup', 'first_prompt', 'upgrade'] as const;

/** How many visitors reach each next step, of those at the step before. */
const STEP_RATES = [0.6, 0.7, 0.3];

interface IngestRecord {
  key: string;
  value: string;
}

export interface FunnelDemoResult {
  /** Persons expected at each step, from the generated sessions. */
  expected: number[];
  funnel: FunnelReply;
}

interface FunnelReply {
  steps: Array<{ eventName: string; persons: number; conversionRate: number; stepConversionRate: number; cost: number }>;
}

/**
 * Generates one app's sessions: anonymous visitors view a page, some sign up
 * (an `$alias` joins the visitor to the new account, and an `$identify` sets its
 * properties), some of those send a first prompt (metered in tokens) and some
 * upgrade. The events go in one batch to the Kafka sink, with one malformed
 * record among them. Each event happens a few seconds after the one before.
 */
export function funnelBatch(options: Pick<FunnelDemoOptions, 'workspaceId' | 'runId' | 'visitors' | 'seed'>, now: number): { records: IngestRecord[]; expected: number[] } {
  const random = seededRandom(options.seed ?? 20231116);
  const visitors = options.visitors ?? 200;
  const expected = [0, 0, 0, 0];
  const records: IngestRecord[] = [];
  const start = now - 10 * 60_000;
  const push = (personId: string, event: Record<string, unknown>) => {
    records.push({
      key: `${options.workspaceId}:${personId}`,
      value: JSON.stringify({ workspaceId: options.workspaceId, personId, eventId: `${options.runId}-${records.length}`, ...event }),
    });
  };

  for (let index = 0; index < visitors; index += 1) {
    const anonymousId = `visitor-${options.runId}-${index}`;
    const knownId = `member-${options.runId}-${index}`;
    let at = start + index * 2_000;
    push(anonymousId, { type: 'page_view', timestamp: at, properties: { path: '/pricing' } });
    expected[0]! += 1;
    if (random() >= STEP_RATES[0]!) continue;

    at += 5_000;
    push(knownId, { type: '$alias', timestamp: at, anonymousId });
    push(knownId, { type: '$identify', timestamp: at, set: { plan: 'free' }, setOnce: { firstPath: '/pricing' } });
    push(knownId, { type: 'signup', timestamp: at });
    expected[1]! += 1;
    if (random() >= STEP_RATES[1]!) continue;

    at += 5_000;
    const tokens = 200 + Math.floor(random() * 1_800);
    push(knownId, { type: 'first_prompt', timestamp: at, meter: 'tokens', quantity: tokens, cost: tokens * 0.000002, currency: 'USD' });
    expected[2]! += 1;
    if (random() >= STEP_RATES[2]!) continue;

    at += 5_000;
    // The price is revenue, not a cost of serving the person, so it goes in the properties.
    push(knownId, { type: 'upgrade', timestamp: at, properties: { plan: 'pro', priceUsd: 20 } });
    expected[3]! += 1;
  }

  // A pipeline bug: a record without its event id. The sink sends it to the dead-letter topic.
  records.push({ key: `${options.workspaceId}:broken`, value: JSON.stringify({ workspaceId: options.workspaceId, personId: 'broken', type: 'page_view', timestamp: now }) });
  return { records, expected };
}

/**
 * Produces a generated batch to the ingest topic, prints the reason the sink
 * gave the malformed record, then waits until the funnel query counts every
 * generated step and prints it.
 */
export async function runFunnelDemo(options: FunnelDemoOptions): Promise<FunnelDemoResult> {
  const { log } = options;
  const startedAt = Date.now();
  const { records, expected } = funnelBatch(options, startedAt);
  const ingestTopic = namespacedTopic(options.namespace, INGEST_TOPIC);
  const dlqTopic = namespacedTopic(options.namespace, INGEST_DLQ_TOPIC);

  dropNegativeTimeoutWarnings();
  const kafka = new Kafka({ clientId: 'vevee-demo', brokers: options.kafkaBrokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const consumer = kafka.consumer({ groupId: `vevee-demo-${options.runId}` });
  let reason: string | undefined;
  try {
    // The listener goes on first: run() returns only after the consumer has joined its group.
    const joined = waitForAssignment(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic: dlqTopic, fromBeginning: false });
    const brokenKey = `${options.workspaceId}:broken`;
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() === brokenKey && reason === undefined) reason = message.headers?.['vevee-dlq-reason']?.toString();
      },
    });
    await joined;

    await producer.connect();
    await producer.send({ topic: ingestTopic, acks: -1, messages: records });
    log(`ingested one batch of ${formatCount(records.length)} events through the Kafka topic ${ingestTopic}: ${formatCount(expected[0]!)} visitors' sessions, with one malformed record`);
    const deadline = Date.now() + 30_000;
    while (reason === undefined && Date.now() < deadline) await delay(100);
    log(`  the malformed record went to ${dlqTopic}: ${reason ?? '(not seen within 30 s)'}`);
  } finally {
    await producer.disconnect();
    await consumer.disconnect();
  }

  const funnel = await waitForFunnel(options, startedAt, expected);
  log(`funnel from the GraphQL API (${FUNNEL_STEPS.join(' -> ')}, within 1 hour; visitors joined to their accounts by $alias):`);
  log('  step           persons  of first  of previous  model cost of these persons');
  for (const step of funnel.steps) {
    log(
      `  ${step.eventName.padEnd(13)} ${formatCount(step.persons).padStart(8)} ${percent(step.conversionRate).padStart(9)} ${percent(step.stepConversionRate).padStart(12)}  $${step.cost.toFixed(4)}`,
    );
  }
  return { expected, funnel };
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

async function waitForAssignment(consumer: ReturnType<Kafka['consumer']>): Promise<void> {
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  const timeout = delay(30_000).then(() => {
    throw new Error('the demo could not join a consumer group on the dead-letter topic within 30 s; check that Kafka is running');
  });
  await Promise.race([joined, timeout]);
}

async function waitForFunnel(options: FunnelDemoOptions, startedAt: number, expected: number[]): Promise<FunnelReply> {
  const query = `query Funnel($steps: [String!]!, $from: DateTime!, $to: DateTime!) {
    funnel(steps: $steps, windowSeconds: 3600, from: $from, to: $to) { steps { eventName persons conversionRate stepConversionRate cost } } }`;
  const variables = { steps: FUNNEL_STEPS, from: new Date(startedAt - 20 * 60_000).toISOString(), to: new Date(startedAt + 20 * 60_000).toISOString() };
  const deadline = Date.now() + 60_000;
  let last: FunnelReply | undefined;
  for (;;) {
    const response = await fetch(options.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(10_000),
    });
    const reply = (await response.json()) as { data?: { funnel: FunnelReply }; errors?: Array<{ message: string }> };
    if (reply.errors !== undefined) throw new Error(`funnel query failed: ${reply.errors.map((error) => error.message).join('; ')}`);
    last = reply.data!.funnel;
    // A run a few minutes earlier can add its persons to the range, so counting at least the batch is enough.
    if (last.steps.every((step, index) => step.persons >= expected[index]!)) return last;
    if (Date.now() > deadline) {
      throw new Error(`the funnel counted ${last.steps.map((step) => step.persons).join(', ')} persons per step after 60 s; the batch had ${expected.join(', ')}`);
    }
    await delay(250);
  }
}
