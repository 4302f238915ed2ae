import type {
  CreditRecurrence,
  CreditsBurnedEvent,
  CreditsExpiredEvent,
  CreditsGrantedEvent,
  LedgerEvent,
  SubscriptionChangedEvent,
  SubscriptionTerms,
} from '@vevee/contracts';

/**
 * Rows of the subscription and credit read models, planned from a batch of
 * one partition's events. Times are epoch milliseconds, and amounts are
 * decimal strings for NUMERIC parameters.
 */

/** One row of `subscriptions`: the terms the decider keeps for a person. */
export interface SubscriptionRow {
  workspaceId: string;
  personId: string;
  current: SubscriptionTerms | null;
  scheduled: { terms: SubscriptionTerms; effectiveAt: number } | null;
  occurredAt: number;
  /** The decision time of the last change applied. */
  changedAt: number;
}

/** One row of `subscription_history`, from one SubscriptionChanged event. */
export interface SubscriptionHistoryRow {
  workspaceId: string;
  eventId: string;
  personId: string;
  at: number;
  occurredAt: number;
  effectiveAt: number;
  from: SubscriptionTerms | null;
  to: SubscriptionTerms;
  reason: string;
  source: string;
  externalId: string;
}

/** One row of `credit_grants`, inserted with remaining 0: its credit_entries add up to the balance. */
export interface CreditGrantRow {
  workspaceId: string;
  personId: string;
  grantId: string;
  meter: string;
  amount: string;
  priority: number;
  effectiveAt: number;
  expiresAt: number | null;
  recurrence: CreditRecurrence | null;
  origin: CreditsGrantedEvent['origin'];
  parentGrantId: string | null;
  reason: string;
  grantedAt: number;
  eventId: string;
}

export type CreditEntryKind = 'grant' | 'schedule' | 'renewal' | 'rollover_in' | 'rollover_out' | 'burn' | 'expiry';

/** One row of `credit_entries`: one movement of one grant's balance, signed. */
export interface CreditEntryRow {
  workspaceId: string;
  personId: string;
  eventId: string;
  grantId: string;
  meter: string;
  kind: CreditEntryKind;
  amount: string;
  reservationId: string | null;
  usageEventId: string | null;
  at: number;
  effectiveAt: number;
}

export interface AccountPlan {
  /** The final state of each person whose subscription changed in the batch. */
  subscriptions: SubscriptionRow[];
  history: SubscriptionHistoryRow[];
  grants: CreditGrantRow[];
  entries: CreditEntryRow[];
}

export function personKey(workspaceId: string, personId: string): string {
  return `${workspaceId}\u0000${personId}`;
}

/** Returns the [workspaceId, personId] pairs whose subscription changes in the events, without repeats. */
export function subscriptionPersons(events: LedgerEvent[]): Array<[string, string]> {
  const pairs = new Map<string, [string, string]>();
  for (const event of events) {
    if (event.type === 'SubscriptionChanged') pairs.set(personKey(event.workspaceId, event.personId), [event.workspaceId, event.personId]);
  }
  return [...pairs.values()];
}

/** Returns the [workspaceId, eventId] pairs of the SubscriptionChanged events. */
export function subscriptionEventIds(events: LedgerEvent[]): Array<[string, string]> {
  return events.filter((event) => event.type === 'SubscriptionChanged').map((event) => [event.workspaceId, event.eventId]);
}

export function eventKey(workspaceId: string, eventId: string): string {
  return `${workspaceId}\u0000${eventId}`;
}

/** Formats an amount for a NUMERIC parameter, the shortest decimal that reads back as the same double. */
function decimal(amount: number): string {
  return amount === 0 ? '0' : String(amount);
}

/**
 * Applies a change as the decider's fold does: a change scheduled earlier
 * takes effect once time passes its effectiveAt, and the new terms apply now
 * or at their own effectiveAt.
 */
function applyChange(stored: SubscriptionRow | undefined, event: SubscriptionChangedEvent): SubscriptionRow {
  let current = stored?.current ?? null;
  let scheduled = stored?.scheduled ?? null;
  if (scheduled !== null && scheduled.effectiveAt <= event.at) {
    current = scheduled.terms;
    scheduled = null;
  }
  if (event.effectiveAt <= event.at) {
    current = event.to;
    scheduled = null;
  } else {
    scheduled = { terms: event.to, effectiveAt: event.effectiveAt };
  }
  return {
    workspaceId: event.workspaceId,
    personId: event.personId,
    current,
    scheduled,
    occurredAt: Math.max(stored?.occurredAt ?? 0, event.occurredAt),
    changedAt: event.at,
  };
}

function grantRows(event: CreditsGrantedEvent): { grant: CreditGrantRow; entries: CreditEntryRow[] } {
  const grant: CreditGrantRow = {
    workspaceId: event.workspaceId,
    personId: event.personId,
    grantId: event.grantId,
    meter: event.meter,
    amount: decimal(event.amount),
    priority: event.priority,
    effectiveAt: event.effectiveAt,
    expiresAt: event.expiresAt,
    recurrence: event.recurrence ?? null,
    origin: event.origin,
    parentGrantId: event.parentGrantId ?? null,
    reason: event.reason,
    grantedAt: event.at,
    eventId: event.eventId,
  };
  const entry = (grantId: string, kind: CreditEntryKind, amount: number): CreditEntryRow => ({
    workspaceId: event.workspaceId,
    personId: event.personId,
    eventId: event.eventId,
    grantId,
    meter: event.meter,
    kind,
    amount: decimal(amount),
    reservationId: null,
    usageEventId: null,
    at: event.at,
    effectiveAt: event.effectiveAt,
  });
  // A recurring grant is a schedule with no balance of its own: each period's renewal is spent.
  if (event.recurrence !== null && event.recurrence !== undefined) return { grant, entries: [entry(event.grantId, 'schedule', 0)] };
  if (event.origin === 'renewal') return { grant, entries: [entry(event.grantId, 'renewal', event.amount)] };
  if (event.origin === 'rollover') {
    // A rollover moves the unused balance out of the period's grant into a new one.
    const entries = [entry(event.grantId, 'rollover_in', event.amount)];
    if (event.parentGrantId !== null && event.parentGrantId !== undefined) entries.push(entry(event.parentGrantId, 'rollover_out', -event.amount));
    return { grant, entries };
  }
  return { grant, entries: [entry(event.grantId, 'grant', event.amount)] };
}

function spendRow(event: CreditsBurnedEvent | CreditsExpiredEvent): CreditEntryRow {
  const burn = event.type === 'CreditsBurned';
  return {
    workspaceId: event.workspaceId,
    personId: event.personId,
    eventId: event.eventId,
    grantId: event.grantId,
    meter: event.meter,
    kind: burn ? 'burn' : 'expiry',
    amount: decimal(-event.amount),
    reservationId: burn && event.reservationId !== '' ? event.reservationId : null,
    usageEventId: burn && event.usageEventId !== '' ? event.usageEventId : null,
    at: event.at,
    effectiveAt: burn ? event.at : event.expiredAt,
  };
}

/**
 * Turns a batch of one partition's events, in log order, into subscription
 * and credit rows. `stored` holds the subscriptions of the batch's persons as
 * they are in PostgreSQL, and `recorded` the keys (eventKey) of the
 * SubscriptionChanged events in subscription_history already, which are
 * skipped so a redelivered change is applied once. Credit rows need no such
 * check: their keys are the event ids, and the store inserts each once.
 */
export function planAccountProjection(events: LedgerEvent[], stored: ReadonlyMap<string, SubscriptionRow>, recorded: ReadonlySet<string>): AccountPlan {
  const subscriptions = new Map(stored);
  const touched = new Set<string>();
  const plan: AccountPlan = { subscriptions: [], history: [], grants: [], entries: [] };

  for (const event of events) {
    switch (event.type) {
      case 'SubscriptionChanged': {
        if (recorded.has(eventKey(event.workspaceId, event.eventId))) break;
        const key = personKey(event.workspaceId, event.personId);
        subscriptions.set(key, applyChange(subscriptions.get(key), event));
        touched.add(key);
        plan.history.push({
          workspaceId: event.workspaceId,
          eventId: event.eventId,
          personId: event.personId,
          at: event.at,
          occurredAt: event.occurredAt,
          effectiveAt: event.effectiveAt,
          from: event.from ?? null,
          to: event.to,
          reason: event.reason,
          source: event.source,
          externalId: event.externalId,
        });
        break;
      }
      case 'CreditsGranted': {
        const { grant, entries } = grantRows(event);
        plan.grants.push(grant);
        plan.entries.push(...entries);
        break;
      }
      case 'CreditsBurned':
      case 'CreditsExpired':
        plan.entries.push(spendRow(event));
        break;
      default:
        break;
    }
  }

  plan.subscriptions = [...touched].map((key) => subscriptions.get(key)!);
  return plan;
}
