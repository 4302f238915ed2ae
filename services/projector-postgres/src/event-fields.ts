import {
  LIMIT_PERIODS,
  LedgerDecodeError,
  SUBSCRIPTION_STATUSES,
  decodeLedgerEvent,
  type LedgerEvent,
  type Period,
  type SubscriptionStatus,
  type WindowRef,
} from '@vevee/contracts';

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

/** Checks a merge's transfers: each a meter, one valid window and a finite quantity. */
function checkTransfers(event: Fields, problems: string[]): void {
  const transfers = event.transfers;
  if (!Array.isArray(transfers)) {
    problems.push('transfers must be an array');
    return;
  }
  transfers.forEach((transfer: Fields | null, index) => {
    if (typeof transfer !== 'object' || transfer === null || typeof transfer.meter !== 'string' || !isFiniteNumber(transfer.used)) {
      problems.push(`transfers[${index}] must have a meter and a finite used`);
      return;
    }
    checkWindows({ windows: [transfer.window] }, problems);
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

function isTerms(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const terms = value as Fields;
  return typeof terms.planId === 'string' && terms.planId !== '' && SUBSCRIPTION_STATUSES.includes(terms.status as SubscriptionStatus) && isFiniteNumber(terms.startsAt);
}

const TERMS_RULE = 'must be {planId: non-empty string, status: one of ' + SUBSCRIPTION_STATUSES.join(', ') + ', startsAt: finite number}';

/** Checks the fields of subscription and credit events beyond the flat strings and numbers. */
function checkAccountFields(event: LedgerEvent, fields: Fields, problems: string[]): void {
  switch (event.type) {
    case 'SubscriptionChanged':
      checkString(fields, 'source', problems, true);
      checkString(fields, 'reason', problems, true);
      if (!isTerms(fields.to)) problems.push(`to ${TERMS_RULE}`);
      if (fields.from !== null && !isTerms(fields.from)) problems.push(`from must be null or ${TERMS_RULE.slice('must be '.length)}`);
      return;
    case 'CreditsGranted':
      checkString(fields, 'reason', problems, true);
      if (!['grant', 'renewal', 'rollover'].includes(fields.origin as string)) problems.push('origin must be one of grant, renewal, rollover');
      if (fields.expiresAt !== null && !isFiniteNumber(fields.expiresAt)) problems.push('expiresAt must be null or a finite number');
      if (fields.recurrence !== null && (typeof fields.recurrence !== 'object' || Array.isArray(fields.recurrence))) problems.push('recurrence must be null or an object');
      if (fields.parentGrantId !== null && typeof fields.parentGrantId !== 'string') problems.push('parentGrantId must be null or a string');
      return;
    case 'CreditsBurned':
      checkString(fields, 'reservationId', problems, true);
      checkString(fields, 'usageEventId', problems, true);
      return;
    case 'CreditsExpired':
      checkNumber(fields, 'expiredAt', problems);
      return;
    default:
      return;
  }
}

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
  checkAccountFields(event, fields, problems);
  if (event.type === 'UsageTransferredOut' || event.type === 'UsageTransferredIn') checkTransfers(fields, problems);

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
