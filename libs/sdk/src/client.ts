import { randomUUID } from 'node:crypto';

import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';

import { QuotaService } from '@vevee/contracts';

import { VeveeError } from './errors';

export interface VeveeOptions {
  apiKey: string;
  /** The Vevee server, for example `http://127.0.0.1:4000`. */
  baseUrl: string;
  /** Deadline of one attempt, in milliseconds. Default 5000. */
  timeoutMs?: number;
  /**
   * Attempts after the first for retriable errors, with exponential backoff
   * from 50 ms to 2 s. Default 6, about 3 s in all, which covers a partition
   * moving to another replica.
   */
  maxRetries?: number;
  /** Encode requests as protobuf (default) or JSON. */
  format?: 'binary' | 'json';
}

export interface ReserveInput {
  personId: string;
  meter: string;
  quantity: number;
  /** Generated when omitted; retries reuse it either way. */
  idempotencyKey?: string;
  /** Seconds until an unclaimed hold expires. Default 60. */
  ttlSeconds?: number;
}

export interface ReserveResult {
  allowed: boolean;
  /** Empty when denied. */
  reservationId: string;
  remaining: number;
  limit: number;
  /** The period of the tightest limit: `day` or `month`. */
  period: string;
  resetsAt: Date;
  expiresAt: Date | undefined;
  /** The reason for a denial, or empty when allowed. */
  reason: string;
}

export interface CommitInput {
  reservationId: string;
  quantity: number;
  cost?: number;
  currency?: string;
  metadata?: Record<string, unknown>;
}

export interface CommitResult {
  reservationId: string;
  quantity: number;
  overage: number;
  afterExpiry: boolean;
}

export interface ReleaseResult {
  reservationId: string;
  released: number;
}

export interface TrackInput {
  personId: string;
  eventType: string;
  meter?: string;
  quantity?: number;
  cost?: number;
  currency?: string;
  metadata?: Record<string, unknown>;
  idempotencyKey?: string;
}

export interface TrackResult {
  eventId: string;
}

/** The usage a guarded call reports after it ran. */
export interface GuardedUsage {
  quantity: number;
  cost?: number;
  currency?: string;
  metadata?: Record<string, unknown>;
}

function invalid(field: string, message: string): VeveeError {
  return new VeveeError('invalid_argument', `${field} ${message}`, [field]);
}

/** Checks what the wire format cannot carry, so it fails here with the field named. */
function checkEncodable(input: { ttlSeconds?: number; metadata?: Record<string, unknown> }): void {
  if (input.ttlSeconds !== undefined && !(Number.isInteger(input.ttlSeconds) && input.ttlSeconds >= 1)) {
    throw invalid('ttlSeconds', 'must be a whole number of seconds, at least 1');
  }
  if (input.metadata !== undefined) {
    try {
      JSON.stringify(input.metadata);
    } catch (error) {
      throw invalid('metadata', `must be JSON-serializable: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

function dateOf(timestamp: Timestamp | undefined): Date | undefined {
  return timestamp === undefined ? undefined : timestampDate(timestamp);
}

/** A client of Vevee's RPC API. One instance per process; it keeps connections open. */
export class Vevee {
  private readonly client: Client<typeof QuotaService>;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;

  constructor(options: VeveeOptions) {
    if (options.apiKey === '') throw new VeveeError('invalid_argument', 'apiKey is empty: pass the API key of your workspace', ['apiKey']);
    const authorize: Interceptor = (next) => (request) => {
      request.header.set('authorization', `Bearer ${options.apiKey}`);
      return next(request);
    };
    const transport = createConnectTransport({
      baseUrl: options.baseUrl,
      httpVersion: '1.1',
      useBinaryFormat: (options.format ?? 'binary') === 'binary',
      interceptors: [authorize],
    });
    this.client = createClient(QuotaService, transport);
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.maxRetries = options.maxRetries ?? 6;
  }

  /** Holds quota for a call. `allowed: false` means the person is at a limit. */
  async reserve(input: ReserveInput): Promise<ReserveResult> {
    checkEncodable(input);
    const idempotencyKey = input.idempotencyKey ?? randomUUID();
    const reply = await this.call((signal) =>
      this.client.reserve({ ...input, idempotencyKey }, { signal, timeoutMs: this.timeoutMs }),
    );
    return {
      allowed: reply.allowed,
      reservationId: reply.reservationId,
      remaining: reply.remaining,
      limit: reply.limit,
      period: reply.period,
      resetsAt: dateOf(reply.resetsAt) ?? new Date(0),
      expiresAt: dateOf(reply.expiresAt),
      reason: reply.reason,
    };
  }

  /** Records the actual usage of a reserved call. Repeating it returns the first result. */
  async commit(input: CommitInput): Promise<CommitResult> {
    checkEncodable(input);
    const reply = await this.call((signal) =>
      this.client.commit(
        { ...input, metadata: input.metadata as never, currency: input.currency ?? (input.cost === undefined ? '' : 'USD') },
        { signal, timeoutMs: this.timeoutMs },
      ),
    );
    return { reservationId: reply.reservationId, quantity: reply.quantity, overage: reply.overage, afterExpiry: reply.afterExpiry };
  }

  /** Gives a hold back, for a call that failed or was cancelled. */
  async release(input: { reservationId: string }): Promise<ReleaseResult> {
    const reply = await this.call((signal) => this.client.release(input, { signal, timeoutMs: this.timeoutMs }));
    return { reservationId: reply.reservationId, released: reply.released };
  }

  /** Records an event, and its usage when `meter` is set, without a hold. */
  async track(input: TrackInput): Promise<TrackResult> {
    checkEncodable(input);
    const idempotencyKey = input.idempotencyKey ?? randomUUID();
    const reply = await this.call((signal) =>
      this.client.track(
        { ...input, idempotencyKey, metadata: input.metadata as never, currency: input.currency ?? (input.cost === undefined ? '' : 'USD') },
        { signal, timeoutMs: this.timeoutMs },
      ),
    );
    return { eventId: reply.eventId };
  }

  /**
   * Reserves `estimate`, runs `call` if allowed, then commits what it reports,
   * or releases the hold if it throws. Returns undefined when denied.
   */
  async guard<T>(
    input: ReserveInput,
    call: (reservation: ReserveResult) => Promise<{ result: T; usage: GuardedUsage }>,
  ): Promise<{ result: T; reservation: ReserveResult } | { result: undefined; reservation: ReserveResult }> {
    const reservation = await this.reserve(input);
    if (!reservation.allowed) return { result: undefined, reservation };
    let outcome: { result: T; usage: GuardedUsage };
    try {
      outcome = await call(reservation);
    } catch (error) {
      await this.release({ reservationId: reservation.reservationId });
      throw error;
    }
    await this.commit({ reservationId: reservation.reservationId, ...outcome.usage });
    return { result: outcome.result, reservation };
  }

  /** Closes idle connections. Calls in flight finish first. */
  close(): void {
    // The Node transport's HTTP/1.1 agent frees idle sockets on its own.
  }

  private async call<T>(attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    for (let retry = 0; ; retry++) {
      try {
        return await attempt(AbortSignal.timeout(this.timeoutMs + 1_000));
      } catch (error) {
        const veveeError = VeveeError.from(error);
        if (!veveeError.retriable || retry >= this.maxRetries) throw veveeError;
        const backoff = Math.min(2_000, 50 * 2 ** retry) * (0.5 + Math.random() / 2);
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  }
}
