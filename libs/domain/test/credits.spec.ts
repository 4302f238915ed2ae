import { describe, expect, it } from 'vitest';

import { creditAvailable, nextCreditSettlement, spendableGrants, type QuotaCommand } from '../src';
import { PERSON, Person, WORKSPACE, check, eventsOf, grant, utc } from './plan-harness';
import {
  burnOrderGrants,
  commitBelowHold,
  creditCatalog as catalog,
  creditShortOfOverage,
  expiredWrittenOffOnce,
  grantAtResetInstant,
  grantEffectiveLater,
  grantIdOf,
  grantKeyOutlivesGrant,
  partialBurns,
  recurringAtResetInstant,
  renewsOncePerPeriod,
  rollover,
  rolloverAfterQuietMonth,
  rolloverBurnsFirst,
  rolloverTable,
  sameGrantKey,
  usdHeldForOneMeter,
  usdPaysUsdMeter,
  weeklyRenewalNewYork,
} from './scenarios';

const T = utc('2026-05-10T12:00:00Z');
const MAY = utc('2026-05-01T00:00:00Z');
const JUNE = utc('2026-06-01T00:00:00Z');
const JULY = utc('2026-07-01T00:00:00Z');
const AUGUST = utc('2026-08-01T00:00:00Z');

describe('burn order', () => {
  it('priority, then expiry, then age', () => {
    const { person } = burnOrderGrants();

    const order = spendableGrants(person.state, catalog, 'tokens', T + 10).map((entry) => entry.grantId);

    expect(order).toEqual(['first', 'soon-old', 'soon-new', 'late', 'forever'].map((key) => grantIdOf(person, key)));
  });

  it('partial burns across three grants', () => {
    const { person, allowance, reserved, committed } = partialBurns();
    const [g1, g2, g3] = ['g1', 'g2', 'g3'].map((key) => grantIdOf(person, key));

    expect(eventsOf(allowance.events, 'CreditsBurned')).toEqual([]);
    expect(reserved).toMatchObject({ allowed: true, creditQuantity: 120, remaining: 0 });
    expect(committed.events.map((event) => event.type)).toEqual(['CreditsBurned', 'CreditsBurned', 'CreditsBurned', 'QuotaCommitted']);
    const committedEvent = eventsOf(committed.events, 'QuotaCommitted')[0]!;
    expect(eventsOf(committed.events, 'CreditsBurned').map((burn) => ({ grantId: burn.grantId, amount: burn.amount, usageEventId: burn.usageEventId, reservationId: burn.reservationId }))).toEqual([
      { grantId: g1, amount: 30, usageEventId: committedEvent.eventId, reservationId: reserved.reservationId },
      { grantId: g2, amount: 50, usageEventId: committedEvent.eventId, reservationId: reserved.reservationId },
      { grantId: g3, amount: 40, usageEventId: committedEvent.eventId, reservationId: reserved.reservationId },
    ]);
    expect(committedEvent.creditQuantity).toBe(120);
    expect(committed.reply).toMatchObject({ kind: 'commit', quantity: 120, creditQuantity: 120, overage: 0 });
    expect(person.balances()).toEqual({ [g1!]: 0, [g2!]: 0, [g3!]: 60 });
    expect(person.counter('tokens', 'month', MAY, JUNE)).toEqual({ used: 100, reserved: 0 });
  });

  it('commit below the hold burns what was used', () => {
    const { person, reserved, committed } = commitBelowHold();

    expect(reserved).toMatchObject({ allowed: true, creditQuantity: 40 });
    expect(eventsOf(committed.events, 'CreditsBurned').map((burn) => burn.amount)).toEqual([15]);
    expect(committed.reply).toMatchObject({ quantity: 25, creditQuantity: 15 });
    expect(person.balances()).toEqual({ [grantIdOf(person, 'g')]: 45 });
    expect(person.counter('tokens', 'month', MAY, JUNE)).toEqual({ used: 100, reserved: 0 });
  });

  it('denies when credit does not cover the overage', () => {
    const { person, denied, fits } = creditShortOfOverage();

    expect(denied.reply).toMatchObject({ allowed: false, remaining: 0, limit: 100, period: 'month' });
    expect(eventsOf(denied.events, 'QuotaDenied')).toMatchObject([{ limitId: 'tokens-month' }]);
    expect(fits).toMatchObject({ allowed: true, creditQuantity: 10 });
    expect(creditAvailable(person.state, catalog, 'tokens', T + 4)).toBe(0);
  });
});

describe('grant validity', () => {
  it('grant issued at a reset instant', () => {
    const { person, granted, reserved, lastInstant, atExpiry } = grantAtResetInstant();

    expect(granted).toMatchObject({ grantId: grantIdOf(person, 'june'), balance: 50 });
    expect(reserved).toMatchObject({ allowed: true, creditQuantity: 20 });
    expect(lastInstant.map((reply) => [reply.allowed, reply.creditQuantity])).toEqual([
      [true, 30],
      [false, 0],
    ]);
    expect(atExpiry.events).toMatchObject([{ type: 'CreditsExpired', grantId: granted.grantId, amount: 30, expiredAt: JULY, at: JULY }]);
    expect(atExpiry.reply).toMatchObject({ allowed: false, remaining: 100, creditQuantity: 0 });
  });

  it('grant effective later is not spendable yet', () => {
    const { before, from } = grantEffectiveLater();

    expect(before).toMatchObject({ allowed: false });
    expect(from).toMatchObject({ allowed: true, creditQuantity: 10 });
  });

  it('expired balance is written off once', () => {
    const { person, expiresAt, granted, writeOff, later } = expiredWrittenOffOnce();

    expect(writeOff.events).toMatchObject([{ type: 'CreditsExpired', grantId: granted.grantId, meter: 'tokens', amount: 40, expiredAt: expiresAt, at: utc('2026-05-21T09:00:00Z') }]);
    expect(later.events).toEqual([]);
    expect(person.balances()).toEqual({});
  });
});

describe('recurring grants', () => {
  it('renews once per period', () => {
    const { person, series, decisions } = renewsOncePerPeriod();

    const renewals = decisions.map((decision) => eventsOf(decision.events, 'CreditsGranted').map((event) => [event.grantId, event.effectiveAt, event.expiresAt]));
    expect(renewals).toEqual([[[`${series}@${MAY}`, T, JUNE]], [], [[`${series}@${JUNE}`, JUNE, JULY]], [], []]);
    expect(eventsOf(decisions[2]!.events, 'CreditsExpired')).toMatchObject([{ grantId: `${series}@${MAY}`, amount: 100, expiredAt: JUNE }]);
    expect(creditAvailable(person.state, catalog, 'tokens', utc('2026-06-30T00:00:00Z'))).toBe(100);
  });

  it.each(rolloverTable)('rollover: $name', (row) => {
    const { person, series, june3, settle } = rollover(row);
    const { rolled, rolloverExpiresAt, expired, balance } = row;
    const may = `${series}@${MAY}`;

    const expected: unknown[] = [];
    if (rolled > 0) {
      expected.push({ type: 'CreditsGranted', origin: 'rollover', grantId: `${may}:rollover`, parentGrantId: may, amount: rolled, effectiveAt: JUNE, expiresAt: rolloverExpiresAt, at: june3 });
    }
    if (expired > 0) expected.push({ type: 'CreditsExpired', grantId: may, amount: expired, expiredAt: JUNE, at: june3 });
    expected.push({ type: 'CreditsGranted', origin: 'renewal', grantId: `${series}@${JUNE}`, parentGrantId: series, amount: 100, effectiveAt: JUNE, expiresAt: JULY, at: june3 });
    expect(settle.events).toMatchObject(expected);
    expect(creditAvailable(person.state, catalog, 'tokens', june3)).toBe(balance);
  });

  it('rollover burns before the renewal and expires after', () => {
    const { series, burned, july } = rolloverBurnsFirst();

    expect(eventsOf(burned.events, 'CreditsBurned').map((burn) => [burn.grantId, burn.amount])).toEqual([
      [`${series}@${MAY}:rollover`, 30],
      [`${series}@${JUNE}`, 10],
    ]);
    expect(july.events.map((event) => [event.type, 'grantId' in event ? event.grantId : '', 'amount' in event ? event.amount : 0])).toEqual([
      ['CreditsGranted', `${series}@${JUNE}:rollover`, 30],
      ['CreditsExpired', `${series}@${JUNE}`, 60],
      ['CreditsGranted', `${series}@${JULY}`, 100],
    ]);
    expect(eventsOf(july.events, 'CreditsGranted')[0]).toMatchObject({ effectiveAt: JULY, expiresAt: AUGUST });
  });

  it('rollover lasts one period after a quiet month', () => {
    const { person, series, july } = rolloverAfterQuietMonth();

    expect(july.events.map((event) => [event.type, 'grantId' in event ? event.grantId : '', 'amount' in event ? event.amount : 0])).toEqual([
      ['CreditsExpired', `${series}@${MAY}`, 100],
      ['CreditsGranted', `${series}@${JULY}`, 100],
    ]);
    expect(creditAvailable(person.state, catalog, 'tokens', utc('2026-07-05T00:00:00Z'))).toBe(100);
  });

  it('weekly renewal in New York', () => {
    const { series, october, november } = weeklyRenewalNewYork();

    expect(eventsOf(october.events, 'CreditsGranted').map((event) => [event.grantId, event.expiresAt])).toEqual([
      [`${series}@${utc('2026-10-26T04:00:00Z')}`, utc('2026-11-02T05:00:00Z')],
    ]);
    expect(november.events.map((event) => [event.type, 'grantId' in event ? event.grantId : ''])).toEqual([
      ['CreditsExpired', `${series}@${utc('2026-10-26T04:00:00Z')}`],
      ['CreditsGranted', `${series}@${utc('2026-11-02T05:00:00Z')}`],
    ]);
    expect(eventsOf(november.events, 'CreditsGranted')[0]?.expiresAt).toBe(utc('2026-11-09T05:00:00Z'));
  });

  it('recurring grant issued at a reset instant', () => {
    const { series, first } = recurringAtResetInstant();

    expect(eventsOf(first.events, 'CreditsGranted')).toMatchObject([{ grantId: `${series}@${JUNE}`, effectiveAt: JUNE, expiresAt: JULY, amount: 100 }]);
  });
});

describe('grant idempotency', () => {
  it('same key returns the same grant', () => {
    const { person, first, again, reused } = sameGrantKey();

    expect(first.events).toHaveLength(1);
    expect(again.events).toEqual([]);
    expect(again.reply).toEqual(first.reply);
    expect(first.reply).toMatchObject({ kind: 'grantCredits', balance: 50 });
    expect(reused.events).toEqual([]);
    expect(reused.error?.field).toBe('idempotencyKey');
    expect(creditAvailable(person.state, catalog, 'tokens', T + 3000)).toBe(50);
  });

  it('key still known after the grant is gone', () => {
    const { person, first, again } = grantKeyOutlivesGrant();

    expect(person.balances()).toEqual({});
    expect(again.events).toEqual([]);
    expect(again.reply).toMatchObject({ grantId: first.grantId, balance: 0 });
  });
});

describe('currency grants', () => {
  it('USD credit pays a USD meter', () => {
    const { person, usd, eur, reserved, committed } = usdPaysUsdMeter();

    expect(eur.events).toEqual([]);
    expect(eur.error).toMatchObject({ code: 'invalid_argument', field: 'meter' });
    expect(eur.error?.message).toBe('credits in EUR would pay for no meter of the workspace, because no meter has the unit EUR: use USD, or grant credits of a meter');
    expect(reserved).toMatchObject({ allowed: true, creditQuantity: 2, remaining: 0 });
    expect(eventsOf(committed.events, 'CreditsBurned').map((burn) => [burn.grantId, burn.meter, burn.amount])).toEqual([[usd.grantId, 'USD', 2]]);
    expect(committed.reply).toMatchObject({ quantity: 3, creditQuantity: 2 });
    expect(creditAvailable(person.state, catalog, 'llm_cost', T + 4)).toBe(8);
    expect(creditAvailable(person.state, catalog, 'tokens', T + 4)).toBe(100);
  });

  it('USD held for one meter is not free for another', () => {
    const { person, llm, image, imageFits } = usdHeldForOneMeter();

    expect(llm).toMatchObject({ allowed: true, creditQuantity: 8 });
    expect(image).toMatchObject({ allowed: false });
    expect(imageFits).toMatchObject({ allowed: true, creditQuantity: 2 });
    expect(creditAvailable(person.state, catalog, 'llm_cost', T + 4)).toBe(0);
  });
});

describe('next credit settlement', () => {
  const expire: QuotaCommand = { kind: 'expire', workspaceId: WORKSPACE, personId: PERSON };
  const monthly = (options: { effectiveAt?: number } = {}) =>
    grant({ key: 'monthly', meter: 'tokens', amount: 100, recurrence: { period: 'month', rolloverCap: 0, rolloverExpiresAfterMs: null }, ...options });

  /** Decides an expire command at `at` and returns the types of the credit events it appended. */
  function settledAt(person: Person, at: number): string[] {
    return person
      .decide(expire, at)
      .events.map((event) => event.type)
      .filter((type) => type.startsWith('Credits'));
  }

  it('none without grants that change', () => {
    const person = new Person(catalog);
    expect(nextCreditSettlement(person.state, 'UTC', T)).toBeUndefined();

    person.reply('grantCredits', grant({ key: 'forever', meter: 'tokens', amount: 50 }), T);
    expect(nextCreditSettlement(person.state, 'UTC', T)).toBeUndefined();
  });

  it('expiry with credit left', () => {
    const person = new Person(catalog);
    const expiresAt = utc('2026-05-20T00:00:00Z');
    person.reply('grantCredits', grant({ key: 'g', meter: 'tokens', amount: 50, expiresAt }), T);

    expect(nextCreditSettlement(person.state, 'UTC', T)).toBe(expiresAt);
    expect(settledAt(person, expiresAt - 1)).toEqual([]);
    expect(settledAt(person, expiresAt)).toEqual(['CreditsExpired']);
    expect(nextCreditSettlement(person.state, 'UTC', expiresAt)).toBeUndefined();
  });

  it('monthly renewal at the period end', () => {
    const person = new Person(catalog);
    person.reply('grantCredits', monthly(), T);
    person.decide(check('tokens', 1), T);

    expect(nextCreditSettlement(person.state, 'UTC', T)).toBe(JUNE);
    expect(settledAt(person, JUNE - 1)).toEqual([]);
    expect(settledAt(person, JUNE)).toEqual(['CreditsExpired', 'CreditsGranted']);
    expect(nextCreditSettlement(person.state, 'UTC', JUNE)).toBe(JULY);
  });

  it('overdue renewal is due now', () => {
    const person = new Person(catalog);
    person.reply('grantCredits', monthly(), T);
    person.decide(check('tokens', 1), T);
    const quietUntil = utc('2026-07-15T08:00:00Z');

    expect(nextCreditSettlement(person.state, 'UTC', quietUntil)).toBe(quietUntil);
  });

  it('recurring grant effective later', () => {
    const person = new Person(catalog);
    const effectiveAt = utc('2026-05-15T00:00:00Z');
    person.reply('grantCredits', monthly({ effectiveAt }), T);

    expect(nextCreditSettlement(person.state, 'UTC', T)).toBe(effectiveAt);
    expect(settledAt(person, effectiveAt)).toEqual(['CreditsGranted']);
    expect(nextCreditSettlement(person.state, 'UTC', effectiveAt)).toBe(JUNE);
  });

  it('weekly renewal in New York', () => {
    const { person } = weeklyRenewalNewYork();
    const monday = utc('2026-11-09T05:00:00Z');

    // After the renewal of the week starting 2 November, the next week starts on Monday 9 November at 05:00 UTC (EST).
    expect(nextCreditSettlement(person.state, 'America/New_York', utc('2026-11-02T05:00:00Z'))).toBe(monday);
  });
});
