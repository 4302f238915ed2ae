import type { LedgerEvent } from '@vevee/contracts';

import type { ClosedReservation, Counter, Hold, PersonState } from './state';

/** A person's state as plain JSON, for decider snapshots. Entries keep their order. */
export interface PersonSnapshot {
  lastAt: number;
  counters: [string, Counter][];
  holds: Hold[];
  closed: [string, ClosedReservation][];
  idempotency: [string, LedgerEvent][];
}

export function snapshotPerson(state: PersonState): PersonSnapshot {
  return {
    lastAt: state.lastAt,
    counters: [...state.counters].map(([key, counter]) => [key, { ...counter }]),
    holds: [...state.holds.values()],
    closed: [...state.closed],
    idempotency: [...state.idempotency],
  };
}

export function restorePerson(snapshot: PersonSnapshot): PersonState {
  return {
    lastAt: snapshot.lastAt,
    counters: new Map(snapshot.counters.map(([key, counter]) => [key, { ...counter }])),
    holds: new Map(snapshot.holds.map((hold) => [hold.reservationId, hold])),
    closed: new Map(snapshot.closed),
    idempotency: new Map(snapshot.idempotency),
  };
}
