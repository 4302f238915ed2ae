/**
 * Measures the projector's throughput: produces EVENTS ledger events (default
 * 200,000) to a fresh ledger topic, starts the projector on the embedded chdb
 * engine and times how long it takes to insert them all. Not a test.
 *
 *   KAFKA_BROKERS=127.0.0.1:PORT npx tsx services/projector-clickhouse/test/measure-throughput.ts
 */
import 'reflect-metadata';

import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { pino } from 'pino';
import type { Histogram, Registry } from 'prom-client';

import { ClickHouseModule } from '@vevee/clickhouse';
import { encodeLedgerEvent, personKey, type LedgerEvent } from '@vevee/contracts';
import { KafkaModule, createKafka, ensureLedgerTopic, ledgerTopic } from '@vevee/kafka';
import { METRICS, PlatformModule, type Logger, type VeveeConfig } from '@vevee/platform';
import { createTestEnvironment, waitFor, ledgerEvents } from '@vevee/testing';

const { committed, reserved, tracked } = ledgerEvents;

import { ProjectorClickHouseModule } from '../src';

@Module({})
class MeasureModule {
  static forRoot(config: VeveeConfig, logger: Logger): DynamicModule {
    return { module: MeasureModule, imports: [PlatformModule.forRoot(config, logger), KafkaModule, ClickHouseModule, ProjectorClickHouseModule] };
  }
}

const EVENTS = Number(process.env.EVENTS ?? 200_000);
const PRODUCE_BATCH = 5_000;
const START = Date.UTC(2026, 0, 1);

/** Reserve, commit and track events of 1,000 persons in 10 workspaces over 60 days. */
function eventAt(index: number): LedgerEvent {
  const subject = { workspaceId: `ws_${index % 10}`, personId: `person_${index % 1000}`, at: START + index * 25_000 };
  switch (index % 3) {
    case 0:
      return reserved(subject, `r${index}`, 1000);
    case 1:
      return committed(subject, `r${index - 1}`, 800, 0.0123);
    default:
      return tracked(subject, 'chat.completion', 0.004);
  }
}

async function histogramTotals(registry: Registry): Promise<{ inserts: number; seconds: number }> {
  const metric = registry.getSingleMetric('vevee_projector_clickhouse_insert_duration_seconds') as Histogram | undefined;
  const values = (await metric?.get())?.values ?? [];
  const find = (name: string) => values.find((value) => value.metricName === name)?.value ?? 0;
  return { inserts: find('vevee_projector_clickhouse_insert_duration_seconds_count'), seconds: find('vevee_projector_clickhouse_insert_duration_seconds_sum') };
}

async function main(): Promise<void> {
  const environment = await createTestEnvironment({ LOG_LEVEL: 'warn' });
  const { config } = environment;
  const logger = pino({ level: 'warn' });
  const kafka = createKafka(config, logger, 'measure-throughput');
  await ensureLedgerTopic(kafka, config);

  const producer = kafka.producer();
  await producer.connect();
  const produceStarted = performance.now();
  for (let first = 0; first < EVENTS; first += PRODUCE_BATCH) {
    const messages = [];
    for (let index = first; index < Math.min(first + PRODUCE_BATCH, EVENTS); index += 1) {
      const event = eventAt(index);
      messages.push({ key: personKey(event.workspaceId, event.personId), value: encodeLedgerEvent(event) });
    }
    await producer.send({ topic: ledgerTopic(config), acks: -1, messages });
  }
  await producer.disconnect();
  const produceSeconds = (performance.now() - produceStarted) / 1000;

  const started = performance.now();
  const app = await NestFactory.createApplicationContext(MeasureModule.forRoot(config, logger), { logger: false });
  const registry = app.get<Registry>(METRICS);
  const rows = registry.getSingleMetric('vevee_projector_clickhouse_rows_inserted_total');
  await waitFor('every event to be inserted', async () => ((await rows?.get())?.values[0]?.value ?? 0) >= EVENTS, { timeoutMs: 600_000, intervalMs: 20 });
  const seconds = (performance.now() - started) / 1000;
  const { inserts, seconds: insertSeconds } = await histogramTotals(registry);
  await app.close();
  await environment.cleanup();

  process.stdout.write(
    `${JSON.stringify({
      events: EVENTS,
      partitions: config.ledgerPartitions,
      produceSeconds: Number(produceSeconds.toFixed(2)),
      projectSeconds: Number(seconds.toFixed(2)),
      eventsPerSecond: Math.round(EVENTS / seconds),
      inserts,
      rowsPerInsert: Math.round(EVENTS / inserts),
      insertSecondsTotal: Number(insertSeconds.toFixed(2)),
      meanInsertMs: Number(((insertSeconds / inserts) * 1000).toFixed(2)),
    })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`measurement failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
