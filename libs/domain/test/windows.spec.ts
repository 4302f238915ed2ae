import { describe, expect, it } from 'vitest';

import { LIFETIME_END, type Period } from '@vevee/contracts';

import { anchoredWindowFor, limitWindowFor, windowFor, type WindowKind } from '../src';
import { iso, utc } from './plan-harness';
import { anchoredMinuteAndDay, anchoredResetTable, berlinDayReset, billingAnchoredOn31st, billingResetTable } from './scenarios';

/**
 * Expected boundaries are written out by hand. Local midnights come from GNU
 * date 9.1 (`TZ=UTC date -u -d 'TZ="ZONE" YYYY-MM-DD 00:00'`), never from the
 * code under test.
 */

interface CalendarCase {
  name: string;
  period: Period;
  timeZone: string;
  at: string;
  start: string;
  end: string;
  hours?: number;
}

const calendarCases: CalendarCase[] = [
  // Europe/Berlin: daylight saving starts on Sunday 29 March 2026 and ends on Sunday 25 October 2026.
  { name: 'Berlin 23-hour day', period: 'day', timeZone: 'Europe/Berlin', at: '2026-03-29T12:00:00Z', start: '2026-03-28T23:00:00Z', end: '2026-03-29T22:00:00Z', hours: 23 },
  { name: 'Berlin day after the spring change', period: 'day', timeZone: 'Europe/Berlin', at: '2026-03-29T22:00:00Z', start: '2026-03-29T22:00:00Z', end: '2026-03-30T22:00:00Z', hours: 24 },
  { name: 'Berlin 25-hour day', period: 'day', timeZone: 'Europe/Berlin', at: '2026-10-25T12:00:00Z', start: '2026-10-24T22:00:00Z', end: '2026-10-25T23:00:00Z', hours: 25 },
  { name: 'Berlin last instant of the 25-hour day', period: 'day', timeZone: 'Europe/Berlin', at: '2026-10-25T22:59:59.999Z', start: '2026-10-24T22:00:00Z', end: '2026-10-25T23:00:00Z' },
  { name: 'Berlin last day of February', period: 'day', timeZone: 'Europe/Berlin', at: '2026-02-28T22:59:59.999Z', start: '2026-02-27T23:00:00Z', end: '2026-02-28T23:00:00Z' },
  { name: 'Berlin February', period: 'month', timeZone: 'Europe/Berlin', at: '2026-02-28T22:59:59.999Z', start: '2026-01-31T23:00:00Z', end: '2026-02-28T23:00:00Z' },
  { name: 'Berlin March, which loses an hour', period: 'month', timeZone: 'Europe/Berlin', at: '2026-02-28T23:00:00Z', start: '2026-02-28T23:00:00Z', end: '2026-03-31T22:00:00Z', hours: 743 },
  { name: 'Berlin October, which gains an hour', period: 'month', timeZone: 'Europe/Berlin', at: '2026-10-31T22:59:59.999Z', start: '2026-09-30T22:00:00Z', end: '2026-10-31T23:00:00Z', hours: 745 },
  // America/New_York: daylight saving starts on Sunday 8 March 2026 and ends on Sunday 1 November 2026.
  { name: 'New York 23-hour day', period: 'day', timeZone: 'America/New_York', at: '2026-03-08T12:00:00Z', start: '2026-03-08T05:00:00Z', end: '2026-03-09T04:00:00Z', hours: 23 },
  { name: 'New York 25-hour day', period: 'day', timeZone: 'America/New_York', at: '2026-11-01T12:00:00Z', start: '2026-11-01T04:00:00Z', end: '2026-11-02T05:00:00Z', hours: 25 },
  { name: 'New York last minute of January', period: 'day', timeZone: 'America/New_York', at: '2026-02-01T04:59:00Z', start: '2026-01-31T05:00:00Z', end: '2026-02-01T05:00:00Z' },
  { name: 'New York first instant of February', period: 'day', timeZone: 'America/New_York', at: '2026-02-01T05:00:00Z', start: '2026-02-01T05:00:00Z', end: '2026-02-02T05:00:00Z' },
  { name: 'New York January seen from UTC February', period: 'month', timeZone: 'America/New_York', at: '2026-02-01T04:59:59.999Z', start: '2026-01-01T05:00:00Z', end: '2026-02-01T05:00:00Z' },
  { name: 'New York February', period: 'month', timeZone: 'America/New_York', at: '2026-02-01T05:00:00Z', start: '2026-02-01T05:00:00Z', end: '2026-03-01T05:00:00Z' },
  // Weeks start on Monday, and 23 March 2026 and 19 October 2026 are Mondays.
  { name: 'Berlin week with the 23-hour Sunday', period: 'week', timeZone: 'Europe/Berlin', at: '2026-03-29T12:00:00Z', start: '2026-03-22T23:00:00Z', end: '2026-03-29T22:00:00Z', hours: 167 },
  { name: 'Berlin week from Monday midnight', period: 'week', timeZone: 'Europe/Berlin', at: '2026-03-29T22:00:00Z', start: '2026-03-29T22:00:00Z', end: '2026-04-05T22:00:00Z', hours: 168 },
  { name: 'Berlin week with the 25-hour Sunday', period: 'week', timeZone: 'Europe/Berlin', at: '2026-10-19T08:00:00Z', start: '2026-10-18T22:00:00Z', end: '2026-10-25T23:00:00Z', hours: 169 },
  // Asia/Kolkata is UTC+05:30, so its hours start at half past in UTC.
  { name: 'Kolkata hour', period: 'hour', timeZone: 'Asia/Kolkata', at: '2026-05-10T10:45:12Z', start: '2026-05-10T10:30:00Z', end: '2026-05-10T11:30:00Z' },
  { name: 'Kolkata hour at its first instant', period: 'hour', timeZone: 'Asia/Kolkata', at: '2026-05-10T10:30:00Z', start: '2026-05-10T10:30:00Z', end: '2026-05-10T11:30:00Z' },
  { name: 'Kolkata hour at its last instant', period: 'hour', timeZone: 'Asia/Kolkata', at: '2026-05-10T10:29:59.999Z', start: '2026-05-10T09:30:00Z', end: '2026-05-10T10:30:00Z' },
  { name: 'Kolkata day', period: 'day', timeZone: 'Asia/Kolkata', at: '2026-05-10T18:29:59Z', start: '2026-05-09T18:30:00Z', end: '2026-05-10T18:30:00Z' },
  // On 25 October 2026 Berlin's wall clock shows 02:30 twice, in two different hours.
  { name: 'Berlin first 02:00 hour', period: 'hour', timeZone: 'Europe/Berlin', at: '2026-10-25T00:30:00Z', start: '2026-10-25T00:00:00Z', end: '2026-10-25T01:00:00Z' },
  { name: 'Berlin repeated 02:00 hour', period: 'hour', timeZone: 'Europe/Berlin', at: '2026-10-25T01:30:00Z', start: '2026-10-25T01:00:00Z', end: '2026-10-25T02:00:00Z' },
  // Asia/Kathmandu is UTC+05:45.
  { name: 'Kathmandu hour', period: 'hour', timeZone: 'Asia/Kathmandu', at: '2026-05-10T10:20:00Z', start: '2026-05-10T10:15:00Z', end: '2026-05-10T11:15:00Z' },
  // America/Santiago moves its clocks at midnight: 6 September 2026 starts at 01:00, and 4 April 2026 repeats 23:00.
  { name: 'Santiago day without a midnight', period: 'day', timeZone: 'America/Santiago', at: '2026-09-06T12:00:00Z', start: '2026-09-06T04:00:00Z', end: '2026-09-07T03:00:00Z', hours: 23 },
  { name: 'Santiago day before the jump', period: 'day', timeZone: 'America/Santiago', at: '2026-09-06T03:59:59Z', start: '2026-09-05T04:00:00Z', end: '2026-09-06T04:00:00Z', hours: 24 },
  { name: 'Santiago day with a repeated hour', period: 'day', timeZone: 'America/Santiago', at: '2026-04-05T03:30:00Z', start: '2026-04-04T03:00:00Z', end: '2026-04-05T04:00:00Z', hours: 25 },
  { name: 'minute in Kolkata', period: 'minute', timeZone: 'Asia/Kolkata', at: '2026-05-10T12:34:56.789Z', start: '2026-05-10T12:34:00Z', end: '2026-05-10T12:35:00Z' },
];

describe('calendar windows', () => {
  it.each(calendarCases)('$name', ({ period, timeZone, at, start, end, hours }) => {
    const window = windowFor(period, utc(at), timeZone);

    expect(iso(window.start)).toBe(start);
    expect(iso(window.end)).toBe(end);
    expect(window.period).toBe(period);
    if (hours !== undefined) expect((window.end - window.start) / 3_600_000).toBe(hours);
  });

  it('lifetime spans every instant', () => {
    const window = windowFor('lifetime', utc('2026-05-10T12:00:00Z'), 'Europe/Berlin');

    expect(window).toEqual({ period: 'lifetime', start: 0, end: LIFETIME_END });
  });
});

interface AnchoredCase {
  name: string;
  period: Period;
  timeZone: string;
  anchor: string;
  at: string;
  start: string;
  end: string;
}

const anchoredCases: AnchoredCase[] = [
  // An anchor on the 31st: the period starts on the month's last day when the month is shorter.
  { name: 'Jan 31 to Feb 28', period: 'billing', timeZone: 'UTC', anchor: '2026-01-31T00:00:00Z', at: '2026-02-15T00:00:00Z', start: '2026-01-31T00:00:00Z', end: '2026-02-28T00:00:00Z' },
  { name: 'first instant of the anchor', period: 'billing', timeZone: 'UTC', anchor: '2026-01-31T00:00:00Z', at: '2026-01-31T00:00:00Z', start: '2026-01-31T00:00:00Z', end: '2026-02-28T00:00:00Z' },
  { name: 'Feb 28 to Mar 31', period: 'billing', timeZone: 'UTC', anchor: '2026-01-31T00:00:00Z', at: '2026-02-28T00:00:00Z', start: '2026-02-28T00:00:00Z', end: '2026-03-31T00:00:00Z' },
  { name: 'last instant before Mar 31', period: 'billing', timeZone: 'UTC', anchor: '2026-01-31T00:00:00Z', at: '2026-03-30T23:59:59.999Z', start: '2026-02-28T00:00:00Z', end: '2026-03-31T00:00:00Z' },
  { name: 'Mar 31 to Apr 30', period: 'billing', timeZone: 'UTC', anchor: '2026-01-31T00:00:00Z', at: '2026-03-31T00:00:00Z', start: '2026-03-31T00:00:00Z', end: '2026-04-30T00:00:00Z' },
  { name: 'Apr 30 to May 31', period: 'month', timeZone: 'UTC', anchor: '2026-01-31T00:00:00Z', at: '2026-05-01T00:00:00Z', start: '2026-04-30T00:00:00Z', end: '2026-05-31T00:00:00Z' },
  { name: 'leap year Jan 31 to Feb 29', period: 'billing', timeZone: 'UTC', anchor: '2028-01-31T00:00:00Z', at: '2028-02-28T12:00:00Z', start: '2028-01-31T00:00:00Z', end: '2028-02-29T00:00:00Z' },
  { name: 'leap year Feb 29 to Mar 31', period: 'billing', timeZone: 'UTC', anchor: '2028-01-31T00:00:00Z', at: '2028-02-29T00:00:00Z', start: '2028-02-29T00:00:00Z', end: '2028-03-31T00:00:00Z' },
  { name: 'anchor time of day kept', period: 'billing', timeZone: 'UTC', anchor: '2026-01-31T15:20:00Z', at: '2026-02-28T15:19:59Z', start: '2026-01-31T15:20:00Z', end: '2026-02-28T15:20:00Z' },
  // Europe/Berlin midnight on the 31st: local midnights move from UTC+1 to UTC+2 on 29 March.
  { name: 'Berlin Feb 28 to Mar 31', period: 'billing', timeZone: 'Europe/Berlin', anchor: '2026-01-30T23:00:00Z', at: '2026-03-15T00:00:00Z', start: '2026-02-27T23:00:00Z', end: '2026-03-30T22:00:00Z' },
  { name: 'Berlin Mar 31 to Apr 30', period: 'billing', timeZone: 'Europe/Berlin', anchor: '2026-01-30T23:00:00Z', at: '2026-03-30T22:00:00Z', start: '2026-03-30T22:00:00Z', end: '2026-04-29T22:00:00Z' },
  // Days, hours and minutes are fixed lengths counted from the anchor.
  { name: 'anchored day', period: 'day', timeZone: 'Europe/Berlin', anchor: '2026-03-10T10:17:23.500Z', at: '2026-03-12T09:00:00Z', start: '2026-03-11T10:17:23.500Z', end: '2026-03-12T10:17:23.500Z' },
  { name: 'anchored day at its boundary', period: 'day', timeZone: 'UTC', anchor: '2026-03-10T10:17:23.500Z', at: '2026-03-12T10:17:23.500Z', start: '2026-03-12T10:17:23.500Z', end: '2026-03-13T10:17:23.500Z' },
  { name: 'anchored minute', period: 'minute', timeZone: 'UTC', anchor: '2026-03-10T10:17:23.500Z', at: '2026-03-10T10:20:00Z', start: '2026-03-10T10:19:23.500Z', end: '2026-03-10T10:20:23.500Z' },
  { name: 'anchored hour', period: 'hour', timeZone: 'Asia/Kolkata', anchor: '2026-03-10T10:17:23.500Z', at: '2026-03-10T13:00:00Z', start: '2026-03-10T12:17:23.500Z', end: '2026-03-10T13:17:23.500Z' },
  { name: 'anchored week', period: 'week', timeZone: 'UTC', anchor: '2026-03-10T10:17:23.500Z', at: '2026-03-25T00:00:00Z', start: '2026-03-24T10:17:23.500Z', end: '2026-03-31T10:17:23.500Z' },
];

describe('anchored windows', () => {
  it.each(anchoredCases)('$name', ({ period, timeZone, anchor, at, start, end }) => {
    const window = anchoredWindowFor(period, utc(at), utc(anchor), timeZone);

    expect(iso(window.start)).toBe(start);
    expect(iso(window.end)).toBe(end);
  });

  const fallbackCases: { period: Period; kind: WindowKind; start: string; end: string }[] = [
    { period: 'billing', kind: 'calendar', start: '2026-05-01T00:00:00Z', end: '2026-06-01T00:00:00Z' },
    { period: 'day', kind: 'anchored', start: '2026-05-10T00:00:00Z', end: '2026-05-11T00:00:00Z' },
    { period: 'minute', kind: 'anchored', start: '2026-05-10T12:34:00Z', end: '2026-05-10T12:35:00Z' },
  ];

  it.each(fallbackCases)('$kind $period without an anchor is calendar', ({ period, kind, start, end }) => {
    const window = limitWindowFor(period, kind, utc('2026-05-10T12:34:56Z'), 'UTC', undefined);

    expect(iso(window.start)).toBe(start);
    expect(iso(window.end)).toBe(end);
  });

  it('billing with an anchor counts from it', () => {
    const window = limitWindowFor('billing', 'calendar', utc('2026-05-10T12:34:56Z'), 'UTC', utc('2026-01-31T00:00:00Z'));

    expect(iso(window.start)).toBe('2026-04-30T00:00:00Z');
    expect(iso(window.end)).toBe('2026-05-31T00:00:00Z');
  });
});

describe('window resets in decisions', () => {
  it('Berlin day resets at local midnight', () => {
    const { full, denied, nextDay } = berlinDayReset();

    expect(full).toMatchObject({ allowed: true, remaining: 0, period: 'day', resetsAt: utc('2026-03-29T22:00:00Z') });
    expect(denied).toMatchObject({ allowed: false, remaining: 0, resetsAt: utc('2026-03-29T22:00:00Z') });
    expect(nextDay).toMatchObject({ allowed: true, remaining: 9, resetsAt: utc('2026-03-30T22:00:00Z') });
  });

  it('anchored minute and day', () => {
    const { replies } = anchoredMinuteAndDay();

    anchoredResetTable.forEach((row, index) => {
      expect(replies[index], row.at).toMatchObject({ allowed: row.allowed, remaining: row.remaining, period: row.period, resetsAt: utc(row.resetsAt) });
    });
  });

  it('billing limit anchored on the 31st', () => {
    const { replies } = billingAnchoredOn31st();

    billingResetTable.forEach((row, index) => {
      expect(replies[index], row.at).toMatchObject({ allowed: row.allowed, remaining: row.remaining, period: 'billing', resetsAt: utc(row.resetsAt) });
    });
  });
});
