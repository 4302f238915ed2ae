import type {
  QuotaCommittedEvent,
  QuotaDeniedEvent,
  QuotaExpiredEvent,
  QuotaReleasedEvent,
  QuotaReservedEvent,
  UsageTrackedEvent,
} from '@vevee/contracts';

/** Factories for ledger events with the fields the analytics tables read. */

let sequence = 0;

/** The workspace, person and decision time of an event. */
interface EventSubject {
  workspaceId: string;
  personId: string;
  at: number;
}

function envelope(subject: EventSubject) {
  sequence += 1;
  return { version: 1 as const, eventId: `evt_${sequence}`, planVersion: 2, ...subject };
}

export function reserved(subject: EventSubject, reservationId: string, quantity: number): QuotaReservedEvent {
  return {
    ...envelope(subject),
    type: 'QuotaReserved',
    idempotencyKey: `reserve-${reservationId}`,
    reservationId,
    meter: 'tokens',
    quantity,
    expiresAt: subject.at + 60_000,
    windows: [],
    remaining: 10_000,
    limit: 20_000,
    limitPeriod: 'day',
    resetsAt: subject.at + 86_400_000,
  };
}

export function denied(subject: EventSubject, quantity: number): QuotaDeniedEvent {
  return {
    ...envelope(subject),
    type: 'QuotaDenied',
    idempotencyKey: `deny-${sequence}`,
    meter: 'tokens',
    quantity,
    reason: 'limit_exceeded',
    remaining: 0,
    limit: 20_000,
    limitPeriod: 'day',
    resetsAt: subject.at + 86_400_000,
  };
}

export function committed(subject: EventSubject, reservationId: string, quantity: number, cost: number): QuotaCommittedEvent {
  return {
    ...envelope(subject),
    type: 'QuotaCommitted',
    idempotencyKey: `commit-${reservationId}`,
    reservationId,
    meter: 'tokens',
    reservedQuantity: quantity,
    quantity,
    overage: 0,
    afterExpiry: false,
    cost,
    currency: 'USD',
    metadata: { model: 'gpt-test', inputTokens: quantity },
    windows: [],
  };
}

export function released(subject: EventSubject, reservationId: string, quantity: number): QuotaReleasedEvent {
  return { ...envelope(subject), type: 'QuotaReleased', idempotencyKey: `release-${reservationId}`, reservationId, meter: 'tokens', quantity, windows: [] };
}

export function expired(subject: EventSubject, reservationId: string, quantity: number): QuotaExpiredEvent {
  return { ...envelope(subject), type: 'QuotaExpired', reservationId, meter: 'tokens', quantity, windows: [] };
}

export function tracked(subject: EventSubject, eventType: string, cost: number): UsageTrackedEvent {
  return {
    ...envelope(subject),
    type: 'UsageTracked',
    idempotencyKey: `track-${sequence}`,
    eventType,
    meter: '',
    quantity: 1,
    cost,
    currency: 'USD',
    metadata: { source: 'test' },
    windows: [],
  };
}
