import { LIFETIME_END, type Period, type WindowRef } from '@vevee/contracts';

import type { WindowKind } from './catalog';

/** The periods of a seed file's plan, and of the usage read model's default view. */
export const PERIODS: readonly Period[] = ['day', 'month'];

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;

/** Lengths of the periods that anchored windows measure in fixed milliseconds. */
const FIXED_PERIOD_MS = { minute: MINUTE_MS, hour: HOUR_MS, day: DAY_MS, week: WEEK_MS } as const;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

interface LocalDate {
  year: number;
  month: number;
  day: number;
}

interface LocalDateTime extends LocalDate {
  hour: number;
  minute: number;
  second: number;
}

function localParts(at: number, timeZone: string): LocalDateTime {
  const values: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(at)) {
    if (part.type !== 'literal') {
      values[part.type] = Number(part.value);
    }
  }
  return {
    year: values.year!,
    month: values.month!,
    day: values.day!,
    hour: values.hour!,
    minute: values.minute!,
    second: values.second!,
  };
}

/** Returns how far the zone's wall clock is ahead of UTC at `at`, in milliseconds. */
function zoneOffset(at: number, timeZone: string): number {
  const p = localParts(at, timeZone);
  const wallClock = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wallClock - Math.floor(at / 1000) * 1000;
}

/**
 * Returns the instant of local midnight on a date in the zone. Month and day may
 * overflow (day 32, month 13): Date.UTC normalizes them.
 */
function localMidnight(date: LocalDate, timeZone: string): number {
  const asUtc = Date.UTC(date.year, date.month - 1, date.day);
  // Two passes converge on the right offset across a daylight-saving change.
  const firstGuess = asUtc - zoneOffset(asUtc, timeZone);
  const secondGuess = asUtc - zoneOffset(firstGuess, timeZone);
  // Where the clocks jump over midnight (America/Santiago, America/Havana), the
  // second guess lands on the previous local day, and the day starts at the jump,
  // which is the first guess.
  const local = localParts(secondGuess, timeZone);
  return Date.UTC(local.year, local.month - 1, local.day) >= asUtc ? secondGuess : firstGuess;
}

/** The last window computed per period and zone: most decisions fall into it again. */
const recentWindows = new Map<string, WindowRef>();

/** Returns the calendar window of `period` in `timeZone` that contains `at`. */
export function windowFor(period: Period, at: number, timeZone: string): WindowRef {
  const cacheKey = `${period}|${timeZone}`;
  const recent = recentWindows.get(cacheKey);
  if (recent !== undefined && recent.start <= at && at < recent.end) {
    return { ...recent };
  }
  const window = computeWindow(period, at, timeZone);
  recentWindows.set(cacheKey, window);
  return { ...window };
}

function computeWindow(period: Period, at: number, timeZone: string): WindowRef {
  switch (period) {
    case 'minute': {
      const start = Math.floor(at / MINUTE_MS) * MINUTE_MS;
      return { period, start, end: start + MINUTE_MS };
    }
    case 'hour': {
      // Offsets of 30 and 45 minutes exist, so the hour starts at the local minute zero.
      const p = localParts(at, timeZone);
      const start = Math.floor(at / 1000) * 1000 - (p.minute * 60 + p.second) * 1000;
      return { period, start, end: start + HOUR_MS };
    }
    case 'day': {
      const p = localParts(at, timeZone);
      return { period, start: localMidnight(p, timeZone), end: localMidnight({ ...p, day: p.day + 1 }, timeZone) };
    }
    case 'week': {
      // Weeks start on Monday, as in ISO 8601.
      const p = localParts(at, timeZone);
      const sinceMonday = (new Date(Date.UTC(p.year, p.month - 1, p.day)).getUTCDay() + 6) % 7;
      return {
        period,
        start: localMidnight({ ...p, day: p.day - sinceMonday }, timeZone),
        end: localMidnight({ ...p, day: p.day - sinceMonday + 7 }, timeZone),
      };
    }
    case 'month':
    case 'billing': {
      const p = localParts(at, timeZone);
      return { period, start: localMidnight({ ...p, day: 1 }, timeZone), end: localMidnight({ ...p, month: p.month + 1, day: 1 }, timeZone) };
    }
    case 'lifetime':
      return { period, start: 0, end: LIFETIME_END };
  }
}

/** Returns the instant of a local wall-clock time in the zone; fields may overflow as in Date.UTC. */
function localInstant(time: LocalDateTime, timeZone: string): number {
  const asUtc = Date.UTC(time.year, time.month - 1, time.day, time.hour, time.minute, time.second);
  const firstGuess = asUtc - zoneOffset(asUtc, timeZone);
  return asUtc - zoneOffset(firstGuess, timeZone);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Returns the start of the k-th month after the anchor. The day of the month is
 * the anchor's, or the month's last day when the month is shorter: an anchor on
 * January 31 gives February 28 (or 29), then March 31.
 */
function anchoredMonthStart(anchor: LocalDateTime, k: number, timeZone: string): number {
  const day = Math.min(anchor.day, daysInMonth(anchor.year, anchor.month + k));
  return localInstant({ ...anchor, month: anchor.month + k, day }, timeZone);
}

/**
 * Returns the window of `period` that contains `at`, counted from `anchor`
 * (the subscription's start). Minutes, hours, days and weeks are fixed
 * lengths from the anchor. Months and billing periods start on the anchor's
 * day of the month and local time.
 */
export function anchoredWindowFor(period: Period, at: number, anchor: number, timeZone: string): WindowRef {
  switch (period) {
    case 'minute':
    case 'hour':
    case 'day':
    case 'week': {
      const length = FIXED_PERIOD_MS[period];
      const start = anchor + Math.floor((at - anchor) / length) * length;
      return { period, start, end: start + length };
    }
    case 'month':
    case 'billing': {
      const local = localParts(anchor, timeZone);
      const now = localParts(at, timeZone);
      let k = (now.year - local.year) * 12 + (now.month - local.month);
      while (anchoredMonthStart(local, k, timeZone) > at) k -= 1;
      while (anchoredMonthStart(local, k + 1, timeZone) <= at) k += 1;
      return { period, start: anchoredMonthStart(local, k, timeZone), end: anchoredMonthStart(local, k + 1, timeZone) };
    }
    case 'lifetime':
      return { period, start: 0, end: LIFETIME_END };
  }
}

/**
 * Returns the window of a limit at `at`. An anchored limit without an anchor
 * (a person with no subscription) and a `billing` limit without one use the
 * calendar window.
 */
export function limitWindowFor(period: Period, kind: WindowKind, at: number, timeZone: string, anchor: number | undefined): WindowRef {
  const anchored = anchor !== undefined && (kind === 'anchored' || period === 'billing');
  return anchored ? anchoredWindowFor(period, at, anchor, timeZone) : windowFor(period, at, timeZone);
}

/** Returns the windows of every period that contain `at`. */
export function windowsAt(at: number, timeZone: string): WindowRef[] {
  return PERIODS.map((period) => windowFor(period, at, timeZone));
}

/** Returns true when `timeZone` is an IANA zone name that this runtime supports. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}
