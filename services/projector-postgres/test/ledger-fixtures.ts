import type {
  LedgerEvent,
  QuotaCommittedEvent,
  QuotaDeniedEvent,
  QuotaExpiredEvent,
  QuotaReleasedEvent,
  QuotaReservedEvent,
  UsageTrackedEvent,
} from '@vevee/contracts';
import { decide, emptyPersonState, type Decision, type PersonState, type QuotaCommand, type WorkspaceCatalog } from '@vevee/domain';
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

/** A command without the person's ids, which a PersonLedger fills in. */
export type PersonCommand = QuotaCommand extends infer C ? (C extends QuotaCommand ? Omit<C, 'workspaceId' | 'personId'> : never) : never;

/**
 * One person's ledger as the real decider writes it: each call to `run`
 * decides a command at a given time with `decide()` from @vevee/domain and
 * keeps the events, so fixtures match the decider by construction.
 */
export class PersonLedger {
  readonly state: PersonState = emptyPersonState();
  readonly events: LedgerEvent[] = [];

  constructor(
    readonly catalog: WorkspaceCatalog,
    readonly personId: string,
  ) {}

  /** Decides a command at `at` and returns its events; throws the decider's error when it returns one. */
  run(at: number, command: PersonCommand): LedgerEvent[] {
    const decision: Decision = decide(this.state, { ...command, workspaceId: this.catalog.workspaceId, personId: this.personId } as QuotaCommand, {
      now: at,
      catalog: this.catalog,
      newEventId: () => {
        sequence += 1;
        return `evt_${sequence}`;
      },
      newReservationId: () => {
        sequence += 1;
        return `res_${sequence}`;
      },
    });
    if (decision.error !== undefined) throw decision.error;
    this.events.push(...decision.events);
    return decision.events;
  }
}

export type { LedgerEvent };
