import type {
  LedgerEvent,
  QuotaCommittedEvent,
  QuotaDeniedEvent,
  QuotaExpiredEvent,
  QuotaReleasedEvent,
  QuotaReservedEvent,
  UsageTrackedEvent,
} from '@vevee/contracts';
import { windowsAt } from '@vevee/domain';

/** Factories for ledger events as the decider writes them, with UTC windows of the event time. */

let sequence = 0;

export interface Who {
  workspaceId: string;
  personId: string;
  at: number;
}

function envelope(who: Who) {
  sequence += 1;
  return { version: 1 as const, eventId: `evt_${sequence}`, planVersion: 1, ...who };
}

/** Returns the windows of a hold, fixed when it is reserved and reused by its commit, release and expiry. */
export function holdWindows(reservedAt: number) {
  return windowsAt(reservedAt, 'UTC');
}

export function reserved(who: Who, reservationId: string, quantity: number, meter = 'tokens'): QuotaReservedEvent {
  return {
    ...envelope(who),
    type: 'QuotaReserved',
    idempotencyKey: `reserve-${reservationId}`,
    reservationId,
    meter,
    quantity,
    expiresAt: who.at + 60_000,
    windows: holdWindows(who.at),
    remaining: 1_000,
    limit: 20_000,
    limitPeriod: 'day',
    resetsAt: who.at + 86_400_000,
  };
}

export function committed(
  who: Who,
  hold: QuotaReservedEvent,
  quantity: number,
  options: { cost?: number; afterExpiry?: boolean } = {},
): QuotaCommittedEvent {
  return {
    ...envelope(who),
    type: 'QuotaCommitted',
    idempotencyKey: `commit-${hold.reservationId}`,
    reservationId: hold.reservationId,
    meter: hold.meter,
    reservedQuantity: hold.quantity,
    quantity,
    overage: Math.max(0, quantity - hold.quantity),
    afterExpiry: options.afterExpiry ?? false,
    cost: options.cost ?? 0,
    currency: 'USD',
    metadata: { model: 'test-model' },
    windows: hold.windows,
  };
}

export function released(who: Who, hold: QuotaReservedEvent): QuotaReleasedEvent {
  return {
    ...envelope(who),
    type: 'QuotaReleased',
    idempotencyKey: `release-${hold.reservationId}`,
    reservationId: hold.reservationId,
    meter: hold.meter,
    quantity: hold.quantity,
    windows: hold.windows,
  };
}

export function expired(who: Who, hold: QuotaReservedEvent): QuotaExpiredEvent {
  return { ...envelope(who), type: 'QuotaExpired', reservationId: hold.reservationId, meter: hold.meter, quantity: hold.quantity, windows: hold.windows };
}

export function tracked(who: Who, meter: string, quantity: number): UsageTrackedEvent {
  return {
    ...envelope(who),
    type: 'UsageTracked',
    idempotencyKey: `track-${sequence}`,
    eventType: 'chat.completion',
    meter,
    quantity,
    cost: 0,
    currency: 'USD',
    metadata: {},
    windows: meter === '' ? [] : windowsAt(who.at, 'UTC'),
  };
}

export function denied(who: Who, quantity: number): QuotaDeniedEvent {
  return {
    ...envelope(who),
    type: 'QuotaDenied',
    idempotencyKey: `deny-${sequence}`,
    meter: 'tokens',
    quantity,
    reason: 'limit_exceeded',
    remaining: 0,
    limit: 20_000,
    limitPeriod: 'day',
    resetsAt: who.at + 86_400_000,
  };
}

export type { LedgerEvent };
