import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '@vevee/testing';

import { TEST_WORKSPACE, startTestStack, type TestStack } from './harness';

let stack: TestStack;

// Persons are dropped from memory at the first snapshot after their last command.
beforeAll(async () => {
  stack = await startTestStack({ tokens: { day: 50 } }, { DECIDER_PERSON_IDLE_MS: '1', SNAPSHOT_INTERVAL_MS: '200', EXPIRY_SWEEP_MS: '50' });
});

afterAll(async () => {
  await stack?.close();
});

/** Returns the persons whose state is only in their snapshot rows, from the decider's metrics. */
async function evictedPersons(): Promise<number> {
  const text = await (await fetch(`${stack.vevee.url}/metrics`)).text();
  const line = text.split('\n').find((each) => each.startsWith('vevee_decider_persons{state="snapshot"}'));
  return Number(line?.split(' ')[1] ?? 0);
}

async function waitForEviction(minimum: number): Promise<void> {
  await waitFor(`${minimum} persons evicted`, async () => (await evictedPersons()) >= minimum);
}

describe('decider › evicted persons', () => {
  it('keep holds, counters and idempotency', async () => {
    const first = await stack.sdk.reserve({ personId: 'eve', meter: 'tokens', quantity: 30, idempotencyKey: 'eve-1' });
    expect(first).toMatchObject({ allowed: true, remaining: 20 });
    await waitForEviction(1);

    // Each call below reads eve back from her snapshot row first.
    expect(await stack.sdk.reserve({ personId: 'eve', meter: 'tokens', quantity: 30, idempotencyKey: 'eve-1' })).toEqual(first);
    await waitForEviction(1);
    expect(await stack.sdk.reserve({ personId: 'eve', meter: 'tokens', quantity: 30, idempotencyKey: 'eve-2' })).toMatchObject({ allowed: false, remaining: 20 });
    await waitForEviction(1);
    expect(await stack.sdk.commit({ reservationId: first.reservationId, quantity: 25 })).toMatchObject({ quantity: 25, overage: 0 });
    await waitForEviction(1);
    expect(await stack.sdk.check({ personId: 'eve', meter: 'tokens', quantity: 25 })).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('expires the hold of an evicted person', async () => {
    const hold = await stack.sdk.reserve({ personId: 'fay', meter: 'tokens', quantity: 10, ttlSeconds: 1 });
    // eve from the test above and fay.
    await waitForEviction(2);

    const status = await waitFor('the hold to expire in PostgreSQL', async () => {
      const result = await stack.pool.query<{ status: string }>('SELECT status FROM reservations WHERE workspace_id = $1 AND reservation_id = $2', [TEST_WORKSPACE, hold.reservationId]);
      return result.rows[0]?.status === 'expired' && result.rows[0].status;
    });
    expect(status).toBe('expired');
  });
});
