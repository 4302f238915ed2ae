import { describe, expect, it } from 'vitest';

import { creditAvailable, spendableGrants } from '../src';
import { Person, catalogOf, check, commit, eventsOf, grant, limit, meter, reserve, track, utc } from './plan-harness';

const T = utc('2026-05-10T12:00:00Z');
const MAY = utc('2026-05-01T00:00:00Z');
const JUNE = utc('2026-06-01T00:00:00Z');
const JULY = utc('2026-07-01T00:00:00Z');
const AUGUST = utc('2026-08-01T00:00:00Z');

/** 100 tokens a month, and credits pay for more. */
const catalog = catalogOf({
  meters: [meter('tokens'), meter('llm_cost', 'USD'), meter('image_cost', 'USD')],
  plans: {
    free: [
      [
        limit('tokens-month', 'tokens', 100, 'month', { credits: true }),
        limit('llm-month', 'llm_cost', 5, 'month', { credits: true }),
        limit('image-month', 'image_cost', 5, 'month', { credits: true }),
      ],
    ],
  },
});

function grantIdOf(person: Person, key: string): string {
  const grantId = person.state.grantKeys.get(key);
  if (grantId === undefined) throw new Error(`no grant with key ${key}`);
  return grantId;
}

describe('burn order', () => {
  it('priority, then expiry, then age', () => {
    const person = new Person(catalog);
    const grants = [
      { key: 'late', priority: 1, expiresAt: JUNE },
      { key: 'forever', priority: 1, expiresAt: null },
      { key: 'first', priority: 0, expiresAt: JULY },
      { key: 'soon-old', priority: 1, expiresAt: utc('2026-05-20T00:00:00Z') },
      { key: 'soon-new', priority: 1, expiresAt: utc('2026-05-20T00:00:00Z') },
    ];
    grants.forEach((row, index) => person.reply('grantCredits', grant({ ...row, meter: 'tokens', amount: 10 }), T + index));

    const order = spendableGrants(person.state, catalog, 'tokens', T + 10).map((entry) => entry.grantId);

    expect(order).toEqual(['first', 'soon-old', 'soon-new', 'late', 'forever'].map((key) => grantIdOf(person, key)));
  });

  it('partial burns across three grants', () => {
    const person = new Person(catalog);
    person.reply('grantCredits', grant({ key: 'g1', meter: 'tokens', amount: 30, priority: 0 }), T);
    person.reply('grantCredits', grant({ key: 'g2', meter: 'tokens', amount: 50, priority: 1 }), T);
    person.reply('grantCredits', grant({ key: 'g3', meter: 'tokens', amount: 100, priority: 2 }), T);
    const [g1, g2, g3] = ['g1', 'g2', 'g3'].map((key) => grantIdOf(person, key));
    // The allowance of 100 is spent first, without credits.
    const allowance = person.decide(track('tokens', 100, 't'), T + 1);

    const reserved = person.reply('reserve', reserve('tokens', 120, 'a'), T + 2);
    const committed = person.decide(commit(reserved.reservationId, 120), T + 3);

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
    const person = new Person(catalog);
    person.reply('grantCredits', grant({ key: 'g', meter: 'tokens', amount: 60 }), T);
    person.decide(track('tokens', 90, 't'), T);

    // 10 of the allowance are left, so 40 of the 50 are held against credit.
    const reserved = person.reply('reserve', reserve('tokens', 50, 'a'), T + 1);
    const committed = person.decide(commit(reserved.reservationId, 25), T + 2);

    expect(reserved).toMatchObject({ allowed: true, creditQuantity: 40 });
    expect(eventsOf(committed.events, 'CreditsBurned').map((burn) => burn.amount)).toEqual([15]);
    expect(committed.reply).toMatchObject({ quantity: 25, creditQuantity: 15 });
    expect(person.balances()).toEqual({ [grantIdOf(person, 'g')]: 45 });
    expect(person.counter('tokens', 'month', MAY, JUNE)).toEqual({ used: 100, reserved: 0 });
  });

  it('denies when credit does not cover the overage', () => {
    const person = new Person(catalog);
    person.reply('grantCredits', grant({ key: 'g', meter: 'tokens', amount: 40 }), T);
    person.decide(track('tokens', 100, 't'), T);
    person.hold('tokens', 30, 'a', T + 1);

    const denied = person.decide(reserve('tokens', 11, 'b'), T + 2);
    const fits = person.reply('reserve', reserve('tokens', 10, 'c'), T + 3);

    expect(denied.reply).toMatchObject({ allowed: false, remaining: 0, limit: 100, period: 'month' });
    expect(eventsOf(denied.events, 'QuotaDenied')).toMatchObject([{ limitId: 'tokens-month' }]);
    expect(fits).toMatchObject({ allowed: true, creditQuantity: 10 });
    expect(creditAvailable(person.state, catalog, 'tokens', T + 4)).toBe(0);
  });
});

describe('grant validity', () => {
  it('grant issued at a reset instant', () => {
    const person = new Person(catalog);
    person.decide(track('tokens', 100, 'may'), utc('2026-05-31T23:59:59.999Z'));

    // Issued at the first instant of June, expiring at the first instant of July.
    const granted = person.reply('grantCredits', grant({ key: 'june', meter: 'tokens', amount: 50, expiresAt: JULY }), JUNE);
    const reserved = person.reply('reserve', reserve('tokens', 120, 'a'), JUNE);
    person.reply('commit', commit(reserved.reservationId, 120), JUNE);
    const lastInstant = [30, 31].map((quantity) => person.reply('check', check('tokens', quantity), utc('2026-06-30T23:59:59.999Z')));
    const atExpiry = person.decide(check('tokens', 101), JULY);

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
    const person = new Person(catalog);
    person.reply('grantCredits', grant({ key: 'later', meter: 'tokens', amount: 50, effectiveAt: utc('2026-05-15T00:00:00Z') }), T);
    person.decide(track('tokens', 100, 't'), T);

    const before = person.reply('check', check('tokens', 10), utc('2026-05-14T23:59:59.999Z'));
    const from = person.reply('check', check('tokens', 10), utc('2026-05-15T00:00:00Z'));

    expect(before).toMatchObject({ allowed: false });
    expect(from).toMatchObject({ allowed: true, creditQuantity: 10 });
  });

  it('expired balance is written off once', () => {
    const person = new Person(catalog);
    const expiresAt = utc('2026-05-20T00:00:00Z');
    const granted = person.reply('grantCredits', grant({ key: 'g', meter: 'tokens', amount: 50, expiresAt }), T);
    person.decide(track('tokens', 110, 't'), T);

    const writeOff = person.decide(check('tokens', 1), utc('2026-05-21T09:00:00Z'));
    const later = person.decide(check('tokens', 1), utc('2026-05-22T09:00:00Z'));

    expect(writeOff.events).toMatchObject([{ type: 'CreditsExpired', grantId: granted.grantId, meter: 'tokens', amount: 40, expiredAt: expiresAt, at: utc('2026-05-21T09:00:00Z') }]);
    expect(later.events).toEqual([]);
    expect(person.balances()).toEqual({});
  });
});

describe('recurring grants', () => {
  const monthly = (rolloverCap: number, rolloverExpiresAfterMs: number | null) =>
    grant({ key: 'monthly', meter: 'tokens', amount: 100, recurrence: { period: 'month', rolloverCap, rolloverExpiresAfterMs } });

  it('renews once per period', () => {
    const person = new Person(catalog);
    const series = person.reply('grantCredits', monthly(0, null), T).grantId;

    const decisions = ['2026-05-11T00:00:00Z', '2026-05-31T23:59:59Z', '2026-06-01T00:00:00Z', '2026-06-02T00:00:00Z', '2026-06-30T00:00:00Z'].map((at) =>
      person.decide(check('tokens', 1), utc(at)),
    );

    const renewals = decisions.map((decision) => eventsOf(decision.events, 'CreditsGranted').map((event) => [event.grantId, event.effectiveAt, event.expiresAt]));
    expect(renewals).toEqual([[[`${series}@${MAY}`, T, JUNE]], [], [[`${series}@${JUNE}`, JUNE, JULY]], [], []]);
    expect(eventsOf(decisions[2]!.events, 'CreditsExpired')).toMatchObject([{ grantId: `${series}@${MAY}`, amount: 100, expiredAt: JUNE }]);
    expect(creditAvailable(person.state, catalog, 'tokens', utc('2026-06-30T00:00:00Z'))).toBe(100);
  });

  const rolloverTable: { name: string; cap: number; expiresAfterMs: number | null; rolled: number; rolloverExpiresAt: number; expired: number; balance: number }[] = [
    { name: 'cap below the balance', cap: 30, expiresAfterMs: null, rolled: 30, rolloverExpiresAt: JULY, expired: 30, balance: 130 },
    { name: 'cap above the balance', cap: 500, expiresAfterMs: null, rolled: 60, rolloverExpiresAt: JULY, expired: 0, balance: 160 },
    { name: 'rollover lasting a week', cap: 30, expiresAfterMs: 7 * 86_400_000, rolled: 30, rolloverExpiresAt: utc('2026-06-08T00:00:00Z'), expired: 30, balance: 130 },
    { name: 'rollover already over', cap: 30, expiresAfterMs: 86_400_000, rolled: 0, rolloverExpiresAt: 0, expired: 60, balance: 100 },
    { name: 'no rollover', cap: 0, expiresAfterMs: null, rolled: 0, rolloverExpiresAt: 0, expired: 60, balance: 100 },
  ];

  it.each(rolloverTable)('rollover: $name', ({ cap, expiresAfterMs, rolled, rolloverExpiresAt, expired, balance }) => {
    const person = new Person(catalog);
    const series = person.reply('grantCredits', monthly(cap, expiresAfterMs), T).grantId;
    person.decide(track('tokens', 100, 'allowance'), T + 1);
    person.decide(track('tokens', 40, 'credit'), T + 2);
    const may = `${series}@${MAY}`;

    const june3 = utc('2026-06-03T00:00:00Z');
    const settle = person.decide(check('tokens', 1), june3);

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
    const person = new Person(catalog);
    const series = person.reply('grantCredits', monthly(30, null), T).grantId;
    person.decide(track('tokens', 140, 'may'), T + 1);
    person.decide(track('tokens', 100, 'june-allowance'), utc('2026-06-03T00:00:00Z'));

    const burned = person.decide(track('tokens', 40, 'june-credit'), utc('2026-06-03T00:00:01Z'));
    const july = person.decide(check('tokens', 1), utc('2026-07-02T00:00:00Z'));

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
    const person = new Person(catalog);
    const series = person.reply('grantCredits', monthly(50, null), T).grantId;
    person.decide(check('tokens', 1), T + 1);

    // No decision in June: May's renewal is settled on July 5, when its rollover (June only) is already over.
    const july = person.decide(check('tokens', 1), utc('2026-07-05T00:00:00Z'));

    expect(july.events.map((event) => [event.type, 'grantId' in event ? event.grantId : '', 'amount' in event ? event.amount : 0])).toEqual([
      ['CreditsExpired', `${series}@${MAY}`, 100],
      ['CreditsGranted', `${series}@${JULY}`, 100],
    ]);
    expect(creditAvailable(person.state, catalog, 'tokens', utc('2026-07-05T00:00:00Z'))).toBe(100);
  });

  it('weekly renewal in New York', () => {
    const newYork = { ...catalog, timeZone: 'America/New_York' };
    const person = new Person(newYork);
    const weekly = grant({ key: 'weekly', meter: 'tokens', amount: 20, recurrence: { period: 'week', rolloverCap: 0, rolloverExpiresAfterMs: null } });
    const series = person.reply('grantCredits', weekly, utc('2026-10-28T12:00:00Z')).grantId;

    // Monday 26 October starts at 04:00 UTC (EDT), Monday 2 November at 05:00 UTC (EST).
    const october = person.decide(check('tokens', 1), utc('2026-11-02T04:59:59Z'));
    const november = person.decide(check('tokens', 1), utc('2026-11-02T05:00:00Z'));

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
    const person = new Person(catalog);
    const series = person.reply('grantCredits', monthly(0, null), JUNE).grantId;

    const first = person.decide(check('tokens', 1), JUNE);

    expect(eventsOf(first.events, 'CreditsGranted')).toMatchObject([{ grantId: `${series}@${JUNE}`, effectiveAt: JUNE, expiresAt: JULY, amount: 100 }]);
  });
});

describe('grant idempotency', () => {
  it('same key returns the same grant', () => {
    const person = new Person(catalog);
    const first = person.decide(grant({ key: 'promo', meter: 'tokens', amount: 50 }), T);
    const again = person.decide(grant({ key: 'promo', meter: 'tokens', amount: 50 }), T + 1000);
    const reused = person.decide(grant({ key: 'promo', meter: 'tokens', amount: 60 }), T + 2000);

    expect(first.events).toHaveLength(1);
    expect(again.events).toEqual([]);
    expect(again.reply).toEqual(first.reply);
    expect(first.reply).toMatchObject({ kind: 'grantCredits', balance: 50 });
    expect(reused.events).toEqual([]);
    expect(reused.error?.field).toBe('idempotencyKey');
    expect(creditAvailable(person.state, catalog, 'tokens', T + 3000)).toBe(50);
  });

  it('key still known after the grant is gone', () => {
    const person = new Person(catalog);
    const first = person.reply('grantCredits', grant({ key: 'promo', meter: 'tokens', amount: 5, expiresAt: utc('2026-05-11T00:00:00Z') }), T);
    person.decide(check('tokens', 1), utc('2026-05-12T00:00:00Z'));
    person.decide(check('tokens', 1), utc('2026-05-13T00:00:00Z'));

    const again = person.decide(grant({ key: 'promo', meter: 'tokens', amount: 5, expiresAt: utc('2026-05-11T00:00:00Z') }), utc('2026-05-14T00:00:00Z'));

    expect(person.balances()).toEqual({});
    expect(again.events).toEqual([]);
    expect(again.reply).toMatchObject({ grantId: first.grantId, balance: 0 });
  });
});

describe('currency grants', () => {
  it('USD credit pays a USD meter', () => {
    const person = new Person(catalog);
    const usd = person.reply('grantCredits', grant({ key: 'usd', meter: 'USD', amount: 10 }), T);
    person.reply('grantCredits', grant({ key: 'eur', meter: 'EUR', amount: 100 }), T);
    person.reply('grantCredits', grant({ key: 'tokens', meter: 'tokens', amount: 100 }), T);
    person.decide(track('llm_cost', 4, 't'), T + 1);

    const reserved = person.reply('reserve', reserve('llm_cost', 3, 'a'), T + 2);
    const committed = person.decide(commit(reserved.reservationId, 3), T + 3);

    expect(reserved).toMatchObject({ allowed: true, creditQuantity: 2, remaining: 0 });
    expect(eventsOf(committed.events, 'CreditsBurned').map((burn) => [burn.grantId, burn.meter, burn.amount])).toEqual([[usd.grantId, 'USD', 2]]);
    expect(committed.reply).toMatchObject({ quantity: 3, creditQuantity: 2 });
    expect(creditAvailable(person.state, catalog, 'llm_cost', T + 4)).toBe(8);
    expect(creditAvailable(person.state, catalog, 'tokens', T + 4)).toBe(100);
  });

  it('USD held for one meter is not free for another', () => {
    const person = new Person(catalog);
    person.reply('grantCredits', grant({ key: 'usd', meter: 'USD', amount: 10 }), T);
    person.decide(track('llm_cost', 5, 'llm'), T);
    person.decide(track('image_cost', 5, 'image'), T);

    const llm = person.reply('reserve', reserve('llm_cost', 8, 'a'), T + 1);
    const image = person.reply('reserve', reserve('image_cost', 8, 'b'), T + 2);
    const imageFits = person.reply('reserve', reserve('image_cost', 2, 'c'), T + 3);

    expect(llm).toMatchObject({ allowed: true, creditQuantity: 8 });
    expect(image).toMatchObject({ allowed: false });
    expect(imageFits).toMatchObject({ allowed: true, creditQuantity: 2 });
    expect(creditAvailable(person.state, catalog, 'llm_cost', T + 4)).toBe(0);
  });
});
