import { randomUUID } from 'node:crypto';

import { timestampDate, timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
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
  /** The period of the tightest limit: `minute`, `hour`, `day`, `week`, `month`, `billing` or `lifetime`. */
  period: string;
  resetsAt: Date;
  expiresAt: Date | undefined;
  /** The reason for a denial, or empty when allowed. */
  reason: string;
  /** The part of the quantity held against credits instead of the plan's allowance. */
  creditQuantity: number;
  /** Ids of soft limits this reserve goes over: allowed, and flagged. */
  softExceeded: string[];
}

export interface CheckInput {
  personId: string;
  meter: string;
  quantity: number;
}

export type CheckResult = Omit<ReserveResult, 'reservationId' | 'expiresAt'>;

export interface SubscriptionTerms {
  planId: string;
  status: string;
  startsAt: Date;
}

export interface UpsertSubscriptionInput {
  personId: string;
  planId: string;
  /** `active`, `trialing`, `past_due`, `paused` or `canceled`. */
  status: string;
  /** The billing anchor. Omitted: keep the current one, or now for a new subscription. */
  startsAt?: Date;
  /** The billing system, for example `stripe`. */
  source: string;
  /** The webhook's event id: the change applies once per id. */
  externalId: string;
  /** When the billing system made the change. */
  occurredAt: Date;
  /** `immediately` (default) or `next_period`. */
  effective?: 'immediately' | 'next_period';
  reason?: string;
}

export interface UpsertSubscriptionResult {
  applied: boolean;
  /** `applied`, `scheduled`, `duplicate` or `stale`. */
  outcome: string;
  current: SubscriptionTerms | undefined;
  scheduled: SubscriptionTerms | undefined;
  scheduledAt: Date | undefined;
}

export interface GrantCreditsInput {
  personId: string;
  /** Generated when omitted; retries reuse it either way. */
  idempotencyKey?: string;
  /** A meter key, or a currency code such as `USD` for every meter in that unit. */
  meter: string;
  amount: number;
  /** Lower numbers burn first. Default 0. */
  priority?: number;
  effectiveAt?: Date;
  expiresAt?: Date;
  recurrence?: { period: 'day' | 'week' | 'month'; rolloverCap?: number; rolloverExpiresAfterSeconds?: number };
  reason?: string;
}

export interface IdentifyInput {
  personId: string;
  /** Properties to set, replacing earlier values. */
  set?: Record<string, unknown>;
  /** Properties to set only where the person has no value yet. */
  setOnce?: Record<string, unknown>;
  idempotencyKey?: string;
}

export interface AliasResult {
  transferId: string;
  /** The usage in open windows that moved to the known person. */
  transfers: Array<{ meter: string; period: string; windowStart: Date; windowEnd: Date; used: number }>;
}

export interface GrantCreditsResult {
  grantId: string;
  /**
   * The person's spendable credit for the meter after the grant. A recurring
   * grant's first renewal is made at the person's next decision, so it is not counted here yet.
   */
  balance: number;
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
  /** The part of the quantity paid by credits. */
  creditQuantity: number;
  /** True when the quantity was above the reservation and the overage policy capped it. */
  capped: boolean;
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

/** Converts a date for the wire, naming the field when the date is invalid. */
function timestampOf(field: string, date: Date): Timestamp {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw invalid(field, 'must be a valid Date');
  return timestampFromDate(date);
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
      creditQuantity: reply.creditQuantity,
      softExceeded: reply.softExceeded,
    };
  }

  /** Returns what reserve would reply now, without holding anything. */
  async check(input: CheckInput): Promise<CheckResult> {
    const reply = await this.call((signal) => this.client.check(input, { signal, timeoutMs: this.timeoutMs }));
    return {
      allowed: reply.allowed,
      remaining: reply.remaining,
      limit: reply.limit,
      period: reply.period,
      resetsAt: dateOf(reply.resetsAt) ?? new Date(0),
      reason: reply.reason,
      creditQuantity: reply.creditQuantity,
      softExceeded: reply.softExceeded,
    };
  }

  /** Applies a subscription change from a billing webhook; safe to repeat and to deliver out of order. */
  async upsertSubscription(input: UpsertSubscriptionInput): Promise<UpsertSubscriptionResult> {
    const reply = await this.call((signal) =>
      this.client.upsertSubscription(
        {
          ...input,
          startsAt: input.startsAt === undefined ? undefined : timestampOf('startsAt', input.startsAt),
          occurredAt: timestampOf('occurredAt', input.occurredAt),
          effective: input.effective ?? 'immediately',
          reason: input.reason ?? '',
        },
        { signal, timeoutMs: this.timeoutMs },
      ),
    );
    const terms = (value: { planId: string; status: string; startsAt?: Timestamp } | undefined) =>
      value === undefined ? undefined : { planId: value.planId, status: value.status, startsAt: dateOf(value.startsAt) ?? new Date(0) };
    return { applied: reply.applied, outcome: reply.outcome, current: terms(reply.current), scheduled: terms(reply.scheduled), scheduledAt: dateOf(reply.scheduledAt) };
  }

  /** Sets properties of a person, as a `$identify` event that analytics resolve. */
  async identify(input: IdentifyInput): Promise<TrackResult> {
    return this.track({
      personId: input.personId,
      eventType: '$identify',
      metadata: { set: input.set ?? {}, setOnce: input.setOnce ?? {} },
      ...(input.idempotencyKey === undefined ? {} : { idempotencyKey: input.idempotencyKey }),
    });
  }

  /**
   * Merges an anonymous visitor into the known person after sign-in: analytics
   * attribute the anonymous id's events to the known person, and its usage in
   * open windows counts toward the known person's limits. Safe to repeat.
   */
  async alias(input: { anonymousId: string; knownId: string }): Promise<AliasResult> {
    const reply = await this.call((signal) => this.client.alias(input, { signal, timeoutMs: this.timeoutMs }));
    return {
      transferId: reply.transferId,
      transfers: reply.transfers.map((transfer) => ({
        meter: transfer.meter,
        period: transfer.period,
        windowStart: dateOf(transfer.windowStart) ?? new Date(0),
        windowEnd: dateOf(transfer.windowEnd) ?? new Date(0),
        used: transfer.used,
      })),
    };
  }

  /** Adds credit that pays for usage above the plan's allowance. The same idempotency key creates one grant. */
  async grantCredits(input: GrantCreditsInput): Promise<GrantCreditsResult> {
    const idempotencyKey = input.idempotencyKey ?? randomUUID();
    const reply = await this.call((signal) =>
      this.client.grantCredits(
        {
          personId: input.personId,
          idempotencyKey,
          meter: input.meter,
          amount: input.amount,
          priority: input.priority ?? 0,
          effectiveAt: input.effectiveAt === undefined ? undefined : timestampOf('effectiveAt', input.effectiveAt),
          expiresAt: input.expiresAt === undefined ? undefined : timestampOf('expiresAt', input.expiresAt),
          recurrence:
            input.recurrence === undefined
              ? undefined
              : {
                  period: input.recurrence.period,
                  rolloverCap: input.recurrence.rolloverCap ?? 0,
                  rolloverExpiresAfterSeconds: input.recurrence.rolloverExpiresAfterSeconds === undefined ? undefined : BigInt(input.recurrence.rolloverExpiresAfterSeconds),
                },
          reason: input.reason ?? '',
        },
        { signal, timeoutMs: this.timeoutMs },
      ),
    );
    return { grantId: reply.grantId, balance: reply.balance };
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
    return {
      reservationId: reply.reservationId,
      quantity: reply.quantity,
      overage: reply.overage,
      afterExpiry: reply.afterExpiry,
      creditQuantity: reply.creditQuantity,
      capped: reply.capped,
    };
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
