import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { encodeLedgerEvent, type LedgerEvent } from '@vevee/contracts';
import { createPool, migrate } from '@vevee/postgres';
import { createTestEnvironment, type TestEnvironment } from '@vevee/testing';

import { projectBatch, type AppliedOutcome, type BatchInput } from '../src/project-batch';
import { projectedOffsets } from '../src';
import { committed, reserved, tracked, type Who } from './ledger-fixtures';

const TOPIC = 'ledger-under-test';
const who = (at: number): Who => ({ workspaceId: 'ws_batch', personId: 'alice', at });

function batchOf(events: LedgerEvent[], firstOffset: number, positioned = true): BatchInput {
  const records = events.map((event, index) => ({ offset: String(firstOffset + index), value: encodeLedgerEvent(event) }));
  return {
    projector: 'test-projector',
    topic: TOPIC,
    partition: 0,
    records,
    firstOffset: records[0]?.offset ?? null,
    lastOffset: records.at(-1)?.offset ?? String(firstOffset - 1),
    positioned,
  };
}

async function usedAndReserved(pool: pg.Pool): Promise<Array<[string, string, string]>> {
  const result = await pool.query<{ period: string; used: string; reserved: string }>(
    'SELECT period, used::text, reserved::text FROM usage_counters ORDER BY period',
  );
  return result.rows.map((row) => [row.period, row.used, row.reserved]);
}

describe('projectBatch', () => {
  let environment: TestEnvironment;
  let pool: pg.Pool;

  beforeEach(async () => {
    environment = await createTestEnvironment();
    await migrate(environment.config.databaseUrl);
    pool = createPool(environment.config.databaseUrl, 2);
  });

  afterEach(async () => {
    await pool.end();
    await environment.cleanup();
  });

  it('skips records below the stored offset', async () => {
    const hold = reserved(who(0), 'r1', 100);
    const events = [hold, committed(who(1_000), hold, 60), tracked(who(2_000), 'tokens', 0.1), tracked(who(3_000), 'tokens', 0.2)];

    const first = (await projectBatch(pool, batchOf(events.slice(0, 3), 0))) as AppliedOutcome;
    // A redelivery that overlaps the first batch: records 1 and 2 again, then record 3.
    const second = (await projectBatch(pool, batchOf(events.slice(1), 1))) as AppliedOutcome;

    expect(first).toMatchObject({ kind: 'applied', skipped: 0, nextOffset: 3n });
    expect(second).toMatchObject({ kind: 'applied', skipped: 2, nextOffset: 4n, lastHandledOffset: '3' });
    expect(second.events.map((event) => event.type)).toEqual(['UsageTracked']);
    // 60 + 0.1 + 0.2 summed as NUMERIC, exactly.
    expect(await usedAndReserved(pool)).toEqual([
      ['day', '60.3', '0'],
      ['month', '60.3', '0'],
    ]);
    expect((await projectedOffsets(pool, 'test-projector', TOPIC)).get(0)).toBe(4n);
  });

  it('asks to seek when the first batch after an assignment starts elsewhere', async () => {
    await projectBatch(pool, batchOf([tracked(who(0), 'tokens', 1), tracked(who(1), 'tokens', 1)], 0));

    const behind = await projectBatch(pool, batchOf([tracked(who(0), 'tokens', 1)], 0, false));
    const ahead = await projectBatch(pool, batchOf([tracked(who(5), 'tokens', 1)], 5, false));

    expect(behind).toEqual({ kind: 'reposition', offset: 2n });
    expect(ahead).toEqual({ kind: 'reposition', offset: 2n });
    expect(await usedAndReserved(pool)).toEqual([
      ['day', '2', '0'],
      ['month', '2', '0'],
    ]);
  });

  it('stops before a record it cannot decode and keeps the records before it', async () => {
    const input = batchOf([tracked(who(0), 'tokens', 1), tracked(who(1), 'tokens', 2), tracked(who(2), 'tokens', 4)], 0);
    input.records[1]!.value = Buffer.from('{"version": 1, "type": "QuotaTeleported"}');
    input.records[2]!.value = Buffer.from('not json');

    const applied = (await projectBatch(pool, input)) as AppliedOutcome;
    expect(applied.failure?.offset).toBe('1');
    expect(applied.failure?.error.message).toBe('ledger record has unknown event type QuotaTeleported');
    expect(applied).toMatchObject({ nextOffset: 1n, lastHandledOffset: '0' });
    expect(await usedAndReserved(pool)).toEqual([
      ['day', '1', '0'],
      ['month', '1', '0'],
    ]);
  });

  it('reports malformed JSON and missing fields as decode failures', async () => {
    const broken = batchOf([tracked(who(0), 'tokens', 1)], 0);
    broken.records[0]!.value = Buffer.from('not json');
    const missing = batchOf([tracked(who(0), 'tokens', 1)], 0);
    missing.records[0]!.value = Buffer.from(JSON.stringify({ ...tracked(who(0), 'tokens', 1), windows: [{ period: 'fortnight', start: 0, end: 1 }] }));

    const brokenOutcome = (await projectBatch(pool, broken)) as AppliedOutcome;
    const missingOutcome = (await projectBatch(pool, missing)) as AppliedOutcome;

    expect(brokenOutcome.failure?.error.message).toMatch(/^ledger record is not valid JSON: /);
    expect(missingOutcome.failure?.error.message).toBe(
      'ledger record UsageTracked has invalid fields: windows[0] must have a period of minute, hour, day, week, month, billing, lifetime and finite start < end',
    );
    expect(missingOutcome).toMatchObject({ nextOffset: 0n, lastHandledOffset: undefined });
  });
});
