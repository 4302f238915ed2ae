import { describe, expect, it } from 'vitest';

import type { SubscriptionStatus } from '@vevee/contracts';

import { limitStatuses, planOf } from '../src';
import { Person, catalogOf, check, commit, eventsOf, limit, reserve, subscribe, track, utc } from './plan-harness';

const MAY_10 = utc('2026-05-10T00:00:00Z');
const JUNE_10 = utc('2026-06-10T00:00:00Z');
const JULY_10 = utc('2026-07-10T00:00:00Z');

/** Plans limit tokens per billing period, which is the calendar month for a person without a subscription. */
const catalog = catalogOf({
  defaultPlanId: 'free',
  plans: {
    free: [[limit('free-billing', 'tokens', 100, 'billing')]],
    basic: [[limit('basic-billing', 'tokens', 1000, 'billing')]],
    pro: [[limit('pro-billing', 'tokens', 10_000, 'billing')]],
  },
});

function subscribedToBasic(): Person {
  const person = new Person(catalog);
  person.reply('upsertSubscription', subscribe({ planId: 'basic', externalId: 'e1', occurredAt: 1, startsAt: MAY_10 }), MAY_10);
  return person;
}

describe('plan changes mid-period', () => {
  it('upgrade keeps usage and raises the limit', () => {
    const person = subscribedToBasic();
    person.decide(track('tokens', 800, 't'), utc('2026-05-12T00:00:00Z'));
    const beforeUpgrade = person.reply('check', check('tokens', 300), utc('2026-05-12T00:00:01Z'));

    const upgrade = person.decide(subscribe({ planId: 'pro', externalId: 'e2', occurredAt: 2 }), utc('2026-05-15T00:00:00Z'));
    const afterUpgrade = person.reply('reserve', reserve('tokens', 5000, 'a'), utc('2026-05-15T00:00:01Z'));

    expect(beforeUpgrade).toMatchObject({ allowed: false, remaining: 200, limit: 1000 });
    expect(upgrade.reply).toMatchObject({ outcome: 'applied', current: { planId: 'pro', status: 'active', startsAt: MAY_10 } });
    expect(eventsOf(upgrade.events, 'SubscriptionChanged')).toMatchObject([
      { from: { planId: 'basic', startsAt: MAY_10 }, to: { planId: 'pro', startsAt: MAY_10 }, effectiveAt: utc('2026-05-15T00:00:00Z'), externalId: 'e2' },
    ]);
    expect(afterUpgrade).toMatchObject({ allowed: true, remaining: 4200, limit: 10_000, period: 'billing', resetsAt: JUNE_10 });
    expect(eventsOf(person.events, 'QuotaReserved').at(-1)).toMatchObject({ planId: 'pro', windows: [{ period: 'billing', start: MAY_10, end: JUNE_10 }] });
  });

  it('downgrade keeps usage and lowers the limit', () => {
    const person = new Person(catalog);
    person.reply('upsertSubscription', subscribe({ planId: 'pro', externalId: 'e1', occurredAt: 1, startsAt: MAY_10 }), MAY_10);
    person.decide(track('tokens', 800, 't'), utc('2026-05-12T00:00:00Z'));

    person.reply('upsertSubscription', subscribe({ planId: 'basic', externalId: 'e2', occurredAt: 2 }), utc('2026-05-15T00:00:00Z'));
    const statuses = limitStatuses(person.state, catalog, planOf(person.state, catalog), 'tokens', utc('2026-05-15T00:00:01Z'));
    const tooMuch = person.reply('reserve', reserve('tokens', 201, 'a'), utc('2026-05-15T00:00:01Z'));
    const rest = person.reply('reserve', reserve('tokens', 200, 'b'), utc('2026-05-15T00:00:02Z'));

    expect(statuses).toMatchObject([{ limit: { id: 'basic-billing' }, used: 800, reserved: 0, available: 200 }]);
    expect(tooMuch).toMatchObject({ allowed: false, remaining: 200, limit: 1000 });
    expect(rest).toMatchObject({ allowed: true, remaining: 0, limit: 1000 });
  });

  it('downgrade below the usage leaves nothing', () => {
    const person = new Person(catalog);
    person.reply('upsertSubscription', subscribe({ planId: 'pro', externalId: 'e1', occurredAt: 1, startsAt: MAY_10 }), MAY_10);
    const reservationId = person.hold('tokens', 5000, 'a', utc('2026-05-12T00:00:00Z'));
    person.reply('commit', commit(reservationId, 5000), utc('2026-05-12T00:00:01Z'));

    person.reply('upsertSubscription', subscribe({ planId: 'basic', externalId: 'e2', occurredAt: 2 }), utc('2026-05-15T00:00:00Z'));
    const denied = person.reply('reserve', reserve('tokens', 1, 'b'), utc('2026-05-15T00:00:01Z'));
    const nextPeriod = person.reply('reserve', reserve('tokens', 1000, 'c'), JUNE_10);

    expect(denied).toMatchObject({ allowed: false, remaining: 0, limit: 1000 });
    expect(nextPeriod).toMatchObject({ allowed: true, remaining: 0, resetsAt: JULY_10 });
  });
});

describe('webhook delivery', () => {
  it('repeated webhook is a duplicate', () => {
    const person = subscribedToBasic();
    const stateBefore = structuredClone(person.state.subscription);

    const again = person.decide(subscribe({ planId: 'basic', externalId: 'e1', occurredAt: 1, startsAt: MAY_10 }), utc('2026-05-11T00:00:00Z'));

    expect(again.events).toEqual([]);
    expect(again.reply).toMatchObject({ kind: 'upsertSubscription', applied: false, outcome: 'duplicate', current: { planId: 'basic' } });
    expect(person.state.subscription).toEqual(stateBefore);
  });

  it('older webhook after a newer one is stale', () => {
    const person = new Person(catalog);
    const newer = person.decide(subscribe({ planId: 'pro', externalId: 'e2', occurredAt: 200, startsAt: MAY_10 }), MAY_10);

    const older = person.decide(subscribe({ planId: 'basic', externalId: 'e1', occurredAt: 100, startsAt: MAY_10 }), utc('2026-05-10T00:00:01Z'));
    const plan = person.reply('check', check('tokens', 1), utc('2026-05-10T00:00:02Z'));

    expect(newer.reply).toMatchObject({ outcome: 'applied' });
    expect(older.events).toEqual([]);
    expect(older.reply).toMatchObject({ applied: false, outcome: 'stale', current: { planId: 'pro' } });
    expect(plan).toMatchObject({ limit: 10_000 });
    expect(person.state.subscription.occurredAt).toBe(200);
  });

  it('unknown plan names the field', () => {
    const person = new Person(catalog);

    const decision = person.decide(subscribe({ planId: 'gold', externalId: 'e1', occurredAt: 1 }), MAY_10);

    expect(decision.events).toEqual([]);
    expect(decision.error).toMatchObject({ code: 'invalid_argument', field: 'planId' });
    expect(decision.error?.message).toContain('free, basic, pro');
  });
});

describe('next_period changes', () => {
  it('switch the plan at the billing boundary', () => {
    const person = subscribedToBasic();

    const scheduled = person.decide(subscribe({ planId: 'free', externalId: 'e2', occurredAt: 2, effective: 'next_period' }), utc('2026-05-20T00:00:00Z'));
    const lastInstant = person.decide(reserve('tokens', 1, 'a'), utc('2026-06-09T23:59:59.999Z'));
    const boundary = person.decide(reserve('tokens', 1, 'b'), JUNE_10);

    expect(scheduled.reply).toMatchObject({
      outcome: 'scheduled',
      applied: true,
      current: { planId: 'basic' },
      scheduled: { terms: { planId: 'free', status: 'active', startsAt: MAY_10 }, effectiveAt: JUNE_10 },
    });
    expect(eventsOf(scheduled.events, 'SubscriptionChanged')).toMatchObject([{ effectiveAt: JUNE_10, occurredAt: 2, from: { planId: 'basic' }, to: { planId: 'free' } }]);
    expect(lastInstant.events).toMatchObject([{ type: 'QuotaReserved', planId: 'basic', limit: 1000, resetsAt: JUNE_10 }]);
    expect(boundary.events).toMatchObject([{ type: 'QuotaReserved', planId: 'free', limit: 100, remaining: 99, resetsAt: JULY_10 }]);
    expect(person.state.subscription.current).toEqual({ planId: 'free', status: 'active', startsAt: MAY_10 });
    expect(person.state.subscription.scheduled).toBeNull();
  });

  it('without a subscription applies now', () => {
    const person = new Person(catalog);

    const decision = person.decide(subscribe({ planId: 'pro', externalId: 'e1', occurredAt: 1, effective: 'next_period' }), MAY_10);

    expect(decision.reply).toMatchObject({ outcome: 'applied', current: { planId: 'pro', startsAt: MAY_10 } });
  });
});

describe('subscription status', () => {
  const table: { status: SubscriptionStatus; limit: number; planId: string }[] = [
    { status: 'active', limit: 10_000, planId: 'pro' },
    { status: 'trialing', limit: 10_000, planId: 'pro' },
    { status: 'past_due', limit: 10_000, planId: 'pro' },
    { status: 'paused', limit: 100, planId: 'free' },
    { status: 'canceled', limit: 100, planId: 'free' },
  ];

  it.each(table)('$status uses $planId', ({ status, limit: amount, planId }) => {
    const person = new Person(catalog);
    person.reply('upsertSubscription', subscribe({ planId: 'pro', status, externalId: 'e1', occurredAt: 1, startsAt: MAY_10 }), MAY_10);

    const decision = person.decide(reserve('tokens', 1, 'a'), utc('2026-05-11T00:00:00Z'));

    expect(decision.events).toMatchObject([{ type: 'QuotaReserved', planId, limit: amount }]);
  });
});

describe('plan versions', () => {
  it('a new version applies to later decisions', () => {
    const person = new Person(catalog);
    person.reply('upsertSubscription', subscribe({ planId: 'pro', externalId: 'e1', occurredAt: 1, startsAt: MAY_10 }), MAY_10);
    const first = person.decide(reserve('tokens', 4000, 'a'), utc('2026-05-11T00:00:00Z'));

    person.catalog = catalogOf({
      version: 2,
      defaultPlanId: 'free',
      plans: {
        free: [[limit('free-billing', 'tokens', 100, 'billing')]],
        basic: [[limit('basic-billing', 'tokens', 1000, 'billing')]],
        pro: [[limit('pro-billing', 'tokens', 10_000, 'billing')], [limit('pro-billing', 'tokens', 20_000, 'billing'), limit('pro-minute', 'tokens', 5000, 'minute')]],
      },
    });
    const second = person.decide(reserve('tokens', 4000, 'b'), utc('2026-05-11T00:00:01Z'));
    const third = person.decide(reserve('tokens', 1001, 'c'), utc('2026-05-11T00:00:02Z'));

    expect(first.events).toMatchObject([{ type: 'QuotaReserved', planId: 'pro', planVersion: 1, limit: 10_000, remaining: 6000 }]);
    expect(second.events).toMatchObject([{ type: 'QuotaReserved', planId: 'pro', planVersion: 2, limit: 5000, limitPeriod: 'minute', remaining: 1000 }]);
    expect(third.events).toMatchObject([{ type: 'QuotaDenied', planVersion: 2, limitId: 'pro-minute', remaining: 1000 }]);
    expect(person.counter('tokens', 'billing', MAY_10, JUNE_10)).toEqual({ used: 0, reserved: 8000 });
  });
});
