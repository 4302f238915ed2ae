import { setImmediate as nextTurn } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { createLimiter } from '../src/concurrency';
import { priceCall } from '../src/prices';
import { callOnce, replay, type QuotaClient } from '../src/replay';
import { assignPersons, replaySchedule, type AssignedRequest } from '../src/trace';
import { loadTrace } from '../src/trace-file';

class SdkLikeError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retriable: boolean,
  ) {
    super(message);
  }
}

/** An in-memory stand-in for the SDK client, with a hard limit per person that open reservations count against. */
class InMemoryQuota implements QuotaClient {
  readonly used = new Map<string, number>();
  readonly openReservations = new Map<string, { personId: string; quantity: number }>();
  readonly commits: Parameters<QuotaClient['commit']>[0][] = [];
  readonly releases: string[] = [];
  readonly idempotencyKeys: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private nextId = 0;

  constructor(
    readonly limit: number,
    private readonly failures: { reserve?: Error; commit?: Error } = {},
  ) {}

  async reserve(input: { personId: string; quantity: number; idempotencyKey?: string }): Promise<{ allowed: boolean; reservationId: string | null; limit: number }> {
    await this.enter();
    if (this.failures.reserve !== undefined) throw this.failures.reserve;
    this.idempotencyKeys.push(input.idempotencyKey ?? '');
    const used = this.used.get(input.personId) ?? 0;
    if (used + input.quantity > this.limit) return { allowed: false, reservationId: null, limit: this.limit };
    const reservationId = `r-${this.nextId++}`;
    this.used.set(input.personId, used + input.quantity);
    this.openReservations.set(reservationId, { personId: input.personId, quantity: input.quantity });
    return { allowed: true, reservationId, limit: this.limit };
  }

  async commit(input: Parameters<QuotaClient['commit']>[0]): Promise<unknown> {
    await this.enter();
    if (this.failures.commit !== undefined) throw this.failures.commit;
    const reservation = this.takeReservation(input.reservationId);
    this.used.set(reservation.personId, (this.used.get(reservation.personId) ?? 0) - reservation.quantity + input.quantity);
    this.commits.push(input);
    return {};
  }

  async release(input: { reservationId: string }): Promise<unknown> {
    await this.enter();
    const reservation = this.takeReservation(input.reservationId);
    this.used.set(reservation.personId, (this.used.get(reservation.personId) ?? 0) - reservation.quantity);
    this.releases.push(input.reservationId);
    return {};
  }

  private takeReservation(reservationId: string): { personId: string; quantity: number } {
    const reservation = this.openReservations.get(reservationId);
    if (reservation === undefined) throw new Error(`unknown reservation ${reservationId}`);
    this.openReservations.delete(reservationId);
    return reservation;
  }

  /** Yields to the event loop while counted as in flight, so that parallel calls overlap. */
  private async enter(): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await nextTurn();
    this.inFlight--;
  }
}

function request(overrides: Partial<AssignedRequest> = {}): AssignedRequest {
  return { index: 7, offsetMs: 0, inputTokens: 900, outputTokens: 100, personId: 'user-001', model: 'claude-haiku-4-5', failsCall: false, ...overrides };
}

describe('callOnce', () => {
  it('commits an allowed call with its price', async () => {
    const client = new InMemoryQuota(10_000);

    const outcome = await callOnce(client, request(), 'run1');

    const expectedCost = priceCall({ model: 'claude-haiku-4-5', inputTokens: 900, outputTokens: 100 }).cost;
    expect(outcome).toEqual({ kind: 'committed', tokens: 1_000, cost: expectedCost, limit: 10_000 });
    expect(client.idempotencyKeys).toEqual(['demo-run1-7']);
    expect(client.commits).toEqual([
      {
        reservationId: 'r-0',
        quantity: 1_000,
        cost: expectedCost,
        currency: 'USD',
        metadata: { model: 'claude-haiku-4-5', provider: 'anthropic', inputTokens: 900, outputTokens: 100 },
      },
    ]);
    expect(client.used.get('user-001')).toBe(1_000);
  });

  it('releases a failed call', async () => {
    const client = new InMemoryQuota(10_000);

    const outcome = await callOnce(client, request({ failsCall: true }), 'run1');

    expect(outcome).toEqual({ kind: 'released', tokens: 1_000, limit: 10_000 });
    expect(client.releases).toEqual(['r-0']);
    expect(client.commits).toEqual([]);
    expect(client.used.get('user-001')).toBe(0);
  });

  it('reports a denial without a commit', async () => {
    const client = new InMemoryQuota(999);

    const outcome = await callOnce(client, request(), 'run1');

    expect(outcome).toEqual({ kind: 'denied', tokens: 1_000, limit: 999 });
    expect(client.commits).toEqual([]);
  });

  it('counts SDK errors by step', async () => {
    const reserveFails = new InMemoryQuota(10_000, { reserve: new SdkLikeError('broker down', 'unavailable', true) });
    const commitFails = new InMemoryQuota(10_000, { commit: new SdkLikeError('timed out', 'deadline_exceeded', true) });

    expect(await callOnce(reserveFails, request(), 'run1')).toEqual({ kind: 'error', tokens: 1_000, step: 'reserve', code: 'unavailable', message: 'broker down' });
    expect(await callOnce(commitFails, request(), 'run1')).toMatchObject({ kind: 'error', step: 'commit', code: 'deadline_exceeded' });
  });

  it('rethrows errors that are not SDK errors', async () => {
    const client = new InMemoryQuota(10_000, { reserve: new TypeError('bug') });

    await expect(callOnce(client, request(), 'run1')).rejects.toThrow(TypeError);
  });
});

describe('replay', () => {
  it('runs every request within the concurrency bound', async () => {
    const limit = 50_000;
    const requests = assignPersons((await loadTrace()).slice(0, 600), { persons: 30, seed: 3 });
    const schedule = replaySchedule(requests, { speedup: 100_000, deliberate: { persons: 3, size: 12, startAtTokens: limit - 5_000 } });
    const client = new InMemoryQuota(limit);

    const tallies = await replay({ client, schedule, concurrency: 8, runId: 'run1' });

    const all = [...tallies.values()];
    expect(all.reduce((sum, tally) => sum + tally.calls, 0)).toBe(600);
    expect(all.some((tally) => tally.deniedCalls > 0)).toBe(true);
    for (const tally of all) {
      expect(tally.allowedTokens).toBeLessThanOrEqual(limit);
      expect(client.used.get(tally.personId) ?? 0).toBe(tally.allowedTokens);
    }
    expect(client.openReservations.size).toBe(0);
    expect(client.maxInFlight).toBeLessThanOrEqual(8);
    expect(client.maxInFlight).toBeGreaterThan(1);
  });

  it('counts the ledger events of each outcome', async () => {
    const client = new InMemoryQuota(2_500);
    const requests = [request({ index: 0 }), request({ index: 1, failsCall: true }), request({ index: 2 }), request({ index: 3 })];

    const tallies = await replay({ client, schedule: [{ atMs: 0, kind: 'slot', requests }], concurrency: 1, runId: 'run1' });

    // 1,000 tokens each under a limit of 2,500: committed (2 events), released (2), committed (2), denied (1).
    expect(tallies.get('user-001')).toMatchObject({ calls: 4, allowedCalls: 3, failedCalls: 1, deniedCalls: 1, allowedTokens: 2_000, deniedTokens: 1_000, ledgerEvents: 7 });
  });
});

describe('createLimiter', () => {
  it('runs at most the maximum at once, in order', async () => {
    const limit = createLimiter(3);
    let running = 0;
    let maxRunning = 0;
    const started: number[] = [];

    await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        limit(async () => {
          started.push(index);
          running++;
          maxRunning = Math.max(maxRunning, running);
          await nextTurn();
          running--;
        }),
      ),
    );

    expect(maxRunning).toBe(3);
    expect(started).toEqual(Array.from({ length: 20 }, (_, index) => index));
  });

  it('frees the slot of a task that throws', async () => {
    const limit = createLimiter(1);

    await expect(limit(() => Promise.reject(new Error('task failed')))).rejects.toThrow('task failed');
    await expect(limit(() => Promise.resolve('next'))).resolves.toBe('next');
  });
});
