import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { countEvents } from '@vevee/clickhouse';
import { createKafka, ingestDlqTopic, ingestTopic } from '@vevee/kafka';
import { createLogger } from '@vevee/platform';
import { Vevee } from '@vevee/sdk';
import { waitFor } from '@vevee/testing';

import { DLQ_HEADERS } from '../src/dead-letters';
import { EVENTS_BATCH_PATH } from '../src/ingest-http';
import {
  TEST_API_KEY,
  TEST_WORKSPACE,
  countHourlyEvents,
  eventRecord,
  produceRecords,
  readTopic,
  startIngestStack,
  waitForSinkCaughtUp,
  type IngestStack,
  type ReadRecord,
  type RawRecord,
} from './ingest-kafka';

let stack: IngestStack;
let kafka: Kafka;

beforeAll(async () => {
  stack = await startIngestStack({ tokens: { day: 1_000_000 } }, { INGEST_PARTITIONS: '4' });
  kafka = createKafka(stack.config, createLogger(stack.config, 'ingest-test'));
});

afterAll(async () => {
  await stack?.close();
});

function ingestedCount(personId: string): Promise<number> {
  return countEvents(stack.clickhouse, stack.config.clickhouseDatabase, { workspaceId: TEST_WORKSPACE, type: 'Ingested', personId });
}

/** Returns the dead letters of one person's records, once the sink has committed every ingest record. */
async function deadLettersOf(key: string, atLeast: number): Promise<ReadRecord[]> {
  await waitForSinkCaughtUp(kafka, stack.config);
  const records = await readTopic(kafka, ingestDlqTopic(stack.config), atLeast);
  return records.filter((record) => record.key === key);
}

function validBatch(personId: string, prefix: string, count: number): RawRecord[] {
  return Array.from({ length: count }, (_, index) => eventRecord(TEST_WORKSPACE, personId, `${prefix}-${index}`));
}

describe('ingest sink', () => {
  it('dead-letters only the malformed record of a batch', async () => {
    const personId = 'dlq-person';
    const valid = validBatch(personId, 'dlq', 6);
    const malformed = eventRecord(TEST_WORKSPACE, personId, 'dlq-bad', { timestamp: '20 May 2026' });
    await produceRecords(kafka, stack.config, [...valid.slice(0, 3), malformed, ...valid.slice(3)]);

    await waitFor('6 ingested rows', async () => (await ingestedCount(personId)) === 6 || undefined);
    const letters = await deadLettersOf(`${TEST_WORKSPACE}:${personId}`, 1);

    expect(letters).toHaveLength(1);
    const letter = letters[0]!;
    expect(letter.value).toBe(malformed.value);
    expect(letter.headers[DLQ_HEADERS.field]).toBe('timestamp');
    expect(letter.headers[DLQ_HEADERS.reason]).toContain('ISO-8601');
    expect(letter.headers[DLQ_HEADERS.sourceTopic]).toBe(ingestTopic(stack.config));
    expect(letter.headers[DLQ_HEADERS.sourcePartition]).toMatch(/^\d+$/);
    expect(letter.headers[DLQ_HEADERS.sourceOffset]).toMatch(/^\d+$/);
    expect(await ingestedCount(personId)).toBe(6);
  });

  it('counts a batch produced twice once', async () => {
    const personId = 'twice-person';
    const batch = Array.from({ length: 8 }, (_, index) => eventRecord(TEST_WORKSPACE, personId, `twice-${index}`, { type: 'twice_view' }));
    await produceRecords(kafka, stack.config, [...batch, batch[0]!]);
    await waitForSinkCaughtUp(kafka, stack.config);
    // The second copy arrives in a later fetch, after the first one is stored.
    await produceRecords(kafka, stack.config, batch);
    await waitForSinkCaughtUp(kafka, stack.config);

    expect(await ingestedCount(personId)).toBe(8);
    expect(await countHourlyEvents(stack.clickhouse, stack.config.clickhouseDatabase, TEST_WORKSPACE, { eventName: 'twice_view' })).toBe(8);
  });

  it('dead-letters a reused eventId with another timestamp', async () => {
    const personId = 'reuse-person';
    const first = eventRecord(TEST_WORKSPACE, personId, 'reuse-1', { timestamp: Date.now() - 5_000 });
    const conflicting = eventRecord(TEST_WORKSPACE, personId, 'reuse-1', { timestamp: Date.now() - 4_000 });
    await produceRecords(kafka, stack.config, [first, conflicting]);

    const letters = await deadLettersOf(`${TEST_WORKSPACE}:${personId}`, 1);
    expect(letters).toHaveLength(1);
    expect(letters[0]!.headers[DLQ_HEADERS.field]).toBe('eventId');
    expect(letters[0]!.value).toBe(conflicting.value);
    expect(await ingestedCount(personId)).toBe(1);
  });

  it('dead-letters an unknown workspace, meter and key', async () => {
    const personId = 'unknown-person';
    const unknownWorkspace = eventRecord('ws_missing', personId, 'unknown-ws');
    const unknownMeter = eventRecord(TEST_WORKSPACE, personId, 'unknown-meter', { meter: 'gpu_seconds', quantity: 3 });
    const wrongKey = { ...eventRecord(TEST_WORKSPACE, personId, 'wrong-key'), key: `${TEST_WORKSPACE}:someone-else` };
    await produceRecords(kafka, stack.config, [unknownWorkspace, unknownMeter, wrongKey]);

    await waitForSinkCaughtUp(kafka, stack.config);
    const records = await readTopic(kafka, ingestDlqTopic(stack.config), 3);
    const reasons = new Map(records.map((record) => [JSON.parse(record.value!).eventId as string, record.headers]));
    expect(reasons.get('unknown-ws')?.[DLQ_HEADERS.field]).toBe('workspaceId');
    expect(reasons.get('unknown-ws')?.[DLQ_HEADERS.reason]).toContain('unknown workspace "ws_missing"');
    expect(reasons.get('unknown-meter')?.[DLQ_HEADERS.field]).toBe('meter');
    expect(reasons.get('unknown-meter')?.[DLQ_HEADERS.reason]).toContain('unknown meter "gpu_seconds"');
    expect(reasons.get('wrong-key')?.[DLQ_HEADERS.field]).toBe('key');
    expect(await ingestedCount(personId)).toBe(0);
  });

  it('counts a metered event once in the person counters', async () => {
    const personId = 'metered-person';
    const sentAt = [Date.now() - 120_000, Date.now() - 90_000];
    const first = eventRecord(TEST_WORKSPACE, personId, 'metered-1', { type: 'chat.completion', meter: 'tokens', quantity: 300, cost: 0.01, currency: 'USD', timestamp: sentAt[0] });
    const second = eventRecord(TEST_WORKSPACE, personId, 'metered-2', { type: 'chat.completion', meter: 'tokens', quantity: 200, timestamp: sentAt[1] });
    await produceRecords(kafka, stack.config, [first, second, first]);
    await produceRecords(kafka, stack.config, [first]);

    const used = await waitFor('usage_counters to reach 500 tokens', async () => {
      const result = await stack.pool.query<{ used: string }>(
        `SELECT used FROM usage_counters WHERE workspace_id = $1 AND person_id = $2 AND meter = 'tokens' AND period = 'day' AND window_end > now()`,
        [TEST_WORKSPACE, personId],
      );
      const value = Number(result.rows[0]?.used ?? 0);
      return value >= 500 && value;
    });
    await waitForSinkCaughtUp(kafka, stack.config);

    expect(used).toBe(500);
    const tracked = await waitFor('2 UsageTracked rows', async () => {
      const count = await countEvents(stack.clickhouse, stack.config.clickhouseDatabase, { workspaceId: TEST_WORKSPACE, type: 'UsageTracked', personId });
      return count >= 2 && count;
    });
    expect(tracked).toBe(2);
    expect(await ingestedCount(personId)).toBe(0);

    // ClickHouse keeps the time each event was sent with, not the decision time.
    const rows = await stack.clickhouse.query({
      query: `SELECT toUnixTimestamp64Milli(at) AS at FROM ${stack.config.clickhouseDatabase}.events FINAL
              WHERE workspace_id = {workspace:String} AND person_id = {person:String} AND type = 'UsageTracked' ORDER BY at`,
      query_params: { workspace: TEST_WORKSPACE, person: personId },
      format: 'JSONEachRow',
    });
    expect((await rows.json<{ at: string }>()).map((row) => Number(row.at))).toEqual(sentAt);
  });
});

describe('metered events of an aliased id', () => {
  it('count for the known person', async () => {
    const sdk = new Vevee({ apiKey: TEST_API_KEY, baseUrl: stack.vevee.url });
    try {
      await sdk.alias({ anonymousId: 'visitor-x', knownId: 'member-x' });
    } finally {
      sdk.close();
    }
    await produceRecords(kafka, stack.config, [eventRecord(TEST_WORKSPACE, 'visitor-x', 'aliased-1', { type: 'chat.completion', meter: 'tokens', quantity: 40 })]);

    const used = await waitFor('usage_counters to count the event for member-x', async () => {
      const result = await stack.pool.query<{ person_id: string; used: string }>(
        `SELECT person_id, used FROM usage_counters WHERE workspace_id = $1 AND person_id IN ('visitor-x', 'member-x') AND period = 'day' AND window_end > now()`,
        [TEST_WORKSPACE],
      );
      return result.rows.length > 0 && Object.fromEntries(result.rows.map((row) => [row.person_id, Number(row.used)]));
    });
    expect(used).toEqual({ 'member-x': 40 });
  });
});

describe('POST /v1/events:batch', () => {
  async function postBatch(body: unknown, apiKey: string | null = TEST_API_KEY): Promise<{ status: number; json: Record<string, unknown> }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (apiKey !== null) headers.authorization = `Bearer ${apiKey}`;
    const response = await fetch(`${stack.vevee.url}${EVENTS_BATCH_PATH}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  it('answers per event and ingests the accepted ones', async () => {
    const personId = 'http-person';
    const now = new Date().toISOString();
    const { status, json } = await postBatch({
      events: [
        { eventId: 'http-1', personId, type: 'page_view', timestamp: now },
        { eventId: 'http-2', personId, type: 'page_view', timestamp: now, quantity: 4 },
        { eventId: 'http-3', personId, type: '$identify', timestamp: now, set: { plan: 'pro' }, anonymousId: 'anon-7' },
      ],
    });

    expect(status).toBe(200);
    expect(json.accepted).toBe(2);
    expect(json.rejected).toBe(1);
    expect(json.results).toEqual([
      { index: 0, eventId: 'http-1', status: 'accepted' },
      { index: 1, eventId: 'http-2', status: 'rejected', field: 'quantity', reason: expect.stringContaining('needs a meter') },
      { index: 2, eventId: 'http-3', status: 'accepted' },
    ]);
    await waitFor('2 ingested rows from HTTP', async () => (await ingestedCount(personId)) === 2 || undefined);
    const rows = await stack.clickhouse.query({
      query: `SELECT event_type, metadata FROM ${stack.config.clickhouseDatabase}.events FINAL WHERE person_id = {personId:String} AND event_type = '$identify'`,
      query_params: { personId },
      format: 'JSONEachRow',
    });
    const [identify] = await rows.json<{ event_type: string; metadata: string }>();
    expect(JSON.parse(identify!.metadata)).toEqual({ set: { plan: 'pro' }, anonymousId: 'anon-7' });
  });

  it('rejects a workspaceId of another workspace', async () => {
    const { json } = await postBatch({ events: [{ eventId: 'http-ws', workspaceId: 'ws_other', personId: 'p', type: 'page_view', timestamp: Date.now() }] });
    expect(json.results).toEqual([{ index: 0, eventId: 'http-ws', status: 'rejected', field: 'workspaceId', reason: expect.stringContaining("not the API key's workspace") }]);
  });

  it('rejects a second event with the same eventId and other values', async () => {
    const first = { eventId: 'http-dup', personId: 'p', type: 'page_view', timestamp: Date.now() - 1_000 };
    const { json } = await postBatch({ events: [first, first, { ...first, timestamp: Date.now() - 2_000 }] });

    expect(json.results).toEqual([
      { index: 0, eventId: 'http-dup', status: 'accepted' },
      { index: 1, eventId: 'http-dup', status: 'accepted' },
      { index: 2, eventId: 'http-dup', status: 'rejected', field: 'eventId', reason: expect.stringContaining('repeats event 0 of this request') },
    ]);
  });

  it('rejects a request without an API key', async () => {
    const { status, json } = await postBatch({ events: [] }, null);
    expect(status).toBe(401);
    expect(json.code).toBe('unauthenticated');
  });

  it('rejects a body that is not JSON', async () => {
    const { status, json } = await postBatch('{"events": [', TEST_API_KEY);
    expect(status).toBe(400);
    expect(json.message).toContain('not valid JSON');
  });

  it('rejects an empty events list', async () => {
    const { status, json } = await postBatch({ events: [] });
    expect(status).toBe(400);
    expect(json.message).toContain('send 1 to 1000');
  });
});
