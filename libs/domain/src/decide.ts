import type {
  LedgerEvent,
  Period,
  QuotaCommittedEvent,
  QuotaDeniedEvent,
  QuotaExpiredEvent,
  QuotaReleasedEvent,
  QuotaReservedEvent,
  UsageTrackedEvent,
  WindowRef,
} from '@vevee/contracts';

import type {
  CommitQuotaCommand,
  QuotaCommand,
  ReleaseQuotaCommand,
  ReserveQuotaCommand,
  TrackUsageCommand,
} from './commands';
import { DomainError } from './errors';
import { advanceTo, applyEvent } from './fold';
import type { MeterLimits, WorkspacePlan } from './plan';
import { counterKey, roundAmount, type PersonState } from './state';
import { windowsAt } from './windows';

/** The inputs a decision takes from outside the person's state. */
export interface DecisionContext {
  /** Decision time in epoch milliseconds, never earlier than the person's last event. */
  now: number;
  plan: WorkspacePlan;
  newEventId(): string;
  newReservationId(personId: string): string;
}

export interface ReserveReply {
  kind: 'reserve';
  allowed: boolean;
  reservationId: string;
  remaining: number;
  limit: number;
  period: Period;
  resetsAt: number;
  expiresAt: number | undefined;
  reason: string;
}

export interface CommitReply {
  kind: 'commit';
  reservationId: string;
  quantity: number;
  overage: number;
  afterExpiry: boolean;
}

export interface ReleaseReply {
  kind: 'release';
  reservationId: string;
  released: number;
}

export interface TrackReply {
  kind: 'track';
  eventId: string;
}

export interface ExpireReply {
  kind: 'expire';
  expired: number;
}

export type QuotaReply = ReserveReply | CommitReply | ReleaseReply | TrackReply | ExpireReply;

/**
 * The outcome of one command. `events` must be appended to the ledger even when
 * `error` is set, because they can contain expiries of holds that ran out before
 * the command arrived.
 */
export interface Decision {
  events: LedgerEvent[];
  reply: QuotaReply | undefined;
  error: DomainError | undefined;
}

interface LimitCheck {
  period: Period;
  limit: number;
  available: number;
  window: WindowRef;
}

function meterLimitsOf(plan: WorkspacePlan, meter: string): MeterLimits {
  const limits = plan.meters[meter];
  if (limits === undefined) {
    const known = Object.keys(plan.meters).join(', ');
    throw new DomainError('invalid_argument', 'meter', `unknown meter "${meter}"; the workspace's plan defines: ${known}`);
  }
  return limits;
}

/** Returns each limit of the meter with what is left of it now, tightest first. */
function checkLimits(state: PersonState, meter: string, limits: MeterLimits, windows: WindowRef[]): LimitCheck[] {
  const checks: LimitCheck[] = [];
  for (const window of windows) {
    const limit = limits[window.period];
    if (limit === undefined) continue;
    const counter = state.counters.get(counterKey(meter, window));
    const available = roundAmount(limit - (counter?.used ?? 0) - (counter?.reserved ?? 0));
    checks.push({ period: window.period, limit, available, window });
  }
  return checks.sort((a, b) => a.available - b.available);
}

function envelope(command: QuotaCommand, context: DecisionContext) {
  return {
    version: 1 as const,
    eventId: context.newEventId(),
    workspaceId: command.workspaceId,
    personId: command.personId,
    at: context.now,
    planVersion: context.plan.version,
  };
}

function reserveReplyOf(event: QuotaReservedEvent | QuotaDeniedEvent): ReserveReply {
  const allowed = event.type === 'QuotaReserved';
  return {
    kind: 'reserve',
    allowed,
    reservationId: allowed ? event.reservationId : '',
    remaining: event.remaining,
    limit: event.limit,
    period: event.limitPeriod,
    resetsAt: event.resetsAt,
    expiresAt: allowed ? event.expiresAt : undefined,
    reason: allowed ? '' : event.reason,
  };
}

function commitReplyOf(event: QuotaCommittedEvent): CommitReply {
  return {
    kind: 'commit',
    reservationId: event.reservationId,
    quantity: event.quantity,
    overage: event.overage,
    afterExpiry: event.afterExpiry,
  };
}

function rejectReusedKey(field: string, key: string): never {
  throw new DomainError(
    'invalid_argument',
    field,
    `idempotency key "${key}" was already used for a different request; send a new key for a new request`,
  );
}

function decideReserve(state: PersonState, command: ReserveQuotaCommand, context: DecisionContext): { events: LedgerEvent[]; reply: ReserveReply } {
  const previous = state.idempotency.get(command.idempotencyKey);
  if (previous !== undefined) {
    const isSameRequest =
      (previous.type === 'QuotaReserved' || previous.type === 'QuotaDenied') &&
      previous.meter === command.meter &&
      previous.quantity === command.quantity;
    if (!isSameRequest) rejectReusedKey('idempotencyKey', command.idempotencyKey);
    return { events: [], reply: reserveReplyOf(previous) };
  }

  const limits = meterLimitsOf(context.plan, command.meter);
  const windows = windowsAt(context.now, context.plan.timeZone);
  const checks = checkLimits(state, command.meter, limits, windows);
  const tightest = checks[0];
  if (tightest === undefined) {
    throw new DomainError('failed_precondition', 'meter', `meter "${command.meter}" has no limit in the workspace's plan; add a day or month limit`);
  }
  const allowed = tightest.available >= command.quantity;
  const base = {
    ...envelope(command, context),
    idempotencyKey: command.idempotencyKey,
    meter: command.meter,
    quantity: command.quantity,
    limit: tightest.limit,
    limitPeriod: tightest.period,
    resetsAt: tightest.window.end,
  };

  const event: QuotaReservedEvent | QuotaDeniedEvent = allowed
    ? {
        ...base,
        type: 'QuotaReserved',
        reservationId: context.newReservationId(command.personId),
        expiresAt: context.now + command.ttlSeconds * 1000,
        windows,
        remaining: roundAmount(tightest.available - command.quantity),
      }
    : { ...base, type: 'QuotaDenied', reason: 'limit_exceeded', remaining: Math.max(0, tightest.available) };
  return { events: [event], reply: reserveReplyOf(event) };
}

function decideCommit(state: PersonState, command: CommitQuotaCommand, context: DecisionContext): { events: LedgerEvent[]; reply: CommitReply } {
  const hold = state.holds.get(command.reservationId);
  const closed = state.closed.get(command.reservationId);
  if (hold === undefined && closed === undefined) {
    throw new DomainError('not_found', 'reservationId', `reservation "${command.reservationId}" not found; it may be older than 24 hours or belong to another workspace`);
  }
  if (closed?.status === 'committed' && closed.event?.type === 'QuotaCommitted') {
    if (closed.event.quantity !== command.quantity || closed.event.cost !== command.cost) {
      throw new DomainError('failed_precondition', 'reservationId', `reservation "${command.reservationId}" was already committed with quantity ${closed.event.quantity}; a reservation is committed once`);
    }
    return { events: [], reply: commitReplyOf(closed.event) };
  }
  if (closed?.status === 'released') {
    throw new DomainError('failed_precondition', 'reservationId', `reservation "${command.reservationId}" was released and cannot be committed; use track to record usage without a hold`);
  }

  const reserved = (hold ?? closed!.hold);
  const event: QuotaCommittedEvent = {
    ...envelope(command, context),
    type: 'QuotaCommitted',
    idempotencyKey: command.idempotencyKey,
    reservationId: command.reservationId,
    meter: reserved.meter,
    reservedQuantity: reserved.quantity,
    quantity: command.quantity,
    overage: Math.max(0, command.quantity - reserved.quantity),
    afterExpiry: hold === undefined,
    cost: command.cost,
    currency: command.currency,
    metadata: command.metadata,
    windows: reserved.windows,
  };
  return { events: [event], reply: commitReplyOf(event) };
}

function decideRelease(state: PersonState, command: ReleaseQuotaCommand, context: DecisionContext): { events: LedgerEvent[]; reply: ReleaseReply } {
  const hold = state.holds.get(command.reservationId);
  if (hold === undefined) {
    const closed = state.closed.get(command.reservationId);
    if (closed === undefined) {
      throw new DomainError('not_found', 'reservationId', `reservation "${command.reservationId}" not found; it may be older than 24 hours or belong to another workspace`);
    }
    if (closed.status === 'committed') {
      throw new DomainError('failed_precondition', 'reservationId', `reservation "${command.reservationId}" was already committed and cannot be released`);
    }
    const released = closed.event?.type === 'QuotaReleased' ? closed.event.quantity : 0;
    return { events: [], reply: { kind: 'release', reservationId: command.reservationId, released } };
  }

  const event: QuotaReleasedEvent = {
    ...envelope(command, context),
    type: 'QuotaReleased',
    idempotencyKey: command.idempotencyKey,
    reservationId: hold.reservationId,
    meter: hold.meter,
    quantity: hold.quantity,
    windows: hold.windows,
  };
  return { events: [event], reply: { kind: 'release', reservationId: hold.reservationId, released: hold.quantity } };
}

function decideTrack(state: PersonState, command: TrackUsageCommand, context: DecisionContext): { events: LedgerEvent[]; reply: TrackReply } {
  const previous = state.idempotency.get(command.idempotencyKey);
  if (previous !== undefined) {
    if (previous.type !== 'UsageTracked' || previous.eventType !== command.eventType || previous.quantity !== command.quantity) {
      rejectReusedKey('idempotencyKey', command.idempotencyKey);
    }
    return { events: [], reply: { kind: 'track', eventId: previous.eventId } };
  }
  if (command.meter !== '') {
    meterLimitsOf(context.plan, command.meter);
  }

  const event: UsageTrackedEvent = {
    ...envelope(command, context),
    type: 'UsageTracked',
    idempotencyKey: command.idempotencyKey,
    eventType: command.eventType,
    meter: command.meter,
    quantity: command.quantity,
    cost: command.cost,
    currency: command.currency,
    metadata: command.metadata,
    windows: command.meter === '' ? [] : windowsAt(context.now, context.plan.timeZone),
  };
  return { events: [event], reply: { kind: 'track', eventId: event.eventId } };
}

/**
 * Decides one command for one person and applies the resulting events to the
 * state in place. Holds whose TTL passed before `context.now` are expired first,
 * each with its own event, so the ledger records every expiry explicitly.
 * The state is tentative until the events are durable: if appending them
 * fails, the caller must rebuild the state from the log.
 */
export function decide(state: PersonState, command: QuotaCommand, context: DecisionContext): Decision {
  const events: LedgerEvent[] = [];

  for (const hold of [...state.holds.values()]) {
    if (hold.expiresAt > context.now) continue;
    const expiry: QuotaExpiredEvent = {
      ...envelope(command, context),
      type: 'QuotaExpired',
      reservationId: hold.reservationId,
      meter: hold.meter,
      quantity: hold.quantity,
      windows: hold.windows,
    };
    events.push(expiry);
  }
  for (const event of events) {
    applyEvent(state, event);
  }
  advanceTo(state, context.now);

  try {
    const outcome = decideCommand(state, command, context, events.length);
    for (const event of outcome.events) {
      applyEvent(state, event);
      events.push(event);
    }
    return { events, reply: outcome.reply, error: undefined };
  } catch (error) {
    if (error instanceof DomainError) {
      return { events, reply: undefined, error };
    }
    throw error;
  }
}

function decideCommand(
  state: PersonState,
  command: QuotaCommand,
  context: DecisionContext,
  expiredCount: number,
): { events: LedgerEvent[]; reply: QuotaReply } {
  switch (command.kind) {
    case 'reserve':
      return decideReserve(state, command, context);
    case 'commit':
      return decideCommit(state, command, context);
    case 'release':
      return decideRelease(state, command, context);
    case 'track':
      return decideTrack(state, command, context);
    case 'expire':
      return { events: [], reply: { kind: 'expire', expired: expiredCount } };
  }
}
