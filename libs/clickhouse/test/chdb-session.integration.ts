import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestEnvironment, type TestEnvironment } from '@vevee/testing';

import { createClickHouse } from '../src';

let environment: TestEnvironment;
let client: ClickHouseClient;

beforeAll(async () => {
  environment = await createTestEnvironment();
  client = createClickHouse(environment.config);
});

afterAll(async () => {
  await client?.close();
  await environment?.cleanup();
});

async function countOf(limit: number): Promise<number> {
  const result = await client.query({ query: `SELECT count() AS rows FROM numbers(${limit})`, format: 'JSONEachRow' });
  const [row] = await result.json<{ rows: string }>();
  return Number(row!.rows);
}

describe('embedded engine session', () => {
  it('keeps a failed query’s output out of the queries around it', async () => {
    // throwIf fails after the engine has written part of the result. chdb keeps
    // that part, and without the drain it arrives in front of the next query's output.
    const failing = Array.from({ length: 5 }, () =>
      client
        .query({ query: 'SELECT number, throwIf(number > 150000) FROM numbers(200000)', format: 'JSONEachRow' })
        .then((result) => result.json())
        .then(
          () => 'answered',
          () => 'failed',
        ),
    );
    const counts = Array.from({ length: 20 }, (_, index) => countOf(index + 1));

    expect(await Promise.all(failing)).toEqual(['failed', 'failed', 'failed', 'failed', 'failed']);
    expect(await Promise.all(counts)).toEqual(Array.from({ length: 20 }, (_, index) => index + 1));
  });
});
