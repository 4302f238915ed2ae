import type { Period, WindowRef } from '@vevee/contracts';

export const PERIODS: readonly Period[] = ['day', 'month'];

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

function localParts(at: number, timeZone: string): LocalDate & { hour: number; minute: number; second: number } {
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
  const p = localParts(at, timeZone);
  if (period === 'day') {
    return {
      period,
      start: localMidnight(p, timeZone),
      end: localMidnight({ ...p, day: p.day + 1 }, timeZone),
    };
  }
  return {
    period,
    start: localMidnight({ ...p, day: 1 }, timeZone),
    end: localMidnight({ ...p, month: p.month + 1, day: 1 }, timeZone),
  };
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
