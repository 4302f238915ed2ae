import type { LedgerEvent, WindowRef } from '@vevee/contracts';

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
}

export interface ClosedReservation {
  hold: Hold;
  status: 'committed' | 'released' | 'expired';
  closedAt: number;
  /** The commit or release event, replayed to a repeated request. */
  event: LedgerEvent | undefined;
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
}

export function emptyPersonState(): PersonState {
  return {
    lastAt: 0,
    counters: new Map(),
    holds: new Map(),
    closed: new Map(),
    idempotency: new Map(),
  };
}

export function counterKey(meter: string, window: WindowRef): string {
  return `${meter}|${window.period}|${window.start}`;
}

/**
 * Rounds an amount to 9 decimal places. Sums of decimal quantities such as
 * 0.1 + 0.2 then compare equal to their exact value, so a reserve that exactly
 * fits a limit is allowed.
 */
export function roundAmount(amount: number): number {
  return Math.round(amount * 1e9) / 1e9;
}
