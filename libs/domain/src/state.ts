import type { CreditRecurrence, CreditsGrantedEvent, LedgerEvent, OveragePolicy, SubscriptionTerms, UsageTransferredOutEvent, WindowRef } from '@vevee/contracts';

/**
 * How long idempotency keys and closed reservations stay in a person's state,
 * measured in decision time. A retry later than this is treated as new.
 */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;

export interface Counter {
  used: number;
  reserved: number;
  /** When the counter's window ends. The fold drops it after that. */
  end: number;
}

export interface Hold {
  reservationId: string;
  meter: string;
  quantity: number;
  expiresAt: number;
  windows: WindowRef[];
  /** The part of the quantity held against credits. */
  creditQuantity: number;
  overagePolicy: OveragePolicy;
}

/** One credit grant and what is left of it. */
export interface CreditGrant {
  grantId: string;
  meter: string;
  amount: number;
  remaining: number;
  priority: number;
  effectiveAt: number;
  expiresAt: number | null;
  recurrence: CreditRecurrence | null;
  /** When the grant was created, for the oldest-first tie-break of the burn order. */
  grantedAt: number;
  origin: CreditsGrantedEvent['origin'];
  parentGrantId: string | null;
  /** For a recurring grant: the start of the latest period it was renewed for. */
  renewedFor: number | null;
}

/** A person's subscription with the latest change the decider applied. */
export interface SubscriptionState {
  current: SubscriptionTerms | null;
  /** A change that takes effect at a later period boundary. */
  scheduled: { terms: SubscriptionTerms; effectiveAt: number } | null;
  /** The billing system's time of the newest applied change. */
  occurredAt: number;
  /** External ids already applied, newest last, so a repeated webhook applies once. */
  appliedExternalIds: string[];
}

export interface ClosedReservation {
  hold: Hold;
  status: 'committed' | 'released' | 'expired';
  closedAt: number;
  /** The commit or release event, replayed to a repeated request. */
  event: LedgerEvent | undefined;
  /** For a commit by a merged person: the transfer of its usage to the known person. */
  transfer?: UsageTransferredOutEvent;
}

/**
 * The state a decider keeps for one person. Maps keep insertion order, and
 * entries are inserted in decision-time order, so pruning reads from the front.
 */
export interface PersonState {
  lastAt: number;
  counters: Map<string, Counter>;
  holds: Map<string, Hold>;
  closed: Map<string, ClosedReservation>;
  idempotency: Map<string, LedgerEvent>;
  subscription: SubscriptionState;
  /** Credit grants by id, including used-up ones until they expire. */
  grants: Map<string, CreditGrant>;
  /** Grant creation keys, which never expire, so a grant is created once per key. */
  grantKeys: Map<string, string>;
  /** The known person this (anonymous) person was merged into, with the merge's transfer. */
  merge: { targetPersonId: string; transfer: UsageTransferredOutEvent } | null;
  /** Transfers already added to this person, so each applies once. */
  transfersIn: Set<string>;
}

/** How many applied external ids a person keeps for deduplication of webhooks. */
export const APPLIED_EXTERNAL_IDS_KEPT = 200;

export function emptyPersonState(): PersonState {
  return {
    lastAt: 0,
    counters: new Map(),
    holds: new Map(),
    closed: new Map(),
    idempotency: new Map(),
    subscription: { current: null, scheduled: null, occurredAt: 0, appliedExternalIds: [] },
    grants: new Map(),
    grantKeys: new Map(),
    merge: null,
    transfersIn: new Set(),
  };
}

export function counterKey(meter: string, window: WindowRef): string {
  return `${meter}|${window.period}|${window.start}|${window.end}`;
}

/**
 * Rounds an amount to 9 decimal places. Sums of decimal quantities such as
 * 0.1 + 0.2 then compare equal to their exact value, so a reserve that exactly
 * fits a limit is allowed.
 */
export function roundAmount(amount: number): number {
  return Math.round(amount * 1e9) / 1e9;
}
