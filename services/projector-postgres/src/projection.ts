import type {
  LedgerEvent,
  Period,
  QuotaCommittedEvent,
  QuotaExpiredEvent,
  QuotaReleasedEvent,
  QuotaReservedEvent,
  UsageTrackedEvent,
  WindowRef,
} from '@vevee/contracts';
import { roundAmount } from '@vevee/domain';

export type ReservationStatus = 'active' | 'committed' | 'released' | 'expired';

/**
 * One row of `reservations`. Numeric columns are decimal strings and times are
 * ISO strings, so values read from PostgreSQL are written back unchanged.
 */
export interface ReservationRow {
  workspaceId: string;
  reservationId: string;
  personId: string;
  meter: string;
  quantity: string;
  status: ReservationStatus;
  reservedAt: string;
  expiresAt: string;
  closedAt: string | null;
  committedQuantity: string | null;
  overage: string | null;
  cost: string | null;
  currency: string | null;
  /** The part of the quantity held against credits. */
  creditQuantity: string;
}

/** A change to one usage counter. Several changes to the same row are summed by the SQL statement. */
export interface CounterChange {
  workspaceId: string;
  personId: string;
  meter: string;
  period: Period;
  windowStart: string;
  windowEnd: string;
  used: string;
  reserved: string;
}

/** An event that contradicts the projected reservation state, and how it was applied. */
export interface Anomaly {
  event: LedgerEvent;
  reason: string;
}

export interface ProjectionPlan {
  counterChanges: CounterChange[];
  /** The final state of every reservation the events touched, one entry each. */
  reservations: ReservationRow[];
  anomalies: Anomaly[];
}

export function reservationKey(workspaceId: string, reservationId: string): string {
  return `${workspaceId}\u0000${reservationId}`;
}

/** Returns the reservations that the events refer to, as [workspaceId, reservationId] pairs without repeats. */
export function referencedReservations(events: LedgerEvent[]): Array<[string, string]> {
  const pairs = new Map<string, [string, string]>();
  for (const event of events) {
    if ('reservationId' in event && event.reservationId !== undefined) {
      pairs.set(reservationKey(event.workspaceId, event.reservationId), [event.workspaceId, event.reservationId]);
    }
  }
  return [...pairs.values()];
}

function isoTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** Formats a quantity for a NUMERIC parameter. String() gives the shortest decimal that reads back as the same double. */
function decimal(quantity: number): string {
  return quantity === 0 ? '0' : String(quantity);
}

/** A change to the counters of some windows; windows with `credits` set take the allowance amounts when given. */
interface CounterDelta {
  used?: number;
  reserved?: number;
  allowanceUsed?: number;
  allowanceReserved?: number;
}

/** Returns the usage a commit or tracked event adds: the full quantity, or without the part paid by credits in credit windows. */
function usedBy(event: QuotaCommittedEvent | UsageTrackedEvent): CounterDelta {
  return { used: event.quantity, allowanceUsed: roundAmount(event.quantity - (event.creditQuantity ?? 0)) };
}

/** Returns the hold that closing a reservation gives back: `quantity`, or without the hold's credit part in credit windows. */
function heldBy(reservation: ReservationRow, quantity: number): CounterDelta {
  return { reserved: -quantity, allowanceReserved: -roundAmount(quantity - Number(reservation.creditQuantity)) };
}

/**
 * Turns a batch of one partition's events, in log order, into the rows to
 * write. `stored` contains the reservations the events refer to as they are in
 * PostgreSQL; it is not modified. Counter changes are one entry per event and
 * window, summed in SQL, so a row that changes several times in the batch is
 * written once with the exact NUMERIC sum.
 */
export function planProjection(events: LedgerEvent[], stored: ReadonlyMap<string, ReservationRow>): ProjectionPlan {
  const reservations = new Map(stored);
  const touched = new Set<string>();
  const counterChanges: CounterChange[] = [];
  const anomalies: Anomaly[] = [];

  /**
   * Adds a change to each window. A window with `credits` set takes the
   * `allowance` amounts, which leave out the part that credits pay for, as
   * the decider's fold does (libs/domain fold.ts addToWindows).
   */
  const addToWindows = (event: LedgerEvent & { meter: string }, windows: WindowRef[], change: CounterDelta) => {
    for (const window of windows) {
      const used = window.credits === true ? (change.allowanceUsed ?? change.used) : change.used;
      const reserved = window.credits === true ? (change.allowanceReserved ?? change.reserved) : change.reserved;
      counterChanges.push({
        workspaceId: event.workspaceId,
        personId: event.personId,
        meter: event.meter,
        period: window.period,
        windowStart: isoTime(window.start),
        windowEnd: isoTime(window.end),
        used: decimal(used ?? 0),
        reserved: decimal(reserved ?? 0),
      });
    }
  };

  const reserve = (event: QuotaReservedEvent) => {
    const creditQuantity = event.creditQuantity ?? 0;
    const key = reservationKey(event.workspaceId, event.reservationId);
    if (reservations.has(key)) {
      anomalies.push({ event, reason: 'the reservation exists already, so the repeated hold is not counted' });
      return;
    }
    reservations.set(key, {
      workspaceId: event.workspaceId,
      reservationId: event.reservationId,
      personId: event.personId,
      meter: event.meter,
      quantity: decimal(event.quantity),
      status: 'active',
      reservedAt: isoTime(event.at),
      expiresAt: isoTime(event.expiresAt),
      closedAt: null,
      committedQuantity: null,
      overage: null,
      cost: null,
      currency: null,
      creditQuantity: decimal(creditQuantity),
    });
    touched.add(key);
    addToWindows(event, event.windows, { reserved: event.quantity, allowanceReserved: roundAmount(event.quantity - creditQuantity) });
  };

  const commit = (event: QuotaCommittedEvent) => {
    const key = reservationKey(event.workspaceId, event.reservationId);
    const reservation = reservations.get(key);
    if (reservation === undefined) {
      anomalies.push({ event, reason: 'the reservation is unknown, so only the usage is counted' });
      addToWindows(event, event.windows, usedBy(event));
      return;
    }
    if (reservation.status === 'committed' || reservation.status === 'released') {
      anomalies.push({ event, reason: `the reservation is ${reservation.status} already, so the commit is not counted` });
      return;
    }
    // The hold is given back only while it is active. For a ledger written by
    // the decider this is exactly the case afterExpiry === false: a commit
    // after the TTL follows the reservation's QuotaExpired, which gave it back.
    if (reservation.status === 'active') {
      addToWindows(event, event.windows, heldBy(reservation, event.reservedQuantity));
    }
    addToWindows(event, event.windows, usedBy(event));
    reservations.set(key, {
      ...reservation,
      status: 'committed',
      closedAt: isoTime(event.at),
      committedQuantity: decimal(event.quantity),
      overage: decimal(event.overage),
      cost: decimal(event.cost),
      currency: event.currency,
    });
    touched.add(key);
  };

  const close = (event: QuotaReleasedEvent | QuotaExpiredEvent, status: 'released' | 'expired') => {
    const key = reservationKey(event.workspaceId, event.reservationId);
    const reservation = reservations.get(key);
    if (reservation?.status !== 'active') {
      // An expiry of a hold that was closed already changes nothing. The
      // decider never releases a closed hold, so such a release is reported.
      if (status === 'released' || reservation === undefined) {
        anomalies.push({ event, reason: `the reservation is ${reservation?.status ?? 'unknown'}, so nothing is given back` });
      }
      return;
    }
    addToWindows(event, event.windows, heldBy(reservation, event.quantity));
    reservations.set(key, { ...reservation, status, closedAt: isoTime(event.at) });
    touched.add(key);
  };

  for (const event of events) {
    switch (event.type) {
      case 'QuotaReserved':
        reserve(event);
        break;
      case 'QuotaCommitted':
        commit(event);
        break;
      case 'QuotaReleased':
        close(event, 'released');
        break;
      case 'QuotaExpired':
        close(event, 'expired');
        break;
      case 'UsageTracked':
        if (event.meter !== '') addToWindows(event, event.windows, usedBy(event));
        break;
      case 'QuotaDenied':
        // Denials change no counter and no reservation. ClickHouse records them.
        break;
      case 'SubscriptionChanged':
      case 'CreditsGranted':
      case 'CreditsBurned':
      case 'CreditsExpired':
        // Applied by planAccountProjection to the subscription and credit tables.
        break;
      case 'UsageTransferredOut':
      case 'UsageTransferredIn': {
        // A merge moves usage out of the anonymous person's windows and into the known person's.
        const sign = event.type === 'UsageTransferredOut' ? -1 : 1;
        for (const transfer of event.transfers) {
          addToWindows({ ...event, meter: transfer.meter }, [{ period: transfer.window.period, start: transfer.window.start, end: transfer.window.end }], { used: sign * transfer.used });
        }
        break;
      }
    }
  }

  return {
    counterChanges,
    reservations: [...touched].map((key) => reservations.get(key)!),
    anomalies,
  };
}
