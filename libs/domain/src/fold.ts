import type { LedgerEvent, UsageTransfer, WindowRef } from '@vevee/contracts';

import { APPLIED_EXTERNAL_IDS_KEPT, IDEMPOTENCY_RETENTION_MS, counterKey, roundAmount, type Counter, type Hold, type PersonState } from './state';

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

/**
 * A change to the counters of some windows. A window with `credits` set takes
 * the `allowance` amounts, which leave out the part that credits pay for.
 */
interface CounterChange {
  used?: number;
  reserved?: number;
  allowanceUsed?: number;
  allowanceReserved?: number;
}

function addToWindows(state: PersonState, meter: string, windows: WindowRef[], at: number, change: CounterChange): void {
  for (const window of windows) {
    const counter = counterFor(state, meter, window, at);
    if (counter === undefined) continue;
    const used = window.credits === true ? (change.allowanceUsed ?? change.used) : change.used;
    const reserved = window.credits === true ? (change.allowanceReserved ?? change.reserved) : change.reserved;
    counter.used = roundAmount(counter.used + (used ?? 0));
    counter.reserved = roundAmount(counter.reserved + (reserved ?? 0));
  }
}

/** Adds (sign 1) or removes (sign -1) a transfer's usage in its window, which counts as given. */
function moveUsage(state: PersonState, transfer: UsageTransfer, sign: 1 | -1, at: number): void {
  const counter = counterFor(state, transfer.meter, transfer.window, at);
  if (counter !== undefined) counter.used = roundAmount(counter.used + sign * transfer.used);
}

function closeHold(state: PersonState, hold: Hold, status: 'committed' | 'released' | 'expired', at: number, event?: LedgerEvent): void {
  state.holds.delete(hold.reservationId);
  addToWindows(state, hold.meter, hold.windows, at, { reserved: -hold.quantity, allowanceReserved: -(hold.quantity - hold.creditQuantity) });
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

  const scheduled = state.subscription.scheduled;
  if (scheduled !== null && scheduled.effectiveAt <= at) {
    state.subscription.current = scheduled.terms;
    state.subscription.scheduled = null;
  }

  for (const [grantId, grant] of state.grants) {
    // Expired balance is written off by a CreditsExpired event first, so only empty grants are dropped.
    if (grant.recurrence === null && grant.expiresAt !== null && grant.expiresAt <= at && grant.remaining <= 0) {
      state.grants.delete(grantId);
    }
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
      const creditQuantity = event.creditQuantity ?? 0;
      state.holds.set(event.reservationId, {
        reservationId: event.reservationId,
        meter: event.meter,
        quantity: event.quantity,
        expiresAt: event.expiresAt,
        windows: event.windows,
        creditQuantity,
        overagePolicy: event.overagePolicy ?? 'record',
      });
      addToWindows(state, event.meter, event.windows, event.at, { reserved: event.quantity, allowanceReserved: event.quantity - creditQuantity });
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
      addToWindows(state, event.meter, event.windows, event.at, { used: event.quantity, allowanceUsed: event.quantity - (event.creditQuantity ?? 0) });
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
        addToWindows(state, event.meter, event.windows, event.at, { used: event.quantity, allowanceUsed: event.quantity - (event.creditQuantity ?? 0) });
      }
      state.idempotency.set(event.idempotencyKey, event);
      return;
    }
    case 'SubscriptionChanged': {
      const subscription = state.subscription;
      if (event.effectiveAt <= event.at) {
        subscription.current = event.to;
        subscription.scheduled = null;
      } else {
        subscription.scheduled = { terms: event.to, effectiveAt: event.effectiveAt };
      }
      subscription.occurredAt = Math.max(subscription.occurredAt, event.occurredAt);
      subscription.appliedExternalIds.push(event.externalId);
      if (subscription.appliedExternalIds.length > APPLIED_EXTERNAL_IDS_KEPT) subscription.appliedExternalIds.shift();
      return;
    }
    case 'CreditsGranted': {
      state.grants.set(event.grantId, {
        grantId: event.grantId,
        meter: event.meter,
        amount: event.amount,
        // A recurring grant is a schedule: each period's renewal is the grant that is spent.
        remaining: event.recurrence === null ? event.amount : 0,
        priority: event.priority,
        effectiveAt: event.effectiveAt,
        expiresAt: event.expiresAt,
        recurrence: event.recurrence,
        grantedAt: event.at,
        origin: event.origin,
        parentGrantId: event.parentGrantId,
        renewedFor: null,
      });
      if (event.origin === 'grant') state.grantKeys.set(event.idempotencyKey, event.grantId);
      const parent = event.parentGrantId === null ? undefined : state.grants.get(event.parentGrantId);
      if (parent !== undefined && event.origin === 'renewal') parent.renewedFor = event.effectiveAt;
      // A rollover moves the unused balance out of the period's grant.
      if (parent !== undefined && event.origin === 'rollover') parent.remaining = roundAmount(parent.remaining - event.amount);
      return;
    }
    case 'UsageTransferredOut': {
      for (const transfer of event.transfers) moveUsage(state, transfer, -1, event.at);
      if (event.reservationId === undefined) {
        state.merge = { targetPersonId: event.targetPersonId, transfer: event };
      } else {
        const closed = state.closed.get(event.reservationId);
        if (closed !== undefined) closed.transfer = event;
      }
      return;
    }
    case 'UsageTransferredIn': {
      for (const transfer of event.transfers) moveUsage(state, transfer, 1, event.at);
      state.transfersIn.add(event.transferId);
      return;
    }
    case 'CreditsBurned':
    case 'CreditsExpired': {
      const grant = state.grants.get(event.grantId);
      if (grant !== undefined) grant.remaining = roundAmount(grant.remaining - event.amount);
      return;
    }
  }
}
