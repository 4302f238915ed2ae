import type { LedgerEvent, WindowRef } from '@vevee/contracts';

import { IDEMPOTENCY_RETENTION_MS, counterKey, roundAmount, type Counter, type Hold, type PersonState } from './state';

function counterFor(state: PersonState, meter: string, window: WindowRef, at: number): Counter | undefined {
  if (window.end <= at) {
    // The window is over, and no decision reads it again.
    return undefined;
  }
  const key = counterKey(meter, window);
  let counter = state.counters.get(key);
  if (counter === undefined) {
    counter = { used: 0, reserved: 0, end: window.end };
    state.counters.set(key, counter);
  }
  return counter;
}

function addToWindows(
  state: PersonState,
  meter: string,
  windows: WindowRef[],
  at: number,
  change: { used?: number; reserved?: number },
): void {
  for (const window of windows) {
    const counter = counterFor(state, meter, window, at);
    if (counter !== undefined) {
      counter.used = roundAmount(counter.used + (change.used ?? 0));
      counter.reserved = roundAmount(counter.reserved + (change.reserved ?? 0));
    }
  }
}

function closeHold(state: PersonState, hold: Hold, status: 'committed' | 'released' | 'expired', at: number, event?: LedgerEvent): void {
  state.holds.delete(hold.reservationId);
  addToWindows(state, hold.meter, hold.windows, at, { reserved: -hold.quantity });
  state.closed.set(hold.reservationId, { hold, status, closedAt: at, event });
}

/**
 * Moves a person's state forward to decision time `at`: holds whose TTL has
 * passed are released, finished windows are dropped, and idempotency records
 * older than the retention are forgotten. Replay calls it with each event's
 * time, the decider with its own decision time, so both see the same holds.
 */
export function advanceTo(state: PersonState, at: number): Hold[] {
  const expired: Hold[] = [];
  for (const hold of state.holds.values()) {
    if (hold.expiresAt <= at) {
      expired.push(hold);
    }
  }
  for (const hold of expired) {
    closeHold(state, hold, 'expired', hold.expiresAt);
  }

  for (const [key, counter] of state.counters) {
    if (counter.end <= at) {
      state.counters.delete(key);
    }
  }

  const cutoff = at - IDEMPOTENCY_RETENTION_MS;
  for (const [key, event] of state.idempotency) {
    if (event.at > cutoff) break;
    state.idempotency.delete(key);
  }
  for (const [key, closed] of state.closed) {
    if (closed.closedAt > cutoff) break;
    state.closed.delete(key);
  }

  if (at > state.lastAt) {
    state.lastAt = at;
  }
  return expired;
}

/**
 * Applies one ledger event to a person's state in place. This is the only
 * function that changes state: the decider applies the events it emits, and
 * recovery applies the events it reads back, so both end in the same state.
 */
export function applyEvent(state: PersonState, event: LedgerEvent): void {
  advanceTo(state, event.at);

  switch (event.type) {
    case 'QuotaReserved': {
      state.holds.set(event.reservationId, {
        reservationId: event.reservationId,
        meter: event.meter,
        quantity: event.quantity,
        expiresAt: event.expiresAt,
        windows: event.windows,
      });
      addToWindows(state, event.meter, event.windows, event.at, { reserved: event.quantity });
      state.idempotency.set(event.idempotencyKey, event);
      return;
    }
    case 'QuotaDenied': {
      state.idempotency.set(event.idempotencyKey, event);
      return;
    }
    case 'QuotaCommitted': {
      const hold = state.holds.get(event.reservationId);
      if (hold !== undefined) {
        closeHold(state, hold, 'committed', event.at, event);
      } else {
        // A commit after the hold expired still records the usage.
        const closed = state.closed.get(event.reservationId);
        if (closed !== undefined) {
          state.closed.delete(event.reservationId);
          state.closed.set(event.reservationId, { ...closed, status: 'committed', closedAt: event.at, event });
        }
      }
      addToWindows(state, event.meter, event.windows, event.at, { used: event.quantity });
      return;
    }
    case 'QuotaReleased': {
      const hold = state.holds.get(event.reservationId);
      if (hold !== undefined) {
        closeHold(state, hold, 'released', event.at, event);
      }
      return;
    }
    case 'QuotaExpired': {
      // advanceTo has already closed the hold: its expiry is before this event.
      const hold = state.holds.get(event.reservationId);
      if (hold !== undefined) {
        closeHold(state, hold, 'expired', event.at);
      }
      return;
    }
    case 'UsageTracked': {
      if (event.meter !== '') {
        addToWindows(state, event.meter, event.windows, event.at, { used: event.quantity });
      }
      state.idempotency.set(event.idempotencyKey, event);
      return;
    }
  }
}
