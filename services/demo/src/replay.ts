import { setTimeout as delay } from 'node:timers/promises';

import { createLimiter } from './concurrency';
import { priceCall } from './prices';
import { recordOutcome, type CallOutcome, type PersonTally } from './tally';
import { requestTokens, type AssignedRequest, type ReplayBurst } from './trace';

/** The part of the `@vevee/sdk` client that the replay calls. A `Vevee` instance satisfies it. */
export interface QuotaClient {
  reserve(input: { personId: string; meter: string; quantity: number; idempotencyKey?: string }): Promise<{
    allowed: boolean;
    reservationId: string | null;
    limit: number;
  }>;
  commit(input: { reservationId: string; quantity: number; cost?: number; currency?: string; metadata?: Record<string, unknown> }): Promise<unknown>;
  release(input: { reservationId: string }): Promise<unknown>;
}

export const DEMO_METER = 'tokens';

export interface ReplayOptions {
  client: QuotaClient;
  schedule: readonly ReplayBurst[];
  /** Maximum requests in flight. The rest of a larger burst waits for free slots. */
  concurrency: number;
  /** Run id in every idempotency key, unique per run, so the server never returns a reply stored for an earlier run. */
  runId: string;
  /** Called once per SDK error that the replay counts and goes on from. */
  onError?: (request: AssignedRequest, outcome: Extract<CallOutcome, { kind: 'error' }>) => void;
}

/**
 * Replays the schedule against Vevee: each burst fires at its `atMs` after the start,
 * and every request runs reserve, then commit or release. SDK errors (anything with a
 * string `code` and a boolean `retriable`, the shape of VeveeError) are counted per
 * person. Any other error rejects, after every started request has settled.
 */
export async function replay(options: ReplayOptions): Promise<Map<string, PersonTally>> {
  const limit = createLimiter(options.concurrency);
  const tallies = new Map<string, PersonTally>();
  const started = performance.now();
  const calls: Promise<void>[] = [];

  for (const burst of options.schedule) {
    const wait = started + burst.atMs - performance.now();
    if (wait > 0) await delay(wait);
    for (const request of burst.requests) {
      calls.push(
        limit(async () => {
          const outcome = await callOnce(options.client, request, options.runId);
          if (outcome.kind === 'error') options.onError?.(request, outcome);
          recordOutcome(tallies, request.personId, outcome);
        }),
      );
    }
  }

  const settled = await Promise.allSettled(calls);
  const failure = settled.find((result) => result.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return tallies;
}

/**
 * Runs one request the way an app wraps a model call. The estimate equals the trace's
 * actual input plus output tokens, so the commit quantity equals the reserved quantity
 * and the committed usage of a person can be checked against the limit exactly.
 */
export async function callOnce(client: QuotaClient, request: AssignedRequest, runId: string): Promise<CallOutcome> {
  const tokens = requestTokens(request);

  let reservation: Awaited<ReturnType<QuotaClient['reserve']>>;
  try {
    reservation = await client.reserve({ personId: request.personId, meter: DEMO_METER, quantity: tokens, idempotencyKey: `demo-${runId}-${request.index}` });
  } catch (error) {
    return errorOutcome(error, tokens, 'reserve');
  }
  if (!reservation.allowed) return { kind: 'denied', tokens, limit: reservation.limit };

  const reservationId = reservation.reservationId;
  if (reservationId === null || reservationId === '') {
    throw new Error(`reserve allowed request ${request.index} of ${request.personId} but returned no reservationId`);
  }

  if (request.failsCall) {
    try {
      await client.release({ reservationId });
    } catch (error) {
      return errorOutcome(error, tokens, 'release');
    }
    return { kind: 'released', tokens, limit: reservation.limit };
  }

  const price = priceCall({ model: request.model, inputTokens: request.inputTokens, outputTokens: request.outputTokens });
  try {
    await client.commit({
      reservationId,
      quantity: tokens,
      cost: price.cost,
      currency: price.currency,
      metadata: { model: price.model, provider: price.provider, inputTokens: request.inputTokens, outputTokens: request.outputTokens },
    });
  } catch (error) {
    return errorOutcome(error, tokens, 'commit');
  }
  return { kind: 'committed', tokens, cost: price.cost, limit: reservation.limit };
}

function errorOutcome(error: unknown, tokens: number, step: 'reserve' | 'commit' | 'release'): CallOutcome {
  if (!isSdkError(error)) throw error;
  return { kind: 'error', tokens, step, code: error.code, message: error.message };
}

function isSdkError(error: unknown): error is Error & { code: string; retriable: boolean } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string' && typeof (error as { retriable?: unknown }).retriable === 'boolean';
}
