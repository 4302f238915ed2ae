import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { personIdOfReservation } from '@vevee/contracts';
import { VeveeError } from '@vevee/sdk';
import { waitFor } from '@vevee/testing';

import { TEST_API_KEY, TEST_WORKSPACE, startTestStackWith, type TestStack } from './harness';

const limit = (id: string, period: string, amount: number, credits = false) => ({
  id,
  meter: 'tokens',
  amount,
  period,
  window: 'calendar',
  enforcement: 'hard',
  overage: 'record',
  credits,
});

/** Free: 1,000 tokens a day, 2,000 a month and 10^9 a lifetime. Pro: 200 a minute, and 2,000 a month with credits above it. */
const CATALOG = {
  meters: { tokens: { unit: 'tokens', aggregation: 'sum', displayName: 'Tokens' } },
  plans: {
    free: { name: 'Free', limits: [limit('tokens-day', 'day', 1_000), limit('tokens-month', 'month', 2_000), limit('tokens-lifetime', 'lifetime', 1e9)] },
    pro: { name: 'Pro', limits: [limit('tokens-minute', 'minute', 200), limit('tokens-month', 'month', 2_000, true)] },
  },
  defaultPlanId: 'free',
};

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStackWith(CATALOG);
});

afterAll(async () => {
  await stack?.close();
});

/** Returns the person's counter of a period in PostgreSQL for the window open now. */
async function counterInPostgres(personId: string, period: string): Promise<{ used: number; reserved: number } | undefined> {
  const result = await stack.pool.query<{ used: string; reserved: string }>(
    `SELECT used, reserved FROM usage_counters
      WHERE workspace_id = $1 AND person_id = $2 AND meter = 'tokens' AND period = $3 AND window_start <= now() AND window_end > now()`,
    [TEST_WORKSPACE, personId, period],
  );
  const row = result.rows[0];
  return row === undefined ? undefined : { used: Number(row.used), reserved: Number(row.reserved) };
}

describe('plans, subscriptions and credits over RPC', () => {
  it('applies two limits, an upgrade and a credit top-up', async () => {
    const personId = 'alice';
    const sdk = stack.sdk;

    // On the free plan, tracked usage counts in the day and month windows.
    await sdk.track({ personId, eventType: 'batch.job', meter: 'tokens', quantity: 1_900 });
    expect(await sdk.reserve({ personId, meter: 'tokens', quantity: 10 })).toMatchObject({ allowed: false, period: 'day', limit: 1_000, remaining: 0 });

    const occurredAt = new Date();
    const upgrade = { personId, planId: 'pro', status: 'active', source: 'stripe', externalId: 'evt_2', occurredAt };
    expect(await sdk.upsertSubscription(upgrade)).toMatchObject({ applied: true, outcome: 'applied', current: { planId: 'pro', status: 'active' } });
    expect(await sdk.upsertSubscription(upgrade)).toMatchObject({ applied: false, outcome: 'duplicate' });
    const older = { ...upgrade, planId: 'free', externalId: 'evt_1', occurredAt: new Date(occurredAt.getTime() - 60_000) };
    expect(await sdk.upsertSubscription(older)).toMatchObject({ applied: false, outcome: 'stale', current: { planId: 'pro' } });

    // The minute limit denies first, and the month keeps its 100 tokens.
    expect(await sdk.reserve({ personId, meter: 'tokens', quantity: 250 })).toMatchObject({ allowed: false, period: 'minute', limit: 200, remaining: 200 });
    expect(await sdk.reserve({ personId, meter: 'tokens', quantity: 150 })).toMatchObject({ allowed: false, period: 'month', limit: 2_000, remaining: 100 });
    expect(await sdk.check({ personId, meter: 'tokens', quantity: 100 })).toMatchObject({ allowed: true, period: 'month', remaining: 0, creditQuantity: 0 });

    const topUp = { personId, meter: 'tokens', amount: 300, idempotencyKey: 'topup-1', reason: 'top-up' };
    const grant = await sdk.grantCredits(topUp);
    expect(grant.balance).toBe(300);
    expect(await sdk.check({ personId, meter: 'tokens', quantity: 150 })).toMatchObject({ allowed: true, creditQuantity: 50 });

    const hold = await sdk.reserve({ personId, meter: 'tokens', quantity: 150 });
    expect(hold).toMatchObject({ allowed: true, creditQuantity: 50 });
    expect(await sdk.commit({ reservationId: hold.reservationId, quantity: 150 })).toMatchObject({ quantity: 150, creditQuantity: 50, overage: 0 });
    // The same key creates no second grant, and its reply has the balance left.
    expect(await sdk.grantCredits(topUp)).toEqual({ grantId: grant.grantId, balance: 250 });

    // The month counts the 100 tokens of allowance; the credit paid for the other 50.
    await waitFor('PostgreSQL to show the month at its limit', async () => (await counterInPostgres(personId, 'month'))?.used === 2_000);
    expect(await counterInPostgres(personId, 'day')).toEqual({ used: 1_900, reserved: 0 });
    // Only the free plan has the lifetime limit, so it counts the usage before the upgrade.
    expect(await counterInPostgres(personId, 'lifetime')).toEqual({ used: 1_900, reserved: 0 });

    // person.usage shows the limits of alice's plan now: pro has no day limit and 2,000 a month.
    const response = await fetch(`${stack.vevee.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_API_KEY}` },
      body: JSON.stringify({ query: '{ person(id: "alice") { usage(meter: "tokens") { period used limit remaining } } }' }),
    });
    expect(await response.json()).toEqual({
      data: {
        person: {
          usage: [
            { period: 'DAY', used: 1_900, limit: null, remaining: null },
            { period: 'MONTH', used: 2_000, limit: 2_000, remaining: 0 },
          ],
        },
      },
    });
  });

  it('rejects an unknown plan and a bad subscription with the field named', async () => {
    const base = { personId: 'carol', planId: 'gold', status: 'active', source: 'stripe', externalId: 'evt_9', occurredAt: new Date() };
    await expect(stack.sdk.upsertSubscription(base)).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('unknown plan "gold"') });
    const error = await stack.sdk.upsertSubscription({ ...base, planId: 'pro', status: 'lapsed' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(VeveeError);
    expect((error as VeveeError).message).toContain('status must be one of active, trialing, past_due, paused, canceled');
    const grant = await stack.sdk.grantCredits({ personId: 'carol', meter: 'tokens', amount: -5 }).catch((caught: unknown) => caught);
    expect((grant as VeveeError).message).toContain('amount must be greater than 0');

    // A change dated in the future would make every later real change look stale.
    const future = { ...base, planId: 'pro', externalId: 'evt_10', occurredAt: new Date(Date.now() + 365 * 86_400_000) };
    await expect(stack.sdk.upsertSubscription(future)).rejects.toMatchObject({ code: 'invalid_argument', fields: ['occurredAt'] });
    await expect(stack.sdk.upsertSubscription({ ...base, occurredAt: new Date(Number.NaN) })).rejects.toMatchObject({ code: 'invalid_argument', fields: ['occurredAt'] });
  });

  it('credits › writes off expired credit unprompted', async () => {
    const personId = 'dora';
    const expiresAt = new Date(Date.now() + 1_500);
    const grant = await stack.sdk.grantCredits({ personId, meter: 'tokens', amount: 40, idempotencyKey: 'dora-trial', expiresAt });

    // No call for dora follows: the decider wakes her at the expiry and appends the write-off.
    const entry = await waitFor('the write-off in PostgreSQL', async () => {
      const result = await stack.pool.query<{ amount: string; effective_at: Date }>(
        `SELECT amount::text, effective_at FROM credit_entries WHERE workspace_id = $1 AND person_id = $2 AND grant_id = $3 AND kind = 'expiry'`,
        [TEST_WORKSPACE, personId, grant.grantId],
      );
      return result.rows[0];
    });
    expect(Number(entry.amount)).toBe(-40);
    expect(entry.effective_at).toEqual(expiresAt);
  });

  it('transfer › rejects a call without the replica token', async () => {
    await stack.sdk.track({ personId: 'gus', eventType: 'chat', meter: 'tokens', quantity: 300 });
    await waitFor('PostgreSQL to count gus', async () => (await counterInPostgres('gus', 'day'))?.used === 300);
    const now = Date.now();
    const body = {
      transferId: 'forged-1',
      sourcePersonId: 'nobody',
      targetPersonId: 'gus',
      transfers: [{ meter: 'tokens', period: 'day', windowStart: new Date(now - 3_600_000).toISOString(), windowEnd: new Date(now + 3_600_000).toISOString(), used: -300 }],
    };
    for (const token of [undefined, 'not-the-token']) {
      const response = await fetch(`${stack.vevee.url}/vevee.v1.QuotaService/TransferUsage`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_API_KEY}`, ...(token === undefined ? {} : { 'vevee-replica-token': token }) },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ code: 'permission_denied', message: expect.stringContaining('call Alias') });
    }
    expect(await stack.sdk.check({ personId: 'gus', meter: 'tokens', quantity: 700 })).toMatchObject({ allowed: true, remaining: 0 });
    expect(await stack.sdk.check({ personId: 'gus', meter: 'tokens', quantity: 701 })).toMatchObject({ allowed: false });
  });

  it('alias › moves anonymous usage to the known person once', async () => {
    const sdk = stack.sdk;
    await sdk.track({ personId: 'anon-7', eventType: 'chat', meter: 'tokens', quantity: 40 });
    await sdk.track({ personId: 'bob', eventType: 'chat', meter: 'tokens', quantity: 500 });
    await sdk.identify({ personId: 'anon-7', set: { plan: 'trial' }, setOnce: { firstSource: 'ad' } });

    const first = await sdk.alias({ anonymousId: 'anon-7', knownId: 'bob' });
    expect(first.transfers.map((transfer) => [transfer.period, transfer.used])).toEqual([
      ['day', 40],
      ['month', 40],
      ['lifetime', 40],
    ]);
    expect(await sdk.alias({ anonymousId: 'anon-7', knownId: 'bob' })).toEqual(first);
    // The same alias with its ids swapped would merge bob into himself through anon-7.
    await expect(sdk.alias({ anonymousId: 'bob', knownId: 'anon-7' })).rejects.toMatchObject({ code: 'invalid_argument', fields: ['knownId'] });
    await expect(sdk.alias({ anonymousId: '', knownId: 'bob' })).rejects.toMatchObject({ message: expect.stringContaining('anonymousId is required') });

    // Requests for the anonymous id now run for bob: 1,000 - 540 leaves 460 today.
    const hold = await sdk.reserve({ personId: 'anon-7', meter: 'tokens', quantity: 460 });
    expect(hold).toMatchObject({ allowed: true, remaining: 0, period: 'day' });
    expect(personIdOfReservation(hold.reservationId)).toBe('bob');
    await sdk.release({ reservationId: hold.reservationId });

    await waitFor('PostgreSQL to move the usage to bob', async () => (await counterInPostgres('bob', 'day'))?.used === 540);
    expect(await counterInPostgres('anon-7', 'day')).toEqual({ used: 0, reserved: 0 });

    const response = await fetch(`${stack.vevee.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_API_KEY}` },
      body: JSON.stringify({ query: '{ anonymous: person(id: "anon-7") { mergedInto } known: person(id: "bob") { mergedInto } }' }),
    });
    expect(await response.json()).toEqual({ data: { anonymous: { mergedInto: 'bob' }, known: { mergedInto: null } } });
  });
});
