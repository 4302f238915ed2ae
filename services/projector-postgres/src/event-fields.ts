import { LIMIT_PERIODS, LedgerDecodeError, decodeLedgerEvent, type LedgerEvent, type Period, type WindowRef } from '@vevee/contracts';

type Fields = Record<string, unknown>;

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function checkString(event: Fields, field: string, problems: string[], allowEmpty = false): void {
  const value = event[field];
  if (typeof value !== 'string' || (!allowEmpty && value === '')) {
    problems.push(`${field} must be a${allowEmpty ? '' : ' non-empty'} string`);
  }
}

function checkNumber(event: Fields, field: string, problems: string[]): void {
  if (!isFiniteNumber(event[field])) {
    problems.push(`${field} must be a finite number`);
  }
}

function checkWindows(event: Fields, problems: string[]): void {
  const windows = event.windows;
  if (!Array.isArray(windows)) {
    problems.push('windows must be an array');
    return;
  }
  windows.forEach((window: Partial<WindowRef> | null, index) => {
    const valid =
      typeof window === 'object' &&
      window !== null &&
      LIMIT_PERIODS.includes(window.period as Period) &&
      isFiniteNumber(window.start) &&
      isFiniteNumber(window.end) &&
      window.end > window.start;
    if (!valid) {
      problems.push(`windows[${index}] must have a period of ${LIMIT_PERIODS.join(', ')} and finite start < end`);
    }
  });
}

/** The fields each event type must carry for the projector to apply it, beyond the envelope. */
const REQUIRED: Record<LedgerEvent['type'], { strings: string[]; numbers: string[]; windows: boolean }> = {
  QuotaReserved: { strings: ['reservationId', 'meter'], numbers: ['quantity', 'expiresAt'], windows: true },
  QuotaDenied: { strings: [], numbers: [], windows: false },
  QuotaCommitted: { strings: ['reservationId', 'meter'], numbers: ['reservedQuantity', 'quantity', 'overage', 'cost'], windows: true },
  QuotaReleased: { strings: ['reservationId', 'meter'], numbers: ['quantity'], windows: true },
  QuotaExpired: { strings: ['reservationId', 'meter'], numbers: ['quantity'], windows: true },
  UsageTracked: { strings: [], numbers: ['quantity'], windows: true },
  SubscriptionChanged: { strings: ['externalId'], numbers: ['occurredAt', 'effectiveAt'], windows: false },
  CreditsGranted: { strings: ['grantId', 'meter'], numbers: ['amount', 'priority', 'effectiveAt'], windows: false },
  CreditsBurned: { strings: ['grantId', 'meter'], numbers: ['amount'], windows: false },
  CreditsExpired: { strings: ['grantId', 'meter'], numbers: ['amount'], windows: false },
  UsageTransferredOut: { strings: ['transferId', 'targetPersonId'], numbers: [], windows: false },
  UsageTransferredIn: { strings: ['transferId', 'sourcePersonId'], numbers: [], windows: false },
};

/**
 * Checks that a decoded event has every field the projector writes, with a
 * usable type. A missing field is a record this reader cannot apply, so it is
 * reported as a LedgerDecodeError and stops the partition like an unknown version.
 */
export function checkProjectedFields(event: LedgerEvent): void {
  const fields = event as unknown as Fields;
  const problems: string[] = [];
  checkString(fields, 'workspaceId', problems);
  checkString(fields, 'personId', problems);
  checkNumber(fields, 'at', problems);

  const required = REQUIRED[event.type];
  for (const field of required.strings) checkString(fields, field, problems);
  for (const field of required.numbers) checkNumber(fields, field, problems);
  if (required.windows) checkWindows(fields, problems);
  if (event.type === 'QuotaCommitted') {
    checkString(fields, 'currency', problems, true);
    if (typeof fields.afterExpiry !== 'boolean') problems.push('afterExpiry must be a boolean');
  }
  if (event.type === 'UsageTracked') {
    checkString(fields, 'meter', problems, true);
  }

  if (problems.length > 0) {
    throw new LedgerDecodeError(`ledger record ${event.type} has invalid fields: ${problems.join('; ')}`);
  }
}

/**
 * Decodes a record and checks the fields the projector needs. Every failure,
 * malformed JSON included, comes out as a LedgerDecodeError.
 */
export function decodeForProjection(value: Buffer | null): LedgerEvent {
  let event: LedgerEvent;
  try {
    event = decodeLedgerEvent(value);
  } catch (error) {
    if (error instanceof LedgerDecodeError) throw error;
    throw new LedgerDecodeError(`ledger record is not valid JSON: ${(error as Error).message}`);
  }
  checkProjectedFields(event);
  return event;
}
