/**
 * Ledger events, schema version 1. Each record on the ledger topic is one
 * envelope encoded as JSON. `at` is the decision time in epoch milliseconds:
 * the fold uses it, never the wall clock, so a replay reaches the same state.
 */
export const LEDGER_SCHEMA_VERSION = 1;

export type Period = 'day' | 'month';

/** A usage window that a quantity counts in. Times are epoch milliseconds. */
export interface WindowRef {
  period: Period;
  start: number;
  end: number;
}

interface EnvelopeBase {
  version: 1;
  eventId: string;
  workspaceId: string;
  personId: string;
  at: number;
  /** The plan version the decision used. */
  planVersion: number;
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
}

export interface QuotaDeniedEvent extends EnvelopeBase {
  type: 'QuotaDenied';
  idempotencyKey: string;
  meter: string;
  quantity: number;
  reason: 'limit_exceeded';
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
}

export type LedgerEvent =
  | QuotaReservedEvent
  | QuotaDeniedEvent
  | QuotaCommittedEvent
  | QuotaReleasedEvent
  | QuotaExpiredEvent
  | UsageTrackedEvent;

export type LedgerEventType = LedgerEvent['type'];

export const LEDGER_EVENT_TYPES: readonly LedgerEventType[] = [
  'QuotaReserved',
  'QuotaDenied',
  'QuotaCommitted',
  'QuotaReleased',
  'QuotaExpired',
  'UsageTracked',
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
