import 'reflect-metadata';

import type { ClickHouseClient } from '@clickhouse/client';
import { Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { pino } from 'pino';
import type { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CLICKHOUSE, ClickHouseModule, countEvents, eventSeries, usageSummary } from '@vevee/clickhouse';
import { encodeLedgerEvent, personKey, type LedgerEvent } from '@vevee/contracts';
import { KafkaModule, createKafka, ensureLedgerTopic, groupId, ledgerTopic } from '@vevee/kafka';
import { METRICS, PlatformModule, type Logger, type VeveeConfig } from '@vevee/platform';
import { createTestEnvironment, waitFor, type TestEnvironment, ledgerEvents } from '@vevee/testing';

const { committed, denied, expired, released, reserved, tracked } = ledgerEvents;

import { ClickHouseProjector, PROJECTOR_CLICKHOUSE_GROUP, ProjectorClickHouseModule } from '../src';

@Module({})
class ProjectorTestModule {
  static forRoot(config: VeveeConfig, logger: Logger): DynamicModule {
    return {
      module: ProjectorTestModule,
      imports: [PlatformModule.forRoot(config, logger), KafkaModule, ClickHouseModule, ProjectorClickHouseModule],
    };
  }
}

/** Creates a logger that keeps every line, so a test can check what the projector logged. */
function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

const DAY_START = Date.UTC(2026, 4, 20);
const DAY_END = Date.UTC(2026, 4, 21);
const WORKSPACE = 'ws_p';
const subject = (personId: string, offsetMs: number, workspaceId = WORKSPACE) => ({ workspaceId, personId, at: DAY_START + offsetMs });

/**
 * Builds one day of ws_p, with one event produced twice and one event of another
 * workspace. ws_p counts 8 events by alice, bob and carol, costing 0.3 + 0.7.
 */
function daySequence(): LedgerEvent[] {
  const aliceTracked = tracked(subject('alice', 5_000), 'chat.completion', 0.7);
  return [
    reserved(subject('alice', 0), 'r1', 1000),
    committed(subject('alice', 1_000), 'r1', 800, 0.3),
    reserved(subject('bob', 2_000), 'r2', 500),
    released(subject('bob', 3_000), 'r2', 500),
    denied(subject('carol', 4_000), 2000),
    aliceTracked,
    reserved(subject('bob', 6_000), 'r3', 100),
    expired(subject('bob', 66_000), 'r3', 100),
    tracked(subject('erin', 7_000, 'ws_other'), 'chat.completion', 5),
    aliceTracked,
  ];
}

const EXPECTED_DAY = {
  events: 8,
  activePersons: 3,
  byType: [
    { type: 'QuotaCommitted', count: 1, cost: 0.3 },
    { type: 'QuotaDenied', count: 1, cost: 0 },
    { type: 'QuotaExpired', count: 1, cost: 0 },
    { type: 'QuotaReleased', count: 1, cost: 0 },
    { type: 'QuotaReserved', count: 3, cost: 0 },
    { type: 'UsageTracked', count: 1, cost: 0.7 },
  ],
};

async function produceEvents(producer: Producer, topic: string, events: LedgerEvent[]): Promise<void> {
  await producer.send({
    topic,
    acks: -1,
    messages: events.map((event) => ({ key: personKey(event.workspaceId, event.personId), value: encodeLedgerEvent(event) })),
  });
}

async function rowsInserted(app: INestApplicationContext): Promise<number> {
  const metric = app.get<Registry>(METRICS).getSingleMetric('vevee_projector_clickhouse_rows_inserted_total');
  const data = await metric?.get();
  return data?.values[0]?.value ?? 0;
}

describe('projector-clickhouse', () => {
  let environment: TestEnvironment;
  let config: VeveeConfig;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let app: INestApplicationContext | undefined;
  let topic: string;
  let group: string;

  async function startProjector(logger: Logger = capturingLogger().logger): Promise<INestApplicationContext> {
    app = await NestFactory.createApplicationContext(ProjectorTestModule.forRoot(config, logger), { logger: false });
    return app;
  }

  async function stopProjector(): Promise<void> {
    await app?.close();
    app = undefined;
  }

  async function committedOffsets(): Promise<Map<number, string>> {
    const [topicOffsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return new Map((topicOffsets?.partitions ?? []).map((entry) => [entry.partition, entry.offset]));
  }

  /** Waits until the group has committed every record of the topic. */
  async function waitUntilCaughtUp(): Promise<void> {
    const ends = await admin.fetchTopicOffsets(topic);
    await waitFor('the projector to commit every ledger record', async () => {
      const committed = await committedOffsets();
      const behind = ends.filter((end) => end.high !== '0' && committed.get(end.partition) !== end.high);
      return behind.length === 0 || undefined;
    });
  }

  function clickhouse(): ClickHouseClient {
    return app!.get<ClickHouseClient>(CLICKHOUSE);
  }

  beforeEach(async () => {
    environment = await createTestEnvironment();
    config = environment.config;
    topic = ledgerTopic(config);
    group = groupId(config, PROJECTOR_CLICKHOUSE_GROUP);
    kafka = createKafka(config, capturingLogger().logger, 'projector-clickhouse-test');
    await ensureLedgerTopic(kafka, config);
    admin = kafka.admin();
    producer = kafka.producer();
    await admin.connect();
    await producer.connect();
  });

  afterEach(async () => {
    await stopProjector();
    await producer.disconnect();
    await admin.disconnect();
    await environment.cleanup();
  });

  it('projector › projects a ledger sequence into the usage summary', async () => {
    await produceEvents(producer, topic, daySequence());
    await startProjector();

    await waitUntilCaughtUp();
    const summary = await usageSummary(clickhouse(), config.clickhouseDatabase, {
      workspaceId: WORKSPACE,
      from: new Date(DAY_START),
      to: new Date(DAY_END),
    });

    expect(summary).toMatchObject(EXPECTED_DAY);
    expect(summary.cost).toBeCloseTo(1, 9);
    expect(await countEvents(clickhouse(), config.clickhouseDatabase, { workspaceId: 'ws_other' })).toBe(1);
    expect(await countEvents(clickhouse(), config.clickhouseDatabase, { workspaceId: WORKSPACE, personId: 'bob' })).toBe(4);
    expect(await rowsInserted(app!)).toBe(10);
  });

  it('projector › counts each event once after redelivery', async () => {
    const sequence = daySequence();
    await produceEvents(producer, topic, sequence);
    await startProjector();
    await waitUntilCaughtUp();
    const request = { workspaceId: WORKSPACE, from: new Date(DAY_START), to: new Date(DAY_END) };
    const series = { ...request, timeZone: 'UTC', bucket: 'hour' as const };
    const before = await usageSummary(clickhouse(), config.clickhouseDatabase, request);
    const seriesBefore = await eventSeries(clickhouse(), config.clickhouseDatabase, series);
    await stopProjector();

    const partitions = (await admin.fetchTopicOffsets(topic)).map((entry) => ({ partition: entry.partition, offset: '0' }));
    await admin.setOffsets({ groupId: group, topic, partitions });
    const restarted = await startProjector();

    await waitFor('the restarted projector to insert every record again', async () => (await rowsInserted(restarted)) === sequence.length);
    await waitUntilCaughtUp();
    const after = await usageSummary(clickhouse(), config.clickhouseDatabase, request);

    expect(after).toEqual(before);
    expect(after).toMatchObject(EXPECTED_DAY);
    expect(await countEvents(clickhouse(), config.clickhouseDatabase, { workspaceId: WORKSPACE })).toBe(8);
    const seriesAfter = await eventSeries(clickhouse(), config.clickhouseDatabase, series);
    expect(seriesAfter).toEqual(seriesBefore);
    expect(seriesAfter.reduce((sum, entry) => sum + entry.count, 0)).toBe(8);
  });

  it('projector › stops a partition at an unknown schema version', async () => {
    const { logger, lines } = capturingLogger();
    const first = reserved(subject('alice', 0), 'r1', 10);
    const second = committed(subject('alice', 1_000), 'r1', 10, 0.1);
    const unknownVersion = { ...released(subject('alice', 2_000), 'r2', 10), version: 2 };
    const afterUnknown = tracked(subject('alice', 3_000), 'chat.completion', 0.2);
    const key = personKey(WORKSPACE, 'alice');
    await producer.send({
      topic,
      acks: -1,
      messages: [first, second, unknownVersion, afterUnknown].map((event) => ({ key, partition: 0, value: Buffer.from(JSON.stringify(event)) })),
    });
    await producer.send({ topic, acks: -1, messages: [{ key: personKey(WORKSPACE, 'bob'), partition: 1, value: encodeLedgerEvent(tracked(subject('bob', 0), 'chat.completion', 1)) }] });

    const projector = (await startProjector(logger)).get(ClickHouseProjector);

    const stopped = await waitFor('partition 0 to stop', () => projector.stoppedPartitions()[0]);
    expect(stopped).toMatchObject({ topic, partition: 0, offset: '2' });
    expect(stopped.reason).toMatch(/schema version 2/);
    await waitFor('partition 1 to be committed', async () => (await committedOffsets()).get(1) === '1');

    // A record produced after the stop reaches ClickHouse through partition 1,
    // while partition 0 stays at the record it cannot decode.
    await producer.send({ topic, acks: -1, messages: [{ key: personKey(WORKSPACE, 'bob'), partition: 1, value: encodeLedgerEvent(tracked(subject('bob', 1), 'chat.completion', 1)) }] });
    await waitFor('partition 1 to be committed again', async () => (await committedOffsets()).get(1) === '2');

    expect((await committedOffsets()).get(0)).toBe('2');
    expect(await countEvents(clickhouse(), config.clickhouseDatabase, { workspaceId: WORKSPACE, personId: 'alice' })).toBe(2);
    expect(await countEvents(clickhouse(), config.clickhouseDatabase, { workspaceId: WORKSPACE, personId: 'bob' })).toBe(2);
    const logged = lines.find((line) => line.level === 50 && typeof line.msg === 'string' && line.msg.startsWith('ledger record cannot be decoded'));
    expect(logged).toMatchObject({ topic, partition: 0, offset: '2' });
  });
});
