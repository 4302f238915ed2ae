import type { Admin, Kafka, Producer } from 'kafkajs';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { encodeLedgerEvent, personKey, type LedgerEvent } from '@vevee/contracts';
import { createKafka, ensureLedgerTopic, groupId, ledgerTopic, partitionFor } from '@vevee/kafka';
import { createLogger, type Logger } from '@vevee/platform';
import { createPool, migrate } from '@vevee/postgres';
import { createDatabase, createTestEnvironment, dropDatabase, uniqueName, waitFor, type TestEnvironment } from '@vevee/testing';

import { POSTGRES_PROJECTOR, POSTGRES_PROJECTOR_GROUP, isProjectionCaughtUp, projectedOffsets } from '../src';
import { committed, denied, expired, released, reserved, tracked, type Who } from './ledger-fixtures';
import { capturingLogger, startProjector, type RunningProjector } from './projector-harness';

const WORKSPACE = 'ws_projector';
const T0 = Date.UTC(2026, 2, 10, 10, 0, 0);
const DAY_START = '2026-03-10T00:00:00.000Z';
const DAY_END = '2026-03-11T00:00:00.000Z';
const MONTH_START = '2026-03-01T00:00:00.000Z';
const MONTH_END = '2026-04-01T00:00:00.000Z';

const alice = (offsetMs: number): Who => ({ workspaceId: WORKSPACE, personId: 'alice', at: T0 + offsetMs });

/**
 * Alice's day, with every rule of the projection once. By hand, for her
 * tokens in the day and the month window alike:
 *   used     = 80 (r1) + 25 (r3, committed after expiry) + 10 (tracked) = 115
 *   reserved = 40 (r4, still active); r1, r2 and r3 gave their holds back.
 */
function aliceEvents(): LedgerEvent[] {
  const r1 = reserved(alice(0), 'r1', 100);
  const r2 = reserved(alice(1_000), 'r2', 50);
  const r3 = reserved(alice(2_000), 'r3', 30);
  const r4 = reserved(alice(200_000), 'r4', 40);
  return [
    r1,
    r2,
    committed(alice(3_000), r1, 80, { cost: 0.0024 }),
    released(alice(4_000), r2),
    r3,
    expired(alice(70_000), r3),
    committed(alice(80_000), r3, 25, { afterExpiry: true, cost: 0.1 }),
    // An expiry of a hold that is closed already changes nothing.
    expired(alice(90_000), r3),
    tracked(alice(100_000), 'tokens', 10),
    tracked(alice(110_000), '', 5),
    denied(alice(120_000), 99_999),
    r4,
  ];
}

interface CounterRow {
  person_id: string;
  meter: string;
  period: string;
  window_start: string;
  window_end: string;
  used: string;
  reserved: string;
}

async function counters(pool: pg.Pool): Promise<CounterRow[]> {
  const result = await pool.query<Omit<CounterRow, 'window_start' | 'window_end'> & { window_start: Date; window_end: Date }>(
    `SELECT person_id, meter, period, window_start, window_end, used::text, reserved::text
     FROM usage_counters WHERE workspace_id = $1 ORDER BY person_id, meter, period`,
    [WORKSPACE],
  );
  return result.rows.map((row) => ({ ...row, window_start: row.window_start.toISOString(), window_end: row.window_end.toISOString() }));
}

function counter(personId: string, meter: string, used: string, reservedQuantity: string): CounterRow[] {
  return [
    { person_id: personId, meter, period: 'day', window_start: DAY_START, window_end: DAY_END, used, reserved: reservedQuantity },
    { person_id: personId, meter, period: 'month', window_start: MONTH_START, window_end: MONTH_END, used, reserved: reservedQuantity },
  ];
}

async function reservations(pool: pg.Pool): Promise<Array<Record<string, unknown>>> {
  const result = await pool.query(
    `SELECT reservation_id, person_id, meter, quantity::text, status, closed_at IS NOT NULL AS closed,
            committed_quantity::text, overage::text, cost::text, currency
     FROM reservations WHERE workspace_id = $1 ORDER BY reservation_id`,
    [WORKSPACE],
  );
  return result.rows;
}

const ALICE_RESERVATIONS = [
  { reservation_id: 'r1', person_id: 'alice', meter: 'tokens', quantity: '100', status: 'committed', closed: true, committed_quantity: '80', overage: '0', cost: '0.0024', currency: 'USD' },
  { reservation_id: 'r2', person_id: 'alice', meter: 'tokens', quantity: '50', status: 'released', closed: true, committed_quantity: null, overage: null, cost: null, currency: null },
  { reservation_id: 'r3', person_id: 'alice', meter: 'tokens', quantity: '30', status: 'committed', closed: true, committed_quantity: '25', overage: '0', cost: '0.1', currency: 'USD' },
  { reservation_id: 'r4', person_id: 'alice', meter: 'tokens', quantity: '40', status: 'active', closed: false, committed_quantity: null, overage: null, cost: null, currency: null },
];

describe('projector-postgres', () => {
  let environment: TestEnvironment;
  let logger: Logger;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let pool: pg.Pool;
  let topic: string;
  const running: RunningProjector[] = [];
  const extraDatabases: string[] = [];

  beforeEach(async () => {
    environment = await createTestEnvironment();
    logger = createLogger(environment.config);
    await migrate(environment.config.databaseUrl);
    kafka = createKafka(environment.config, logger);
    await ensureLedgerTopic(kafka, environment.config);
    topic = ledgerTopic(environment.config);
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    pool = createPool(environment.config.databaseUrl, 2);
  });

  afterEach(async () => {
    for (const projector of running.splice(0)) await projector.app.close();
    await producer.disconnect();
    await admin.disconnect();
    await pool.end();
    for (const databaseUrl of extraDatabases.splice(0)) await dropDatabase(databaseUrl);
    await environment.cleanup();
  });

  async function start(config = environment.config, projectorLogger = logger): Promise<RunningProjector> {
    const projector = await startProjector(config, projectorLogger);
    running.push(projector);
    return projector;
  }

  async function stop(projector: RunningProjector): Promise<void> {
    running.splice(running.indexOf(projector), 1);
    await projector.app.close();
  }

  /** Produces records in the partition of their person, as the decider does, and returns their offsets. */
  async function produce(events: Array<LedgerEvent | { personId: string; raw: Buffer }>): Promise<string[]> {
    const offsets: string[] = [];
    for (const event of events) {
      const key = personKey(WORKSPACE, event.personId);
      const value = 'raw' in event ? event.raw : encodeLedgerEvent(event);
      const [metadata] = await producer.send({
        topic,
        acks: -1,
        messages: [{ key, value, partition: partitionFor(key, environment.config.ledgerPartitions) }],
      });
      offsets.push(metadata!.baseOffset!);
    }
    return offsets;
  }

  async function produceBatch(events: LedgerEvent[]): Promise<void> {
    await producer.send({
      topic,
      acks: -1,
      messages: events.map((event) => {
        const key = personKey(event.workspaceId, event.personId);
        return { key, value: encodeLedgerEvent(event), partition: partitionFor(key, environment.config.ledgerPartitions) };
      }),
    });
  }

  async function waitForProjection(target = pool): Promise<void> {
    await waitFor('the projection to reach the end of the ledger', () => isProjectionCaughtUp(target, admin, POSTGRES_PROJECTOR, topic), { timeoutMs: 60_000 });
  }

  it('applies events to counters and reservations', async () => {
    await start();
    const bob = (offsetMs: number): Who => ({ workspaceId: WORKSPACE, personId: 'bob', at: T0 + offsetMs });

    // One send, so that each counter row changes several times within a batch.
    await produceBatch([...aliceEvents(), reserved(bob(0), 'b1', 7), tracked(bob(1_000), 'images', 3)]);
    await waitForProjection();

    expect(await counters(pool)).toEqual([...counter('alice', 'tokens', '115', '40'), ...counter('bob', 'images', '3', '0'), ...counter('bob', 'tokens', '0', '7')]);
    const rows = await reservations(pool);
    expect(rows.filter((row) => row.person_id === 'alice')).toEqual(ALICE_RESERVATIONS);
    expect(rows.filter((row) => row.person_id === 'bob')).toEqual([
      { reservation_id: 'b1', person_id: 'bob', meter: 'tokens', quantity: '7', status: 'active', closed: false, committed_quantity: null, overage: null, cost: null, currency: null },
    ]);
  });

  it('applies events spread over many batches', async () => {
    await start();

    // One send per event: kafkajs may hand them over in any number of batches.
    await produce(aliceEvents());
    await waitForProjection();

    expect(await counters(pool)).toEqual(counter('alice', 'tokens', '115', '40'));
    expect(await reservations(pool)).toEqual(ALICE_RESERVATIONS);
  });

  it('applies each record once after the group offsets are reset', async () => {
    const first = await start();
    await produceBatch(aliceEvents());
    await waitForProjection();
    await stop(first);

    const group = groupId(environment.config, POSTGRES_PROJECTOR_GROUP);
    const partitions = Array.from({ length: environment.config.ledgerPartitions }, (_, partition) => ({ partition, offset: '0' }));
    await admin.setOffsets({ groupId: group, topic, partitions });

    await start();
    await produce([tracked(alice(300_000), 'tokens', 1)]);
    await waitForProjection();

    expect(await counters(pool)).toEqual(counter('alice', 'tokens', '116', '40'));
    expect(await reservations(pool)).toEqual(ALICE_RESERVATIONS);
  });

  it('rebuilds a new database from the start of the ledger', async () => {
    const first = await start();
    await produceBatch(aliceEvents());
    await waitForProjection();
    await stop(first);

    // The same consumer group, whose Kafka offsets are at the end, on an empty database.
    const databaseUrl = await createDatabase(environment.config.databaseUrl, uniqueName('vt_rebuild'));
    extraDatabases.push(databaseUrl);
    await migrate(databaseUrl);
    const rebuiltPool = createPool(databaseUrl, 1);
    try {
      await start({ ...environment.config, databaseUrl });
      await waitForProjection(rebuiltPool);

      expect(await counters(rebuiltPool)).toEqual(counter('alice', 'tokens', '115', '40'));
      expect(await reservations(rebuiltPool)).toEqual(ALICE_RESERVATIONS);
    } finally {
      await rebuiltPool.end();
    }
  });

  it('stops a partition at an unknown schema version and reports it', async () => {
    const captured = capturingLogger();
    const { projector, registry } = await start(environment.config, captured.logger);
    const partitions = environment.config.ledgerPartitions;
    const alicePartition = partitionFor(personKey(WORKSPACE, 'alice'), partitions);
    const other = ['bob', 'carol', 'dave', 'erin', 'frank'].find((person) => partitionFor(personKey(WORKSPACE, person), partitions) !== alicePartition)!;
    const otherPartition = partitionFor(personKey(WORKSPACE, other), partitions);

    const futureEvent = Buffer.from(JSON.stringify({ ...tracked(alice(1_000), 'tokens', 1_000), version: 2 }));
    const [, badOffset] = await produce([
      tracked(alice(0), 'tokens', 5),
      { personId: 'alice', raw: futureEvent },
      tracked(alice(2_000), 'tokens', 7),
      tracked({ workspaceId: WORKSPACE, personId: other, at: T0 }, 'tokens', 3),
    ]);

    const stopped = await waitFor('the projector to stop a partition', () => projector.stoppedPartitions()[0]);
    expect(stopped).toEqual({
      topic,
      partition: alicePartition,
      offset: badOffset,
      reason: 'ledger record has schema version 2; this reader supports version 1 only, so upgrade the reader',
    });
    await waitFor('the other partition to be projected', async () => (await projectedOffsets(pool, POSTGRES_PROJECTOR, topic)).get(otherPartition) === 1n);

    // Alice's partition stays at the record it cannot read, so the event after it is not applied.
    expect((await projectedOffsets(pool, POSTGRES_PROJECTOR, topic)).get(alicePartition)).toBe(BigInt(badOffset!));
    const byPerson = (await counters(pool)).filter((row) => row.period === 'day').map((row) => [row.person_id, row.used]);
    expect(byPerson).toEqual([
      ['alice', '5'],
      [other, '3'],
    ]);

    const report = captured.lines.find((line) => line.msg === 'projector stopped the partition at a ledger record it cannot decode; deploy a projector that reads it and restart');
    expect(report).toMatchObject({ level: 50, topic, partition: alicePartition, offset: badOffset });
    expect(await registry.getSingleMetricAsString('vevee_projector_postgres_stopped_partitions')).toContain('vevee_projector_postgres_stopped_partitions 1');
  });
});
