import type {
  LedgerEvent,
  Period,
  QuotaCommittedEvent,
  QuotaExpiredEvent,
  QuotaReleasedEvent,
  QuotaReservedEvent,
  WindowRef,
} from '@vevee/contracts';

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

  const addToWindows = (event: LedgerEvent & { meter: string }, windows: WindowRef[], change: { used?: number; reserved?: number }) => {
    for (const window of windows) {
      counterChanges.push({
        workspaceId: event.workspaceId,
        personId: event.personId,
        meter: event.meter,
        period: window.period,
        windowStart: isoTime(window.start),
        windowEnd: isoTime(window.end),
        used: decimal(change.used ?? 0),
        reserved: decimal(change.reserved ?? 0),
      });
    }
  };

  const reserve = (event: QuotaReservedEvent) => {
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
    });
    touched.add(key);
    addToWindows(event, event.windows, { reserved: event.quantity });
  };

  const commit = (event: QuotaCommittedEvent) => {
    const key = reservationKey(event.workspaceId, event.reservationId);
    const reservation = reservations.get(key);
    if (reservation === undefined) {
      anomalies.push({ event, reason: 'the reservation is unknown, so only the usage is counted' });
      addToWindows(event, event.windows, { used: event.quantity });
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
      addToWindows(event, event.windows, { reserved: -event.reservedQuantity });
    }
    addToWindows(event, event.windows, { used: event.quantity });
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
    addToWindows(event, event.windows, { reserved: -event.quantity });
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
        if (event.meter !== '') addToWindows(event, event.windows, { used: event.quantity });
        break;
      case 'QuotaDenied':
        // Denials change no counter and no reservation. ClickHouse records them.
        break;
    }
  }

  return {
    counterChanges,
    reservations: [...touched].map((key) => reservations.get(key)!),
    anomalies,
  };
}
