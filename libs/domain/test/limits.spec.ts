import { describe, expect, it } from 'vitest';

import { limitStatuses, planOf } from '../src';
import { eventsOf, utc } from './plan-harness';
import {
  checkWithoutHold,
  commitAbove,
  commitAboveTable,
  hardPastSoft,
  minuteLimitDeniesFirst,
  minuteResetsMonthCounts,
  monthCounterUntouchedByDenial,
  monthLimitDenies,
  rateCatalog,
  recordedOverage,
  softOnlyPlan,
  softOverage,
  softOverageTable,
  softSharesCounter,
} from './scenarios';

const MINUTE_START = utc('2026-05-10T12:00:00Z');
const MINUTE_END = utc('2026-05-10T12:01:00Z');
const MONTH_START = utc('2026-05-01T00:00:00Z');
const MONTH_END = utc('2026-06-01T00:00:00Z');

describe('several limits on one meter', () => {
  it('minute limit denies first', () => {
    const { person, first, countersBefore, denied } = minuteLimitDeniesFirst();

    expect(first).toMatchObject({ allowed: true, remaining: 5, limit: 20, period: 'minute', resetsAt: MINUTE_END });
    expect(denied.reply).toMatchObject({ kind: 'reserve', allowed: false, remaining: 5, limit: 20, period: 'minute', resetsAt: MINUTE_END, reason: 'limit_exceeded' });
    expect(eventsOf(denied.events, 'QuotaDenied')).toMatchObject([{ limitId: 'requests-minute', limit: 20, limitPeriod: 'minute', remaining: 5 }]);
    expect([...person.state.counters]).toEqual(countersBefore);
    expect(person.counter('requests', 'month', MONTH_START, MONTH_END)).toEqual({ used: 0, reserved: 15 });
    expect(person.counter('requests', 'minute', MINUTE_START, MINUTE_END)).toEqual({ used: 0, reserved: 15 });
  });

  it('month counter untouched by a denial', () => {
    const { person } = monthCounterUntouchedByDenial();

    const statuses = limitStatuses(person.state, rateCatalog, planOf(person.state, rateCatalog), 'requests', utc('2026-05-10T12:00:08Z'));

    expect(statuses.map((status) => ({ id: status.limit.id, used: status.used, reserved: status.reserved, available: status.available }))).toEqual([
      { id: 'requests-minute', used: 20, reserved: 0, available: 0 },
      { id: 'requests-month', used: 20, reserved: 0, available: 99_980 },
    ]);
  });

  it('minute resets while the month keeps counting', () => {
    const { person, nextMinute } = minuteResetsMonthCounts();

    expect(nextMinute).toMatchObject({ allowed: true, remaining: 0, period: 'minute', resetsAt: utc('2026-05-10T12:02:00Z') });
    expect(person.counter('requests', 'month', MONTH_START, MONTH_END)).toEqual({ used: 20, reserved: 20 });
  });

  it('month limit denies when the minute has room', () => {
    const { person, denied, allowed } = monthLimitDenies();

    expect(denied.reply).toMatchObject({ allowed: false, remaining: 10, limit: 100_000, period: 'month', resetsAt: MONTH_END });
    expect(eventsOf(denied.events, 'QuotaDenied')).toMatchObject([{ limitId: 'requests-month' }]);
    expect(allowed).toMatchObject({ allowed: true, remaining: 0, period: 'month' });
    expect(person.counter('requests', 'minute', MINUTE_START, MINUTE_END)).toEqual({ used: 0, reserved: 10 });
  });

  it('check answers like reserve without a hold', () => {
    const { person, checked } = checkWithoutHold();

    expect(checked.events).toEqual([]);
    expect(checked.reply).toMatchObject({ kind: 'check', allowed: false, remaining: 5, limit: 20, period: 'minute', reason: 'limit_exceeded' });
    expect(person.counter('requests', 'minute', MINUTE_START, MINUTE_END)).toEqual({ used: 0, reserved: 15 });
  });
});

describe('soft limits', () => {
  it('flags the overage and allows it', () => {
    const { person, decisions } = softOverage();

    softOverageTable.forEach((row, index) => {
      const decision = decisions[index]!;

      expect(decision.reply, `row ${index}`).toMatchObject({ allowed: true, softExceeded: row.softExceeded, remaining: row.remaining, period: 'month', limit: 5000 });
      expect(eventsOf(decision.events, 'QuotaReserved')[0]?.softExceeded, `row ${index}`).toEqual(row.softExceeded);
    });
    expect(person.counter('tokens', 'day', utc('2026-05-10T00:00:00Z'), utc('2026-05-11T00:00:00Z'))).toEqual({ used: 0, reserved: 3001 });
  });

  it('hard limit still denies past a soft one', () => {
    const { denied } = hardPastSoft();

    expect(denied).toMatchObject({ allowed: false, remaining: 10, limit: 5000, period: 'month', softExceeded: [] });
  });

  it('soft-only plan reports the tightest soft limit', () => {
    const { over } = softOnlyPlan();

    expect(over).toMatchObject({ allowed: true, remaining: 0, limit: 100, period: 'day', softExceeded: ['tokens-day-soft'] });
  });

  it('shares one counter with a hard limit on the same window', () => {
    const { person, first } = softSharesCounter();

    expect(first).toMatchObject({ allowed: true, remaining: 100, softExceeded: ['tokens-month-soft'] });
    expect([...person.state.counters.keys()]).toEqual([`tokens|month|${MONTH_START}|${MONTH_END}`]);
  });
});

describe('commit above the reservation', () => {
  it.each(commitAboveTable)('$name', (row) => {
    const { person, decision } = commitAbove(row);
    const { counted, overageAmount, capped, requested } = row;

    expect(decision.reply).toMatchObject({ kind: 'commit', quantity: counted, overage: overageAmount, capped });
    const [event] = eventsOf(decision.events, 'QuotaCommitted');
    expect(event?.requestedQuantity).toBe(requested);
    expect(event?.reservedQuantity).toBe(100);
    expect(person.counter('tokens', 'month', MONTH_START, MONTH_END)).toEqual({ used: counted, reserved: 0 });
    expect(person.counter('tokens', 'day', utc('2026-05-10T00:00:00Z'), utc('2026-05-11T00:00:00Z'))).toEqual({ used: counted, reserved: 0 });
  });

  it('recorded overage leaves a negative balance', () => {
    const { status, denied } = recordedOverage();

    expect(status).toMatchObject({ used: 130, reserved: 0, available: -30 });
    expect(denied).toMatchObject({ allowed: false, remaining: 0 });
  });
});
