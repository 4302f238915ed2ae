import { personKey } from '@vevee/contracts';

/** A usage event that passed validation, in the form the sink stores. */
export interface IngestEvent {
  eventId: string;
  workspaceId: string;
  personId: string;
  /** The event type name, for example `chat.completion` or `$identify`. */
  type: string;
  /** The event time, epoch milliseconds. */
  at: number;
  /** The meter a metered event counts against; undefined for an event without quota. */
  meter: string | undefined;
  quantity: number;
  cost: number;
  currency: string;
  /** `properties` with `set`, `setOnce` and `anonymousId` added when the record has them at the top level. */
  properties: Record<string, unknown>;
}

/** Why a record was rejected: the field at fault, and a reason that includes the fix. */
export interface IngestRejection {
  field: string;
  reason: string;
}

export type ParsedRecord = { ok: true; event: IngestEvent } | { ok: false; rejection: IngestRejection };

/** The time window an event's timestamp must fall in, relative to a reference time. */
export interface TimeWindow {
  /** The time the record is judged against, epoch milliseconds. */
  referenceMs: number;
  maxAgeMs: number;
  maxFutureMs: number;
}

/** The event types whose meaning another part of Vevee defines; the sink stores them like any other. */
export const RESERVED_EVENT_TYPES: readonly string[] = ['$identify', '$alias'];

/** The largest quantity or cost accepted: sums of such values stay exact in a double. */
export const MAX_AMOUNT = 1e15;

const KNOWN_FIELDS = new Set([
  'eventId',
  'workspaceId',
  'personId',
  'type',
  'timestamp',
  'meter',
  'quantity',
  'cost',
  'currency',
  'properties',
  'set',
  'setOnce',
  'anonymousId',
]);
const NO_CONTROL_CHARACTERS = /^[^\p{Cc}]+$/u;
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_.:-]*$/;
const METER = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const CURRENCY = /^[A-Z]{3}$/;
// A date, a time with optional fraction, and a zone: `Z` or an offset. A time
// without a zone is ambiguous, so it is rejected rather than read as local time.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const DAY_MS = 24 * 60 * 60 * 1000;

class Rejected extends Error {
  constructor(readonly rejection: IngestRejection) {
    super(rejection.reason);
  }
}

function reject(field: string, reason: string): never {
  throw new Rejected({ field, reason });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function identifier(record: Record<string, unknown>, field: string, maxLength: number, hint: string): string {
  const value = record[field];
  if (value === undefined || value === null || value === '') reject(field, `${field} is required: ${hint}`);
  if (typeof value !== 'string') reject(field, `${field} must be a string: ${hint}`);
  if (value.length > maxLength) reject(field, `${field} is ${value.length} characters long; send at most ${maxLength}`);
  if (!NO_CONTROL_CHARACTERS.test(value)) reject(field, `${field} must not contain control characters`);
  return value;
}

function eventType(record: Record<string, unknown>): string {
  const value = identifier(record, 'type', 128, 'send the event type name, for example "chat.completion"');
  if (RESERVED_EVENT_TYPES.includes(value)) return value;
  if (value.startsWith('$')) {
    reject('type', `type "${value}" is reserved: names starting with "$" are Vevee's own (${RESERVED_EVENT_TYPES.join(', ')}); start the name with a letter`);
  }
  if (!EVENT_TYPE.test(value)) {
    reject('type', `type "${value}" is invalid: start with a letter and use only letters, digits, ".", ":", "_" and "-"`);
  }
  return value;
}

function timestamp(record: Record<string, unknown>, window: TimeWindow): number {
  const value = record.timestamp;
  let at: number;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      reject('timestamp', `timestamp ${value} is invalid: send epoch milliseconds as a whole number, or an ISO-8601 string such as "2026-05-20T12:00:00Z"`);
    }
    at = value;
  } else if (typeof value === 'string') {
    if (!ISO_8601.test(value)) {
      reject('timestamp', `timestamp "${value.slice(0, 64)}" is invalid: send ISO-8601 with a zone, such as "2026-05-20T12:00:00.000Z", or epoch milliseconds`);
    }
    at = Date.parse(value);
    if (Number.isNaN(at)) reject('timestamp', `timestamp "${value}" is not a valid date: check the day and month`);
  } else {
    reject('timestamp', 'timestamp is required: send ISO-8601 with a zone, such as "2026-05-20T12:00:00Z", or epoch milliseconds');
  }

  const age = window.referenceMs - at;
  if (age > window.maxAgeMs) {
    reject(
      'timestamp',
      `timestamp ${new Date(at).toISOString()} is ${(age / DAY_MS).toFixed(1)} days before the record was written; events more than ${window.maxAgeMs} ms old are rejected (INGEST_MAX_AGE_MS): send events sooner or raise the limit`,
    );
  }
  if (-age > window.maxFutureMs) {
    reject(
      'timestamp',
      `timestamp ${new Date(at).toISOString()} is ${-age} ms after the record was written; events more than ${window.maxFutureMs} ms in the future are rejected (INGEST_MAX_FUTURE_MS): check the producer's clock and time zone`,
    );
  }
  return at;
}

function amount(record: Record<string, unknown>, field: string): number | undefined {
  const value = record[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) reject(field, `${field} must be a finite number`);
  if (value < 0) reject(field, `${field} must be 0 or greater`);
  if (value > MAX_AMOUNT) reject(field, `${field} must be at most ${MAX_AMOUNT}`);
  return value;
}

function meterAndQuantity(record: Record<string, unknown>): { meter: string | undefined; quantity: number } {
  const meter = record.meter;
  const quantity = amount(record, 'quantity');
  if (meter === undefined || meter === null || meter === '') {
    if (quantity !== undefined) reject('quantity', 'quantity needs a meter: set meter to the plan meter it counts against, or drop quantity');
    return { meter: undefined, quantity: 0 };
  }
  if (typeof meter !== 'string' || meter.length > 64 || !METER.test(meter)) {
    reject('meter', 'meter must be at most 64 characters, start with a letter and contain only letters, digits, ".", "_" and "-"');
  }
  if (quantity === undefined) reject('quantity', `quantity is required with meter "${meter}": send the amount used, 0 if none`);
  return { meter, quantity };
}

function currency(record: Record<string, unknown>): string {
  const value = record.currency;
  if (value === undefined || value === null || value === '') return '';
  if (typeof value !== 'string' || !CURRENCY.test(value)) reject('currency', 'currency must be an ISO 4217 code of 3 capital letters, such as "USD"');
  return value;
}

/**
 * Returns `properties` with the identity fields `set`, `setOnce` (objects) and
 * `anonymousId` (string) added from the top level of the record. Either place
 * is accepted, but not both with different values.
 */
function properties(record: Record<string, unknown>): Record<string, unknown> {
  const raw = record.properties;
  if (raw !== undefined && raw !== null && !isPlainObject(raw)) reject('properties', 'properties must be a JSON object of custom fields');
  const result: Record<string, unknown> = { ...(raw ?? {}) };

  for (const field of ['set', 'setOnce', 'anonymousId'] as const) {
    const top = record[field];
    if (top !== undefined && top !== null) {
      if (result[field] !== undefined && JSON.stringify(result[field]) !== JSON.stringify(top)) {
        reject(field, `${field} is sent both at the top level and in properties with different values: send it in one place`);
      }
      result[field] = top;
    }
    const value = result[field];
    if (value === undefined || value === null) continue;
    if (field === 'anonymousId') {
      if (typeof value !== 'string' || value === '' || value.length > 256) reject('anonymousId', 'anonymousId must be a string of 1 to 256 characters');
    } else if (!isPlainObject(value)) {
      reject(field, `${field} must be a JSON object of person properties, such as {"plan": "pro"}`);
    }
  }
  return result;
}

/** Checks that an `$alias` event names the anonymous id it joins to its person, and that the two differ. */
function checkAlias(personId: string, anonymousId: unknown): void {
  if (anonymousId === undefined || anonymousId === null) {
    reject('anonymousId', 'anonymousId is required for $alias: send the id the person had before signing in; personId is the known id');
  }
  if (anonymousId === personId) reject('anonymousId', 'anonymousId must differ from personId: an alias joins two ids of one person');
}

/** Parses a record value into a JSON object, or rejects it with the reason. */
function parseValue(value: Buffer | string | null): Record<string, unknown> {
  if (value === null || value.length === 0) reject('value', 'the record has no value: send the event as a JSON object');
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (error) {
    reject('value', `the record value is not valid JSON (${(error as Error).message}): send one JSON object per record`);
  }
  if (!isPlainObject(parsed)) reject('value', 'the record value must be a JSON object, not an array or a scalar');
  return parsed;
}

/**
 * Validates one event object. Each check names the field and the fix; the
 * first failing check is the rejection. `window` bounds the timestamp.
 */
export function validateEvent(record: Record<string, unknown>, window: TimeWindow): ParsedRecord {
  try {
    for (const field of Object.keys(record)) {
      if (!KNOWN_FIELDS.has(field)) reject(field, `unknown field "${field.slice(0, 64)}": put custom data in properties`);
    }
    const eventId = identifier(record, 'eventId', 128, 'send a unique id per event, reused when the event is sent again');
    const workspaceId = identifier(record, 'workspaceId', 128, 'send the id of the workspace the event belongs to');
    const personId = identifier(record, 'personId', 256, 'send the id of the person the event is for');
    const type = eventType(record);
    const at = timestamp(record, window);
    const { meter, quantity } = meterAndQuantity(record);
    const cost = amount(record, 'cost') ?? 0;
    const eventProperties = properties(record);
    if (type === '$alias') checkAlias(personId, eventProperties.anonymousId);
    return {
      ok: true,
      event: { eventId, workspaceId, personId, type, at, meter, quantity, cost, currency: currency(record), properties: eventProperties },
    };
  } catch (error) {
    if (error instanceof Rejected) return { ok: false, rejection: error.rejection };
    throw error;
  }
}

/**
 * Validates one Kafka record of the ingest topic: a JSON value, and a key
 * that equals `workspaceId:personId` of the value.
 */
export function parseIngestRecord(key: Buffer | string | null, value: Buffer | string | null, window: TimeWindow): ParsedRecord {
  let record: Record<string, unknown>;
  try {
    record = parseValue(value);
  } catch (error) {
    if (error instanceof Rejected) return { ok: false, rejection: error.rejection };
    throw error;
  }
  const parsed = validateEvent(record, window);
  if (!parsed.ok) return parsed;

  const expected = personKey(parsed.event.workspaceId, parsed.event.personId);
  const actual = key === null ? '' : key.toString();
  if (actual !== expected) {
    const shown = actual === '' ? 'missing' : `"${actual.slice(0, 300)}"`;
    return { ok: false, rejection: { field: 'key', reason: `record key is ${shown}: set it to "${expected}" (workspaceId:personId of the value)` } };
  }
  return parsed;
}
