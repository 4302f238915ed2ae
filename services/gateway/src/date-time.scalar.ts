import { GraphQLScalarType, Kind, print } from 'graphql';

import { InvalidDateTimeError } from './errors';

/** `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by `Z` or an offset `±HH:MM`. */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function fieldsInRange(match: RegExpExecArray): boolean {
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = match.slice(1).map((group) => Number(group ?? '0'));
  return (
    month! >= 1 &&
    month! <= 12 &&
    day! >= 1 &&
    day! <= daysInMonth(year!, month!) &&
    hour! <= 23 &&
    minute! <= 59 &&
    second! <= 59 &&
    offsetHours! <= 23 &&
    offsetMinutes! <= 59
  );
}

/**
 * Parses an ISO 8601 date-time that names its time zone. `Date.parse` alone is
 * not enough, because it rolls impossible dates over (February 30 becomes
 * March 1) and reads a date without a time as UTC midnight.
 */
export function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string') throw new InvalidDateTimeError(JSON.stringify(value) ?? String(value));
  const match = ISO_DATE_TIME.exec(value);
  const instant = Date.parse(value);
  if (match === null || !fieldsInRange(match) || Number.isNaN(instant)) {
    throw new InvalidDateTimeError(JSON.stringify(value));
  }
  return new Date(instant);
}

function serializeDateTime(value: unknown): string {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value).toISOString();
  throw new TypeError(`DateTime cannot represent ${String(value)}: resolvers must return a Date or epoch milliseconds`);
}

/** Instants in and out as ISO 8601 strings; resolvers receive a Date. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An instant as an ISO 8601 date-time with a time zone, for example 2026-05-01T00:00:00Z.',
  serialize: serializeDateTime,
  parseValue: parseDateTime,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new InvalidDateTimeError(print(ast));
    return parseDateTime(ast.value);
  },
});
