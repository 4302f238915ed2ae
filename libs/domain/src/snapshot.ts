import type { LedgerEvent } from '@vevee/contracts';

import type { ClosedReservation, Counter, CreditGrant, Hold, PersonState, SubscriptionState } from './state';

/** A person's state as plain JSON, for decider snapshots. Entries keep their order. */
export interface PersonSnapshot {
  lastAt: number;
  counters: [string, Counter][];
  holds: Hold[];
  closed: [string, ClosedReservation][];
  idempotency: [string, LedgerEvent][];
  /** Absent in snapshots written before subscriptions and credits. */
  subscription?: SubscriptionState;
  grants?: CreditGrant[];
  grantKeys?: [string, string][];
  merge?: PersonState['merge'];
  transfersIn?: string[];
}

export function snapshotPerson(state: PersonState): PersonSnapshot {
  return {
    lastAt: state.lastAt,
    counters: [...state.counters].map(([key, counter]) => [key, { ...counter }]),
    holds: [...state.holds.values()],
    closed: [...state.closed],
    idempotency: [...state.idempotency],
    subscription: structuredClone(state.subscription),
    grants: [...state.grants.values()].map((grant) => ({ ...grant })),
    grantKeys: [...state.grantKeys],
    merge: state.merge,
    transfersIn: [...state.transfersIn],
  };
}

export function restorePerson(snapshot: PersonSnapshot): PersonState {
  return {
    lastAt: snapshot.lastAt,
    counters: new Map(snapshot.counters.map(([key, counter]) => [key, { ...counter }])),
    holds: new Map(snapshot.holds.map((hold) => [hold.reservationId, { ...hold, creditQuantity: hold.creditQuantity ?? 0, overagePolicy: hold.overagePolicy ?? 'record' }])),
    closed: new Map(snapshot.closed),
    idempotency: new Map(snapshot.idempotency),
    subscription: structuredClone(snapshot.subscription ?? { current: null, scheduled: null, occurredAt: 0, appliedExternalIds: [] }),
    grants: new Map((snapshot.grants ?? []).map((grant) => [grant.grantId, { ...grant }])),
    grantKeys: new Map(snapshot.grantKeys ?? []),
    merge: snapshot.merge ?? null,
    transfersIn: new Set(snapshot.transfersIn ?? []),
  };
}
