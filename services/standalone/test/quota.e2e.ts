import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { countEvents } from '@vevee/clickhouse';
import { VeveeError } from '@vevee/sdk';
import { waitFor } from '@vevee/testing';

import { TEST_WORKSPACE, postJson, startTestStack, type TestStack } from './harness';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ tokens: { day: 50, month: 1000 }, requests: { day: 100_000 } }, { EXPIRY_SWEEP_MS: '50' });
});

afterAll(async () => {
  await stack?.close();
});

async function usedInPostgres(personId: string, meter: string, period: 'day' | 'month'): Promise<{ used: number; reserved: number } | undefined> {
  const result = await stack.pool.query<{ used: string; reserved: string }>(
    `SELECT used, reserved FROM usage_counters
      WHERE workspace_id = $1 AND person_id = $2 AND meter = $3 AND period = $4 AND window_end > now()`,
    [TEST_WORKSPACE, personId, meter, period],
  );
  const row = result.rows[0];
  return row === undefined ? undefined : { used: Number(row.used), reserved: Number(row.reserved) };
}

async function graphql(query: string): Promise<{ data?: Record<string, unknown>; errors?: { message: string; extensions?: { code?: string } }[] }> {
  const response = await fetch(`${stack.vevee.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer vv_test_0123456789abcdef' },
    body: JSON.stringify({ query }),
  });
  return (await response.json()) as never;
}

describe('readiness', () => {
  it('readyz › reports ready once partitions serve', async () => {
    const response = await fetch(`${stack.vevee.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });
});

describe('rpc › requests Connect cannot route', () => {
  const rpc = (path: string, init: RequestInit) => fetch(`${stack.vevee.url}/vevee.v1.QuotaService/${path}`, init);
  const auth = { authorization: 'Bearer vv_test_0123456789abcdef' };

  it('names the methods for an unknown one', async () => {
    const response = await rpc('Reserv', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(404);
    const body = (await response.json()) as { code: string; message: string };
    expect(body.code).toBe('unimplemented');
    expect(body.message).toContain('unknown method "Reserv"');
    expect(body.message).toContain('call one of Reserve, Commit, Release');
    expect(body.message).not.toContain('TransferUsage');
  });

  it('asks for POST', async () => {
    const response = await rpc('Reserve', { method: 'GET', headers: auth });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await response.json()).toMatchObject({ message: expect.stringContaining('send a POST request') });
  });

  it('asks for a content type', async () => {
    const missing = await rpc('Reserve', { method: 'POST', headers: auth, body: new Uint8Array([123, 125]) });
    expect(missing.status).toBe(415);
    expect(await missing.json()).toMatchObject({ message: 'no content-type header is not supported: send the body as application/json or application/proto' });

    const text = await rpc('Reserve', { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: '{}' });
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({ message: expect.stringContaining('content-type "text/plain"') });
  });
});

describe('reserve › parallel calls', () => {
  it('allows exactly the limit when 200 reserves arrive together', async () => {
    const personId = 'burst-person';
    const replies = await Promise.all(
      Array.from({ length: 200 }, () => stack.sdk.reserve({ personId, meter: 'tokens', quantity: 1 })),
    );
    const allowed = replies.filter((reply) => reply.allowed);
    const denied = replies.filter((reply) => !reply.allowed);
    expect(allowed).toHaveLength(50);
    expect(denied).toHaveLength(150);
    expect(denied.every((reply) => reply.reason === 'limit_exceeded' && reply.remaining === 0)).toBe(true);

    await Promise.all(allowed.map((reply) => stack.sdk.commit({ reservationId: reply.reservationId, quantity: 1, cost: 0.002, metadata: { model: 'gpt-4o-mini' } })));

    const counter = await waitFor('PostgreSQL to show 50 used', async () => {
      const value = await usedInPostgres(personId, 'tokens', 'day');
      return value?.used === 50 && value.reserved === 0 ? value : undefined;
    });
    expect(counter).toEqual({ used: 50, reserved: 0 });

    const clickhouse = await waitFor('ClickHouse to hold 50 commits', async () => {
      const commits = await countEvents(stack.clickhouse, stack.config.clickhouseDatabase, { workspaceId: TEST_WORKSPACE, personId, type: 'QuotaCommitted' });
      return commits === 50 ? commits : undefined;
    });
    expect(clickhouse).toBe(50);
    const denials = await countEvents(stack.clickhouse, stack.config.clickhouseDatabase, { workspaceId: TEST_WORKSPACE, personId, type: 'QuotaDenied' });
    expect(denials).toBe(150);
  });
});

describe('release and expiry', () => {
  it('release › returns the quota', async () => {
    const personId = 'release-person';
    const held = await stack.sdk.reserve({ personId, meter: 'tokens', quantity: 50 });
    expect(held.allowed).toBe(true);
    expect((await stack.sdk.reserve({ personId, meter: 'tokens', quantity: 1 })).allowed).toBe(false);

    const released = await stack.sdk.release({ reservationId: held.reservationId });
    expect(released.released).toBe(50);
    const after = await stack.sdk.reserve({ personId, meter: 'tokens', quantity: 50 });
    expect(after.allowed).toBe(true);
  });

  it('expiry › an unclaimed hold expires after its TTL and its quota returns', async () => {
    const personId = 'expiry-person';
    const held = await stack.sdk.reserve({ personId, meter: 'tokens', quantity: 50, ttlSeconds: 1 });
    expect(held.allowed).toBe(true);
    expect(held.expiresAt).toBeInstanceOf(Date);

    const expired = await waitFor('the expiry to reach PostgreSQL', async () => {
      const result = await stack.pool.query<{ status: string }>('SELECT status FROM reservations WHERE workspace_id = $1 AND reservation_id = $2', [TEST_WORKSPACE, held.reservationId]);
      return result.rows[0]?.status === 'expired' ? result.rows[0].status : undefined;
    });
    expect(expired).toBe('expired');
    const counter = await usedInPostgres(personId, 'tokens', 'day');
    expect(counter).toEqual({ used: 0, reserved: 0 });

    const again = await stack.sdk.reserve({ personId, meter: 'tokens', quantity: 50 });
    expect(again.allowed).toBe(true);
  });

  it('expiry › a read right after the TTL shows no hold', async () => {
    const personId = 'read-after-ttl';
    const held = await stack.sdk.reserve({ personId, meter: 'tokens', quantity: 20, ttlSeconds: 1 });
    await waitFor('the TTL to pass', () => Date.now() > held.expiresAt!.getTime());
    const result = await graphql(`{ person(id: "${personId}") { usage(meter: "tokens", period: DAY) { used reserved remaining } } }`);
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ person: { usage: [{ used: 0, reserved: 0, remaining: 50 }] } });
  });
});

describe('idempotency', () => {
  it('reserve › a retry with the same key counts once', async () => {
    const personId = 'retry-person';
    const first = await stack.sdk.reserve({ personId, meter: 'tokens', quantity: 30, idempotencyKey: 'call-1' });
    const retry = await stack.sdk.reserve({ personId, meter: 'tokens', quantity: 30, idempotencyKey: 'call-1' });
    expect(retry).toEqual(first);
    const other = await stack.sdk.reserve({ personId, meter: 'tokens', quantity: 30, idempotencyKey: 'call-2' });
    expect(other.allowed).toBe(false);
    expect(other.remaining).toBe(20);
  });
});

describe('bad input', () => {
  const cases: { name: string; method: string; body: string; code: string; field: string }[] = [
    { name: 'missing person', method: 'Reserve', body: JSON.stringify({ meter: 'tokens', quantity: 1, idempotencyKey: 'k' }), code: 'invalid_argument', field: 'personId' },
    { name: 'negative quantity', method: 'Reserve', body: JSON.stringify({ personId: 'p', meter: 'tokens', quantity: -5, idempotencyKey: 'k' }), code: 'invalid_argument', field: 'quantity' },
    { name: 'zero quantity', method: 'Reserve', body: JSON.stringify({ personId: 'p', meter: 'tokens', quantity: 0, idempotencyKey: 'k' }), code: 'invalid_argument', field: 'quantity' },
    { name: 'non-numeric quantity', method: 'Reserve', body: JSON.stringify({ personId: 'p', meter: 'tokens', quantity: 'lots', idempotencyKey: 'k' }), code: 'invalid_argument', field: 'quantity' },
    { name: 'unknown meter', method: 'Reserve', body: JSON.stringify({ personId: 'p', meter: 'images', quantity: 1, idempotencyKey: 'k' }), code: 'invalid_argument', field: 'meter' },
    { name: 'quantity over the maximum', method: 'Reserve', body: JSON.stringify({ personId: 'p', meter: 'tokens', quantity: 1e300, idempotencyKey: 'k' }), code: 'invalid_argument', field: 'quantity' },
    { name: 'empty person id', method: 'Reserve', body: JSON.stringify({ personId: '', meter: 'tokens', quantity: 1, idempotencyKey: 'k' }), code: 'invalid_argument', field: 'personId is required' },
    { name: 'misspelt field', method: 'Reserve', body: JSON.stringify({ personId: 'p', meter: 'tokens', quantity: 1, idempotencyKey: 'k', ttlSecond: 5 }), code: 'invalid_argument', field: 'ttlSecond' },
    { name: 'commit without quantity', method: 'Commit', body: JSON.stringify({ reservationId: 'rsv_cA.x' }), code: 'invalid_argument', field: 'quantity is required' },
    { name: 'malformed reservation id', method: 'Commit', body: JSON.stringify({ reservationId: 'nope', quantity: 1 }), code: 'invalid_argument', field: 'reservationId' },
    { name: 'body over the size limit', method: 'Reserve', body: JSON.stringify({ personId: 'p', meter: 'tokens', quantity: 1, idempotencyKey: 'x'.repeat(200_000) }), code: 'resource_exhausted', field: 'RPC_MAX_BODY_BYTES' },
  ];

  for (const testCase of cases) {
    it(`${testCase.name} › is rejected with ${testCase.code} and appends nothing`, async () => {
      const before = await stack.ledgerEnd();
      const response = await postJson(stack.vevee.url, testCase.method, testCase.body);
      expect(response.json.code).toBe(testCase.code);
      expect(String(response.json.message)).toContain(testCase.field);
      expect(await stack.ledgerEnd()).toBe(before);
    });
  }

  it('wrong API key › is rejected as unauthenticated and appends nothing', async () => {
    const before = await stack.ledgerEnd();
    const response = await postJson(stack.vevee.url, 'Reserve', JSON.stringify({ personId: 'p', meter: 'tokens', quantity: 1, idempotencyKey: 'k' }), 'vv_wrong');
    expect(response.status).toBe(401);
    expect(response.json.code).toBe('unauthenticated');
    expect(String(response.json.message)).toContain('API key');
    expect(await stack.ledgerEnd()).toBe(before);
  });

  it('missing API key › is rejected as unauthenticated', async () => {
    const response = await postJson(stack.vevee.url, 'Reserve', JSON.stringify({ personId: 'p', meter: 'tokens', quantity: 1, idempotencyKey: 'k' }), null);
    expect(response.json.code).toBe('unauthenticated');
    expect(String(response.json.message)).toContain('Authorization');
  });

  it('denial › the JSON reply states allowed false', async () => {
    const personId = 'json-denial';
    await stack.sdk.reserve({ personId, meter: 'tokens', quantity: 50 });
    const response = await postJson(stack.vevee.url, 'Reserve', JSON.stringify({ personId, meter: 'tokens', quantity: 1, idempotencyKey: 'over' }));
    expect(response.json.allowed).toBe(false);
    expect(response.json.reason).toBe('limit_exceeded');
  });

  it('SDK › rejects a fractional TTL before sending', async () => {
    const error = await stack.sdk.reserve({ personId: 'p', meter: 'tokens', quantity: 1, ttlSeconds: 1.5 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(VeveeError);
    expect((error as VeveeError).fields).toEqual(['ttlSeconds']);
  });

  it('SDK › raises a VeveeError that names the field', async () => {
    const error = await stack.sdk.reserve({ personId: 'p', meter: 'tokens', quantity: -1 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(VeveeError);
    expect((error as VeveeError).code).toBe('invalid_argument');
    expect((error as VeveeError).fields).toEqual(['quantity']);
    expect((error as VeveeError).retriable).toBe(false);
  });
});
