/**
 * Ledger events, schema version 1. Each record on the ledger topic is one
 * envelope encoded as JSON. `at` is the decision time in epoch milliseconds:
 * the fold uses it, never the wall clock, so a replay reaches the same state.
 */
export const LEDGER_SCHEMA_VERSION = 1;

/** The length of a limit's window. `billing` is the subscription's billing month. */
export type Period = 'minute' | 'hour' | 'day' | 'week' | 'month' | 'billing' | 'lifetime';

export const LIMIT_PERIODS: readonly Period[] = ['minute', 'hour', 'day', 'week', 'month', 'billing', 'lifetime'];

/**
 * The end of a lifetime window: the last millisecond of the year 9999. ISO
 * strings of later instants need a six-digit year, which PostgreSQL rejects.
 */
export const LIFETIME_END = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** A usage window that a quantity counts in. Times are epoch milliseconds. */
export interface WindowRef {
  period: Period;
  start: number;
  end: number;
  /**
   * Set when every limit on this window lets credits pay for usage above it.
   * Such a window counts only the part of a quantity that the plan's allowance
   * pays for. The part paid by credits is counted in the credit ledger instead.
   */
  credits?: boolean;
}

/** The fields every ledger event carries. */
export interface EnvelopeBase {
  version: 1;
  eventId: string;
  workspaceId: string;
  personId: string;
  at: number;
  /** The plan version the decision used. */
  planVersion: number;
  /** The plan the decision used; absent in events written before plans had ids. */
  planId?: string;
}

export interface QuotaReservedEvent extends EnvelopeBase {
  type: 'QuotaReserved';
  idempotencyKey: string;
  reservationId: string;
  meter: string;
  quantity: number;
  expiresAt: number;
  windows: WindowRef[];
  /** The amount left under the tightest limit after the hold. */
  remaining: number;
  limit: number;
  limitPeriod: Period;
  resetsAt: number;
  /** The part of the quantity held against credits instead of the allowance. */
  creditQuantity?: number;
  /** Ids of soft limits that this hold goes over: allowed, and flagged. */
  softExceeded?: string[];
  /** The overage policy of a commit above the hold, from the meter's limits. */
  overagePolicy?: OveragePolicy;
}

export interface QuotaDeniedEvent extends EnvelopeBase {
  type: 'QuotaDenied';
  idempotencyKey: string;
  meter: string;
  quantity: number;
  reason: 'limit_exceeded';
  /** The id of the hard limit that denied the reserve. */
  limitId?: string;
  remaining: number;
  limit: number;
  limitPeriod: Period;
  resetsAt: number;
}

export interface QuotaCommittedEvent extends EnvelopeBase {
  type: 'QuotaCommitted';
  idempotencyKey: string;
  reservationId: string;
  meter: string;
  reservedQuantity: number;
  quantity: number;
  overage: number;
  afterExpiry: boolean;
  /** Set when the overage policy is `cap`: the requested quantity, above what was counted. */
  requestedQuantity?: number;
  /** The part of the quantity paid by credits; CreditsBurned events before this one record the grants. */
  creditQuantity?: number;
  cost: number;
  currency: string;
  metadata: Record<string, unknown>;
  windows: WindowRef[];
}

export interface QuotaReleasedEvent extends EnvelopeBase {
  type: 'QuotaReleased';
  idempotencyKey: string;
  reservationId: string;
  meter: string;
  quantity: number;
  windows: WindowRef[];
}

export interface QuotaExpiredEvent extends EnvelopeBase {
  type: 'QuotaExpired';
  reservationId: string;
  meter: string;
  quantity: number;
  windows: WindowRef[];
}

export interface UsageTrackedEvent extends EnvelopeBase {
  type: 'UsageTracked';
  idempotencyKey: string;
  eventType: string;
  /** Empty when the event consumes no quota. */
  meter: string;
  quantity: number;
  cost: number;
  currency: string;
  metadata: Record<string, unknown>;
  windows: WindowRef[];
  /** The part of the quantity paid by credits; CreditsBurned events before this one record the grants. */
  creditQuantity?: number;
  /**
   * The time the sender gave an event from the ingest sink. Analytics order
   * events by it, and quota windows use `at`.
   */
  occurredAt?: number;
}

/** The counting of a commit above its reservation: in full with the overage recorded, or capped at the reservation. */
export type OveragePolicy = 'record' | 'cap';

export type SubscriptionStatus = 'active' | 'trialing' | 'past_due' | 'paused' | 'canceled';

export const SUBSCRIPTION_STATUSES: readonly SubscriptionStatus[] = ['active', 'trialing', 'past_due', 'paused', 'canceled'];

/** A person's subscription as the decider keeps it. */
export interface SubscriptionTerms {
  planId: string;
  status: SubscriptionStatus;
  /** The anchor of billing periods and anchored windows, epoch milliseconds. */
  startsAt: number;
}

/** A subscription change from a billing webhook, applied once per externalId. */
export interface SubscriptionChangedEvent extends EnvelopeBase {
  type: 'SubscriptionChanged';
  externalId: string;
  source: string;
  /** When the billing system made the change; an older change never overwrites a newer one. */
  occurredAt: number;
  /** When the new terms apply: the decision time, or the next billing period boundary. */
  effectiveAt: number;
  from: SubscriptionTerms | null;
  to: SubscriptionTerms;
  reason: string;
}

/** A repeating grant: renewed at the start of each calendar period of the workspace. */
export interface CreditRecurrence {
  period: 'day' | 'week' | 'month';
  /** The most unused balance that carries over into the next period; 0 carries nothing. */
  rolloverCap: number;
  /** How long carried-over credit lasts after the boundary; null keeps it for one more period. */
  rolloverExpiresAfterMs: number | null;
}

export interface CreditsGrantedEvent extends EnvelopeBase {
  type: 'CreditsGranted';
  idempotencyKey: string;
  grantId: string;
  /** A meter key, or a currency code (credits for every meter whose unit is that currency). */
  meter: string;
  amount: number;
  /** Lower numbers burn first. */
  priority: number;
  effectiveAt: number;
  expiresAt: number | null;
  recurrence: CreditRecurrence | null;
  /** For a renewal or a rollover, the recurring grant it came from. */
  parentGrantId: string | null;
  origin: 'grant' | 'renewal' | 'rollover';
  reason: string;
}

/** Part or all of one grant, spent by one usage. */
export interface CreditsBurnedEvent extends EnvelopeBase {
  type: 'CreditsBurned';
  grantId: string;
  meter: string;
  amount: number;
  /** The reservation or tracked event that spent the credit. */
  reservationId: string;
  usageEventId: string;
}

/** The unused balance of a grant written off at its expiry. */
export interface CreditsExpiredEvent extends EnvelopeBase {
  type: 'CreditsExpired';
  grantId: string;
  meter: string;
  amount: number;
  expiredAt: number;
}

/** Usage of one meter in one window, moved between persons by a merge. */
export interface UsageTransfer {
  meter: string;
  window: WindowRef;
  used: number;
}

/**
 * An anonymous person was merged into a known one, or a merged person
 * recorded usage later (a commit of a hold taken before the merge). The usage
 * leaves this person's windows; UsageTransferredIn adds it to the target's.
 */
export interface UsageTransferredOutEvent extends EnvelopeBase {
  type: 'UsageTransferredOut';
  transferId: string;
  /** The known person that this person now belongs to. */
  targetPersonId: string;
  transfers: UsageTransfer[];
  /** Set for usage recorded after the merge: the reservation whose commit it came from. */
  reservationId?: string;
}

/** Usage of a merged person added to this person's windows, once per transferId. */
export interface UsageTransferredInEvent extends EnvelopeBase {
  type: 'UsageTransferredIn';
  transferId: string;
  sourcePersonId: string;
  transfers: UsageTransfer[];
}

export type LedgerEvent =
  | QuotaReservedEvent
  | QuotaDeniedEvent
  | QuotaCommittedEvent
  | QuotaReleasedEvent
  | QuotaExpiredEvent
  | UsageTrackedEvent
  | SubscriptionChangedEvent
  | CreditsGrantedEvent
  | CreditsBurnedEvent
  | CreditsExpiredEvent
  | UsageTransferredOutEvent
  | UsageTransferredInEvent;

export type LedgerEventType = LedgerEvent['type'];

export const LEDGER_EVENT_TYPES: readonly LedgerEventType[] = [
  'QuotaReserved',
  'QuotaDenied',
  'QuotaCommitted',
  'QuotaReleased',
  'QuotaExpired',
  'UsageTracked',
  'SubscriptionChanged',
  'CreditsGranted',
  'CreditsBurned',
  'CreditsExpired',
  'UsageTransferredOut',
  'UsageTransferredIn',
];

/** Raised for a record that no reader of this version may skip or guess at. */
export class LedgerDecodeError extends Error {
  constructor(
    message: string,
    readonly detail: { topic?: string; partition?: number; offset?: string } = {},
  ) {
    super(message);
    this.name = 'LedgerDecodeError';
  }
}

export function encodeLedgerEvent(event: LedgerEvent): Buffer {
  return Buffer.from(JSON.stringify(event));
}

/**
 * Decodes one ledger record. An unknown schema version or event type throws:
 * the consumer must stop that partition rather than skip data it cannot read.
 */
export function decodeLedgerEvent(value: Buffer | null): LedgerEvent {
  if (value === null) {
    throw new LedgerDecodeError('ledger record has no value');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    throw new LedgerDecodeError(`ledger record is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new LedgerDecodeError('ledger record is not a JSON object');
  }
  const record = parsed as { version?: unknown; type?: unknown };
  if (record.version !== LEDGER_SCHEMA_VERSION) {
    throw new LedgerDecodeError(
      `ledger record has schema version ${String(record.version)}; this reader supports version ${LEDGER_SCHEMA_VERSION} only, so upgrade the reader`,
    );
  }
  if (!LEDGER_EVENT_TYPES.includes(record.type as LedgerEventType)) {
    throw new LedgerDecodeError(`ledger record has unknown event type ${String(record.type)}`);
  }
  return parsed as LedgerEvent;
}
