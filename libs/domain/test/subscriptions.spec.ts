import { describe, expect, it } from 'vitest';

import { eventsOf, utc } from './plan-harness';
import {
  downgradeBelowUsage,
  downgradeMidPeriod,
  newPlanVersion,
  nextPeriodSwitch,
  nextPeriodWithoutSubscription,
  repeatedWebhook,
  staleWebhook,
  statusTable,
  subscriptionStatus,
  unknownPlan,
  upgradeMidPeriod,
} from './scenarios';

const MAY_10 = utc('2026-05-10T00:00:00Z');
const JUNE_10 = utc('2026-06-10T00:00:00Z');
const JULY_10 = utc('2026-07-10T00:00:00Z');

describe('plan changes mid-period', () => {
  it('upgrade keeps usage and raises the limit', () => {
    const { person, beforeUpgrade, upgrade, afterUpgrade } = upgradeMidPeriod();

    expect(beforeUpgrade).toMatchObject({ allowed: false, remaining: 200, limit: 1000 });
    expect(upgrade.reply).toMatchObject({ outcome: 'applied', current: { planId: 'pro', status: 'active', startsAt: MAY_10 } });
    expect(eventsOf(upgrade.events, 'SubscriptionChanged')).toMatchObject([
      { from: { planId: 'basic', startsAt: MAY_10 }, to: { planId: 'pro', startsAt: MAY_10 }, effectiveAt: utc('2026-05-15T00:00:00Z'), externalId: 'e2' },
    ]);
    expect(afterUpgrade).toMatchObject({ allowed: true, remaining: 4200, limit: 10_000, period: 'billing', resetsAt: JUNE_10 });
    expect(eventsOf(person.events, 'QuotaReserved').at(-1)).toMatchObject({ planId: 'pro', windows: [{ period: 'billing', start: MAY_10, end: JUNE_10 }] });
  });

  it('downgrade keeps usage and lowers the limit', () => {
    const { statuses, tooMuch, rest } = downgradeMidPeriod();

    expect(statuses).toMatchObject([{ limit: { id: 'basic-billing' }, used: 800, reserved: 0, available: 200 }]);
    expect(tooMuch).toMatchObject({ allowed: false, remaining: 200, limit: 1000 });
    expect(rest).toMatchObject({ allowed: true, remaining: 0, limit: 1000 });
  });

  it('downgrade below the usage leaves nothing', () => {
    const { denied, nextPeriod } = downgradeBelowUsage();

    expect(denied).toMatchObject({ allowed: false, remaining: 0, limit: 1000 });
    expect(nextPeriod).toMatchObject({ allowed: true, remaining: 0, resetsAt: JULY_10 });
  });
});

describe('webhook delivery', () => {
  it('repeated webhook is a duplicate', () => {
    const { person, stateBefore, again } = repeatedWebhook();

    expect(again.events).toEqual([]);
    expect(again.reply).toMatchObject({ kind: 'upsertSubscription', applied: false, outcome: 'duplicate', current: { planId: 'basic' } });
    expect(person.state.subscription).toEqual(stateBefore);
  });

  it('older webhook after a newer one is stale', () => {
    const { person, newer, older, plan } = staleWebhook();

    expect(newer.reply).toMatchObject({ outcome: 'applied' });
    expect(older.events).toEqual([]);
    expect(older.reply).toMatchObject({ applied: false, outcome: 'stale', current: { planId: 'pro' } });
    expect(plan).toMatchObject({ limit: 10_000 });
    expect(person.state.subscription.occurredAt).toBe(200);
  });

  it('unknown plan names the field', () => {
    const { decision } = unknownPlan();

    expect(decision.events).toEqual([]);
    expect(decision.error).toMatchObject({ code: 'invalid_argument', field: 'planId' });
    expect(decision.error?.message).toContain('free, basic, pro');
  });
});

describe('next_period changes', () => {
  it('switch the plan at the billing boundary', () => {
    const { person, scheduled, lastInstant, boundary } = nextPeriodSwitch();

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
    const { decision } = nextPeriodWithoutSubscription();

    expect(decision.reply).toMatchObject({ outcome: 'applied', current: { planId: 'pro', startsAt: MAY_10 } });
  });
});

describe('subscription status', () => {
  it.each(statusTable)('$status uses $planId', (row) => {
    const { decision } = subscriptionStatus(row);

    expect(decision.events).toMatchObject([{ type: 'QuotaReserved', planId: row.planId, limit: row.limit }]);
  });
});

describe('plan versions', () => {
  it('a new version applies to later decisions', () => {
    const { person, first, second, third } = newPlanVersion();

    expect(first.events).toMatchObject([{ type: 'QuotaReserved', planId: 'pro', planVersion: 1, limit: 10_000, remaining: 6000 }]);
    expect(second.events).toMatchObject([{ type: 'QuotaReserved', planId: 'pro', planVersion: 2, limit: 5000, limitPeriod: 'minute', remaining: 1000 }]);
    expect(third.events).toMatchObject([{ type: 'QuotaDenied', planVersion: 2, limitId: 'pro-minute', remaining: 1000 }]);
    expect(person.counter('tokens', 'billing', MAY_10, JUNE_10)).toEqual({ used: 0, reserved: 8000 });
  });
});
