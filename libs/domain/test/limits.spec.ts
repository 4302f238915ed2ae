import { describe, expect, it } from 'vitest';

import { limitStatuses, planOf } from '../src';
import { Person, catalogOf, check, commit, eventsOf, limit, meter, reserve, track, utc } from './plan-harness';

const MINUTE_START = utc('2026-05-10T12:00:00Z');
const MINUTE_END = utc('2026-05-10T12:01:00Z');
const MONTH_START = utc('2026-05-01T00:00:00Z');
const MONTH_END = utc('2026-06-01T00:00:00Z');

/** 20 requests a minute and 100,000 a month, both hard. */
const rateCatalog = catalogOf({
  meters: [meter('requests')],
  plans: { free: [[limit('requests-minute', 'requests', 20, 'minute'), limit('requests-month', 'requests', 100_000, 'month')]] },
});

describe('several limits on one meter', () => {
  it('minute limit denies first', () => {
    const person = new Person(rateCatalog);
    const first = person.reply('reserve', reserve('requests', 15, 'a'), utc('2026-05-10T12:00:10Z'));
    const countersBefore = structuredClone([...person.state.counters]);

    const denied = person.decide(reserve('requests', 10, 'b'), utc('2026-05-10T12:00:20Z'));

    expect(first).toMatchObject({ allowed: true, remaining: 5, limit: 20, period: 'minute', resetsAt: MINUTE_END });
    expect(denied.reply).toMatchObject({ kind: 'reserve', allowed: false, remaining: 5, limit: 20, period: 'minute', resetsAt: MINUTE_END, reason: 'limit_exceeded' });
    expect(eventsOf(denied.events, 'QuotaDenied')).toMatchObject([{ limitId: 'requests-minute', limit: 20, limitPeriod: 'minute', remaining: 5 }]);
    expect([...person.state.counters]).toEqual(countersBefore);
    expect(person.counter('requests', 'month', MONTH_START, MONTH_END)).toEqual({ used: 0, reserved: 15 });
    expect(person.counter('requests', 'minute', MINUTE_START, MINUTE_END)).toEqual({ used: 0, reserved: 15 });
  });

  it('month counter untouched by a denial', () => {
    const person = new Person(rateCatalog);
    const reservationId = person.hold('requests', 20, 'a', utc('2026-05-10T12:00:05Z'));
    person.reply('commit', commit(reservationId, 20), utc('2026-05-10T12:00:06Z'));

    person.decide(reserve('requests', 1, 'b'), utc('2026-05-10T12:00:07Z'));
    const statuses = limitStatuses(person.state, rateCatalog, planOf(person.state, rateCatalog), 'requests', utc('2026-05-10T12:00:08Z'));

    expect(statuses.map((status) => ({ id: status.limit.id, used: status.used, reserved: status.reserved, available: status.available }))).toEqual([
      { id: 'requests-minute', used: 20, reserved: 0, available: 0 },
      { id: 'requests-month', used: 20, reserved: 0, available: 99_980 },
    ]);
  });

  it('minute resets while the month keeps counting', () => {
    const person = new Person(rateCatalog);
    const reservationId = person.hold('requests', 20, 'a', utc('2026-05-10T12:00:05Z'));
    person.reply('commit', commit(reservationId, 20), utc('2026-05-10T12:00:06Z'));

    const nextMinute = person.reply('reserve', reserve('requests', 20, 'b'), MINUTE_END);

    expect(nextMinute).toMatchObject({ allowed: true, remaining: 0, period: 'minute', resetsAt: utc('2026-05-10T12:02:00Z') });
    expect(person.counter('requests', 'month', MONTH_START, MONTH_END)).toEqual({ used: 20, reserved: 20 });
  });

  it('month limit denies when the minute has room', () => {
    const person = new Person(rateCatalog);
    // Tracked usage is never denied, so it can fill the month in one call.
    person.reply('track', track('requests', 99_990, 't'), utc('2026-05-09T08:00:00Z'));

    const denied = person.decide(reserve('requests', 15, 'a'), utc('2026-05-10T12:00:00Z'));
    const allowed = person.reply('reserve', reserve('requests', 10, 'b'), utc('2026-05-10T12:00:01Z'));

    expect(denied.reply).toMatchObject({ allowed: false, remaining: 10, limit: 100_000, period: 'month', resetsAt: MONTH_END });
    expect(eventsOf(denied.events, 'QuotaDenied')).toMatchObject([{ limitId: 'requests-month' }]);
    expect(allowed).toMatchObject({ allowed: true, remaining: 0, period: 'month' });
    expect(person.counter('requests', 'minute', MINUTE_START, MINUTE_END)).toEqual({ used: 0, reserved: 10 });
  });

  it('check answers like reserve without a hold', () => {
    const person = new Person(rateCatalog);
    person.hold('requests', 15, 'a', utc('2026-05-10T12:00:10Z'));

    const checked = person.decide(check('requests', 10), utc('2026-05-10T12:00:11Z'));

    expect(checked.events).toEqual([]);
    expect(checked.reply).toMatchObject({ kind: 'check', allowed: false, remaining: 5, limit: 20, period: 'minute', reason: 'limit_exceeded' });
    expect(person.counter('requests', 'minute', MINUTE_START, MINUTE_END)).toEqual({ used: 0, reserved: 15 });
  });
});

describe('soft limits', () => {
  const catalog = catalogOf({
    plans: { free: [[limit('tokens-day-soft', 'tokens', 1000, 'day', { enforcement: 'soft' }), limit('tokens-month', 'tokens', 5000, 'month')]] },
  });

  it('flags the overage and allows it', () => {
    const person = new Person(catalog);
    const table: { quantity: number; softExceeded: string[]; remaining: number }[] = [
      { quantity: 800, softExceeded: [], remaining: 4200 },
      { quantity: 200, softExceeded: [], remaining: 4000 },
      { quantity: 1, softExceeded: ['tokens-day-soft'], remaining: 3999 },
      { quantity: 2000, softExceeded: ['tokens-day-soft'], remaining: 1999 },
    ];
    table.forEach((row, index) => {
      const decision = person.decide(reserve('tokens', row.quantity, `k${index}`), utc('2026-05-10T12:00:00Z') + index);

      expect(decision.reply, `row ${index}`).toMatchObject({ allowed: true, softExceeded: row.softExceeded, remaining: row.remaining, period: 'month', limit: 5000 });
      expect(eventsOf(decision.events, 'QuotaReserved')[0]?.softExceeded, `row ${index}`).toEqual(row.softExceeded);
    });
    expect(person.counter('tokens', 'day', utc('2026-05-10T00:00:00Z'), utc('2026-05-11T00:00:00Z'))).toEqual({ used: 0, reserved: 3001 });
  });

  it('hard limit still denies past a soft one', () => {
    const person = new Person(catalog);
    person.reply('track', track('tokens', 4990, 't'), utc('2026-05-10T12:00:00Z'));

    const denied = person.reply('reserve', reserve('tokens', 20, 'a'), utc('2026-05-10T12:00:01Z'));

    expect(denied).toMatchObject({ allowed: false, remaining: 10, limit: 5000, period: 'month', softExceeded: [] });
  });

  it('soft-only plan reports the tightest soft limit', () => {
    const softOnly = catalogOf({ plans: { free: [[limit('tokens-day-soft', 'tokens', 100, 'day', { enforcement: 'soft' })]] } });
    const person = new Person(softOnly);

    const over = person.reply('reserve', reserve('tokens', 150, 'a'), utc('2026-05-10T12:00:00Z'));

    expect(over).toMatchObject({ allowed: true, remaining: 0, limit: 100, period: 'day', softExceeded: ['tokens-day-soft'] });
  });

  it('shares one counter with a hard limit on the same window', () => {
    const shared = catalogOf({
      plans: { free: [[limit('tokens-month-soft', 'tokens', 800, 'month', { enforcement: 'soft' }), limit('tokens-month', 'tokens', 1000, 'month')]] },
    });
    const person = new Person(shared);

    const first = person.reply('reserve', reserve('tokens', 900, 'a'), utc('2026-05-10T12:00:00Z'));

    expect(first).toMatchObject({ allowed: true, remaining: 100, softExceeded: ['tokens-month-soft'] });
    expect([...person.state.counters.keys()]).toEqual([`tokens|month|${MONTH_START}|${MONTH_END}`]);
  });
});

describe('commit above the reservation', () => {
  const table: { name: string; overage: ('record' | 'cap')[]; quantity: number; counted: number; overageAmount: number; capped: boolean; requested: number | undefined }[] = [
    { name: 'record counts it all', overage: ['record', 'record'], quantity: 130, counted: 130, overageAmount: 30, capped: false, requested: undefined },
    { name: 'cap counts the hold', overage: ['cap', 'cap'], quantity: 130, counted: 100, overageAmount: 0, capped: true, requested: 130 },
    { name: 'one cap limit caps', overage: ['record', 'cap'], quantity: 130, counted: 100, overageAmount: 0, capped: true, requested: 130 },
    { name: 'cap below the hold', overage: ['cap', 'cap'], quantity: 60, counted: 60, overageAmount: 0, capped: false, requested: undefined },
    { name: 'record below the hold', overage: ['record', 'record'], quantity: 60, counted: 60, overageAmount: 0, capped: false, requested: undefined },
  ];

  it.each(table)('$name', ({ overage, quantity, counted, overageAmount, capped, requested }) => {
    const catalog = catalogOf({
      plans: { free: [[limit('tokens-day', 'tokens', 500, 'day', { overage: overage[0] }), limit('tokens-month', 'tokens', 1000, 'month', { overage: overage[1] })]] },
    });
    const person = new Person(catalog);
    const reservationId = person.hold('tokens', 100, 'a', utc('2026-05-10T12:00:00Z'));

    const decision = person.decide(commit(reservationId, quantity), utc('2026-05-10T12:00:05Z'));

    expect(decision.reply).toMatchObject({ kind: 'commit', quantity: counted, overage: overageAmount, capped });
    const [event] = eventsOf(decision.events, 'QuotaCommitted');
    expect(event?.requestedQuantity).toBe(requested);
    expect(event?.reservedQuantity).toBe(100);
    expect(person.counter('tokens', 'month', MONTH_START, MONTH_END)).toEqual({ used: counted, reserved: 0 });
    expect(person.counter('tokens', 'day', utc('2026-05-10T00:00:00Z'), utc('2026-05-11T00:00:00Z'))).toEqual({ used: counted, reserved: 0 });
  });

  it('recorded overage leaves a negative balance', () => {
    const catalog = catalogOf({ plans: { free: [[limit('tokens-month', 'tokens', 100, 'month')]] } });
    const person = new Person(catalog);
    const reservationId = person.hold('tokens', 90, 'a', utc('2026-05-10T12:00:00Z'));
    person.reply('commit', commit(reservationId, 130), utc('2026-05-10T12:00:01Z'));

    const [status] = limitStatuses(person.state, catalog, planOf(person.state, catalog), 'tokens', utc('2026-05-10T12:00:02Z'));
    const denied = person.reply('reserve', reserve('tokens', 1, 'b'), utc('2026-05-10T12:00:02Z'));

    expect(status).toMatchObject({ used: 130, reserved: 0, available: -30 });
    expect(denied).toMatchObject({ allowed: false, remaining: 0 });
  });
});
