import { reservationIdFor, type LedgerEvent, type SubscriptionStatus } from '@vevee/contracts';

import {
  catalogFromPlan,
  counterKey,
  decide,
  emptyPersonState,
  limitStatuses,
  planOf,
  windowFor,
  type DecisionContext,
  type PersonState,
  type QuotaCommand,
  type QuotaReply,
} from '../src';
import { Person, catalogOf, check, commit, grant, limit, meter, reserve, subscribe, track, utc } from './plan-harness';

/**
 * Scenarios of the table-driven domain tests. Each function runs one test's
 * decisions and returns what the test checks, and the spec files assert on
 * the results. The Postgres projector's integration test sends the events of
 * every scenario through the broker and compares PostgreSQL with the final states.
 */

/** A person of a scenario: the events its decisions emitted, in order, and its state after the last one. */
export interface ScenarioPerson {
  events: LedgerEvent[];
  state: PersonState;
}

export interface DomainScenario {
  name: string;
  run(): ScenarioPerson[];
}

/* Windows (windows.spec.ts) */

export function berlinDayReset() {
  const catalog = catalogOf({ timeZone: 'Europe/Berlin', plans: { free: [[limit('tokens-day', 'tokens', 10, 'day')]] } });
  const person = new Person(catalog);

  // 21:59 UTC on 29 March is 23:59 in Berlin (UTC+2), the last minute of a 23-hour day.
  const full = person.reply('reserve', reserve('tokens', 10, 'a'), utc('2026-03-29T21:59:00Z'));
  const denied = person.reply('reserve', reserve('tokens', 1, 'b'), utc('2026-03-29T21:59:59.999Z'));
  const nextDay = person.reply('reserve', reserve('tokens', 1, 'c'), utc('2026-03-29T22:00:00Z'));
  return { person, full, denied, nextDay };
}

export const anchoredResetTable: { at: string; quantity: number; allowed: boolean; remaining: number; period: string; resetsAt: string }[] = [
  { at: '2026-03-10T10:18:00Z', quantity: 10, allowed: true, remaining: 0, period: 'minute', resetsAt: '2026-03-10T10:18:23.500Z' },
  { at: '2026-03-10T10:18:23.499Z', quantity: 1, allowed: false, remaining: 0, period: 'minute', resetsAt: '2026-03-10T10:18:23.500Z' },
  { at: '2026-03-10T10:18:23.500Z', quantity: 10, allowed: true, remaining: 0, period: 'minute', resetsAt: '2026-03-10T10:19:23.500Z' },
  { at: '2026-03-10T10:19:23.500Z', quantity: 6, allowed: false, remaining: 5, period: 'day', resetsAt: '2026-03-11T10:17:23.500Z' },
  { at: '2026-03-11T10:17:23.499Z', quantity: 5, allowed: true, remaining: 0, period: 'day', resetsAt: '2026-03-11T10:17:23.500Z' },
  { at: '2026-03-11T10:17:23.500Z', quantity: 10, allowed: true, remaining: 0, period: 'minute', resetsAt: '2026-03-11T10:18:23.500Z' },
];

export function anchoredMinuteAndDay() {
  const catalog = catalogOf({
    plans: {
      free: [[limit('tokens-day', 'tokens', 1, 'day')]],
      pro: [[limit('tokens-minute', 'tokens', 10, 'minute', { window: 'anchored' }), limit('tokens-day', 'tokens', 25, 'day', { window: 'anchored' })]],
    },
  });
  const person = new Person(catalog);
  const anchor = utc('2026-03-10T10:17:23.500Z');
  person.reply('upsertSubscription', subscribe({ planId: 'pro', externalId: 'e1', occurredAt: 1, startsAt: anchor }), anchor);

  const replies = anchoredResetTable.map((row, index) => person.reply('reserve', reserve('tokens', row.quantity, `k${index}`, 86_400), utc(row.at)));
  return { person, replies };
}

export const billingResetTable: { at: string; quantity: number; allowed: boolean; remaining: number; resetsAt: string }[] = [
  { at: '2026-02-27T23:59:59Z', quantity: 100, allowed: true, remaining: 0, resetsAt: '2026-02-28T00:00:00Z' },
  { at: '2026-02-27T23:59:59.999Z', quantity: 1, allowed: false, remaining: 0, resetsAt: '2026-02-28T00:00:00Z' },
  { at: '2026-02-28T00:00:00Z', quantity: 60, allowed: true, remaining: 40, resetsAt: '2026-03-31T00:00:00Z' },
  { at: '2026-03-30T23:59:59Z', quantity: 41, allowed: false, remaining: 40, resetsAt: '2026-03-31T00:00:00Z' },
  { at: '2026-03-31T00:00:00Z', quantity: 41, allowed: true, remaining: 59, resetsAt: '2026-04-30T00:00:00Z' },
];

export function billingAnchoredOn31st() {
  const catalog = catalogOf({ plans: { free: [[limit('tokens-month', 'tokens', 5, 'month')]], pro: [[limit('tokens-billing', 'tokens', 100, 'billing')]] } });
  const person = new Person(catalog);
  person.reply('upsertSubscription', subscribe({ planId: 'pro', externalId: 'e1', occurredAt: 1, startsAt: utc('2026-01-31T00:00:00Z') }), utc('2026-01-31T00:00:00Z'));

  const replies = billingResetTable.map((row, index) => person.reply('reserve', reserve('tokens', row.quantity, `k${index}`, 90 * 86_400), utc(row.at)));
  return { person, replies };
}

/* Limits (limits.spec.ts) */

/** 20 requests a minute and 100,000 a month, both hard. */
export const rateCatalog = catalogOf({
  meters: [meter('requests')],
  plans: { free: [[limit('requests-minute', 'requests', 20, 'minute'), limit('requests-month', 'requests', 100_000, 'month')]] },
});

export function minuteLimitDeniesFirst() {
  const person = new Person(rateCatalog);
  const first = person.reply('reserve', reserve('requests', 15, 'a'), utc('2026-05-10T12:00:10Z'));
  const countersBefore = structuredClone([...person.state.counters]);

  const denied = person.decide(reserve('requests', 10, 'b'), utc('2026-05-10T12:00:20Z'));
  return { person, first, countersBefore, denied };
}

export function monthCounterUntouchedByDenial() {
  const person = new Person(rateCatalog);
  const reservationId = person.hold('requests', 20, 'a', utc('2026-05-10T12:00:05Z'));
  person.reply('commit', commit(reservationId, 20), utc('2026-05-10T12:00:06Z'));

  person.decide(reserve('requests', 1, 'b'), utc('2026-05-10T12:00:07Z'));
  return { person };
}

export function minuteResetsMonthCounts() {
  const person = new Person(rateCatalog);
  const reservationId = person.hold('requests', 20, 'a', utc('2026-05-10T12:00:05Z'));
  person.reply('commit', commit(reservationId, 20), utc('2026-05-10T12:00:06Z'));

  const nextMinute = person.reply('reserve', reserve('requests', 20, 'b'), utc('2026-05-10T12:01:00Z'));
  return { person, nextMinute };
}

export function monthLimitDenies() {
  const person = new Person(rateCatalog);
  // Tracked usage is never denied, so it can fill the month in one call.
  person.reply('track', track('requests', 99_990, 't'), utc('2026-05-09T08:00:00Z'));

  const denied = person.decide(reserve('requests', 15, 'a'), utc('2026-05-10T12:00:00Z'));
  const allowed = person.reply('reserve', reserve('requests', 10, 'b'), utc('2026-05-10T12:00:01Z'));
  return { person, denied, allowed };
}

export function checkWithoutHold() {
  const person = new Person(rateCatalog);
  person.hold('requests', 15, 'a', utc('2026-05-10T12:00:10Z'));

  const checked = person.decide(check('requests', 10), utc('2026-05-10T12:00:11Z'));
  return { person, checked };
}

export const softCatalog = catalogOf({
  plans: { free: [[limit('tokens-day-soft', 'tokens', 1000, 'day', { enforcement: 'soft' }), limit('tokens-month', 'tokens', 5000, 'month')]] },
});

export const softOverageTable: { quantity: number; softExceeded: string[]; remaining: number }[] = [
  { quantity: 800, softExceeded: [], remaining: 4200 },
  { quantity: 200, softExceeded: [], remaining: 4000 },
  { quantity: 1, softExceeded: ['tokens-day-soft'], remaining: 3999 },
  { quantity: 2000, softExceeded: ['tokens-day-soft'], remaining: 1999 },
];

export function softOverage() {
  const person = new Person(softCatalog);
  const decisions = softOverageTable.map((row, index) => person.decide(reserve('tokens', row.quantity, `k${index}`), utc('2026-05-10T12:00:00Z') + index));
  return { person, decisions };
}

export function hardPastSoft() {
  const person = new Person(softCatalog);
  person.reply('track', track('tokens', 4990, 't'), utc('2026-05-10T12:00:00Z'));

  const denied = person.reply('reserve', reserve('tokens', 20, 'a'), utc('2026-05-10T12:00:01Z'));
  return { person, denied };
}

export function softOnlyPlan() {
  const softOnly = catalogOf({ plans: { free: [[limit('tokens-day-soft', 'tokens', 100, 'day', { enforcement: 'soft' })]] } });
  const person = new Person(softOnly);

  const over = person.reply('reserve', reserve('tokens', 150, 'a'), utc('2026-05-10T12:00:00Z'));
  return { person, over };
}

export function softSharesCounter() {
  const shared = catalogOf({
    plans: { free: [[limit('tokens-month-soft', 'tokens', 800, 'month', { enforcement: 'soft' }), limit('tokens-month', 'tokens', 1000, 'month')]] },
  });
  const person = new Person(shared);

  const first = person.reply('reserve', reserve('tokens', 900, 'a'), utc('2026-05-10T12:00:00Z'));
  return { person, first };
}

export interface CommitAboveRow {
  name: string;
  overage: ('record' | 'cap')[];
  quantity: number;
  counted: number;
  overageAmount: number;
  capped: boolean;
  requested: number | undefined;
}

export const commitAboveTable: CommitAboveRow[] = [
  { name: 'record counts it all', overage: ['record', 'record'], quantity: 130, counted: 130, overageAmount: 30, capped: false, requested: undefined },
  { name: 'cap counts the hold', overage: ['cap', 'cap'], quantity: 130, counted: 100, overageAmount: 0, capped: true, requested: 130 },
  { name: 'one cap limit caps', overage: ['record', 'cap'], quantity: 130, counted: 100, overageAmount: 0, capped: true, requested: 130 },
  { name: 'cap below the hold', overage: ['cap', 'cap'], quantity: 60, counted: 60, overageAmount: 0, capped: false, requested: undefined },
  { name: 'record below the hold', overage: ['record', 'record'], quantity: 60, counted: 60, overageAmount: 0, capped: false, requested: undefined },
];

export function commitAbove({ overage, quantity }: CommitAboveRow) {
  const catalog = catalogOf({
    plans: { free: [[limit('tokens-day', 'tokens', 500, 'day', { overage: overage[0] }), limit('tokens-month', 'tokens', 1000, 'month', { overage: overage[1] })]] },
  });
  const person = new Person(catalog);
  const reservationId = person.hold('tokens', 100, 'a', utc('2026-05-10T12:00:00Z'));

  const decision = person.decide(commit(reservationId, quantity), utc('2026-05-10T12:00:05Z'));
  return { person, decision };
}

export function recordedOverage() {
  const catalog = catalogOf({ plans: { free: [[limit('tokens-month', 'tokens', 100, 'month')]] } });
  const person = new Person(catalog);
  const reservationId = person.hold('tokens', 90, 'a', utc('2026-05-10T12:00:00Z'));
  person.reply('commit', commit(reservationId, 130), utc('2026-05-10T12:00:01Z'));

  const [status] = limitStatuses(person.state, catalog, planOf(person.state, catalog), 'tokens', utc('2026-05-10T12:00:02Z'));
  const denied = person.reply('reserve', reserve('tokens', 1, 'b'), utc('2026-05-10T12:00:02Z'));
  return { person, status, denied };
}

/* Credits (credits.spec.ts) */

const T = utc('2026-05-10T12:00:00Z');
const JUNE = utc('2026-06-01T00:00:00Z');
const JULY = utc('2026-07-01T00:00:00Z');

/** 100 tokens a month, and credits pay for more. */
export const creditCatalog = catalogOf({
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

export function grantIdOf(person: Person, key: string): string {
  const grantId = person.state.grantKeys.get(key);
  if (grantId === undefined) throw new Error(`no grant with key ${key}`);
  return grantId;
}

export function burnOrderGrants() {
  const person = new Person(creditCatalog);
  const grants = [
    { key: 'late', priority: 1, expiresAt: JUNE },
    { key: 'forever', priority: 1, expiresAt: null },
    { key: 'first', priority: 0, expiresAt: JULY },
    { key: 'soon-old', priority: 1, expiresAt: utc('2026-05-20T00:00:00Z') },
    { key: 'soon-new', priority: 1, expiresAt: utc('2026-05-20T00:00:00Z') },
  ];
  grants.forEach((row, index) => person.reply('grantCredits', grant({ ...row, meter: 'tokens', amount: 10 }), T + index));
  return { person };
}

export function partialBurns() {
  const person = new Person(creditCatalog);
  person.reply('grantCredits', grant({ key: 'g1', meter: 'tokens', amount: 30, priority: 0 }), T);
  person.reply('grantCredits', grant({ key: 'g2', meter: 'tokens', amount: 50, priority: 1 }), T);
  person.reply('grantCredits', grant({ key: 'g3', meter: 'tokens', amount: 100, priority: 2 }), T);
  // The allowance of 100 is spent first, without credits.
  const allowance = person.decide(track('tokens', 100, 't'), T + 1);

  const reserved = person.reply('reserve', reserve('tokens', 120, 'a'), T + 2);
  const committed = person.decide(commit(reserved.reservationId, 120), T + 3);
  return { person, allowance, reserved, committed };
}

export function commitBelowHold() {
  const person = new Person(creditCatalog);
  person.reply('grantCredits', grant({ key: 'g', meter: 'tokens', amount: 60 }), T);
  person.decide(track('tokens', 90, 't'), T);

  // 10 of the allowance are left, so 40 of the 50 are held against credit.
  const reserved = person.reply('reserve', reserve('tokens', 50, 'a'), T + 1);
  const committed = person.decide(commit(reserved.reservationId, 25), T + 2);
  return { person, reserved, committed };
}

export function creditShortOfOverage() {
  const person = new Person(creditCatalog);
  person.reply('grantCredits', grant({ key: 'g', meter: 'tokens', amount: 40 }), T);
  person.decide(track('tokens', 100, 't'), T);
  person.hold('tokens', 30, 'a', T + 1);

  const denied = person.decide(reserve('tokens', 11, 'b'), T + 2);
  const fits = person.reply('reserve', reserve('tokens', 10, 'c'), T + 3);
  return { person, denied, fits };
}

export function grantAtResetInstant() {
  const person = new Person(creditCatalog);
  person.decide(track('tokens', 100, 'may'), utc('2026-05-31T23:59:59.999Z'));

  // Issued at the first instant of June, expiring at the first instant of July.
  const granted = person.reply('grantCredits', grant({ key: 'june', meter: 'tokens', amount: 50, expiresAt: JULY }), JUNE);
  const reserved = person.reply('reserve', reserve('tokens', 120, 'a'), JUNE);
  person.reply('commit', commit(reserved.reservationId, 120), JUNE);
  const lastInstant = [30, 31].map((quantity) => person.reply('check', check('tokens', quantity), utc('2026-06-30T23:59:59.999Z')));
  const atExpiry = person.decide(check('tokens', 101), JULY);
  return { person, granted, reserved, lastInstant, atExpiry };
}

export function grantEffectiveLater() {
  const person = new Person(creditCatalog);
  person.reply('grantCredits', grant({ key: 'later', meter: 'tokens', amount: 50, effectiveAt: utc('2026-05-15T00:00:00Z') }), T);
  person.decide(track('tokens', 100, 't'), T);

  const before = person.reply('check', check('tokens', 10), utc('2026-05-14T23:59:59.999Z'));
  const from = person.reply('check', check('tokens', 10), utc('2026-05-15T00:00:00Z'));
  return { person, before, from };
}

export function expiredWrittenOffOnce() {
  const person = new Person(creditCatalog);
  const expiresAt = utc('2026-05-20T00:00:00Z');
  const granted = person.reply('grantCredits', grant({ key: 'g', meter: 'tokens', amount: 50, expiresAt }), T);
  person.decide(track('tokens', 110, 't'), T);

  const writeOff = person.decide(check('tokens', 1), utc('2026-05-21T09:00:00Z'));
  const later = person.decide(check('tokens', 1), utc('2026-05-22T09:00:00Z'));
  return { person, expiresAt, granted, writeOff, later };
}

function monthly(rolloverCap: number, rolloverExpiresAfterMs: number | null): QuotaCommand {
  return grant({ key: 'monthly', meter: 'tokens', amount: 100, recurrence: { period: 'month', rolloverCap, rolloverExpiresAfterMs } });
}

export function renewsOncePerPeriod() {
  const person = new Person(creditCatalog);
  const series = person.reply('grantCredits', monthly(0, null), T).grantId;

  const decisions = ['2026-05-11T00:00:00Z', '2026-05-31T23:59:59Z', '2026-06-01T00:00:00Z', '2026-06-02T00:00:00Z', '2026-06-30T00:00:00Z'].map((at) =>
    person.decide(check('tokens', 1), utc(at)),
  );
  return { person, series, decisions };
}

export interface RolloverRow {
  name: string;
  cap: number;
  expiresAfterMs: number | null;
  rolled: number;
  rolloverExpiresAt: number;
  expired: number;
  balance: number;
}

export const rolloverTable: RolloverRow[] = [
  { name: 'cap below the balance', cap: 30, expiresAfterMs: null, rolled: 30, rolloverExpiresAt: JULY, expired: 30, balance: 130 },
  { name: 'cap above the balance', cap: 500, expiresAfterMs: null, rolled: 60, rolloverExpiresAt: JULY, expired: 0, balance: 160 },
  { name: 'rollover lasting a week', cap: 30, expiresAfterMs: 7 * 86_400_000, rolled: 30, rolloverExpiresAt: utc('2026-06-08T00:00:00Z'), expired: 30, balance: 130 },
  { name: 'rollover already over', cap: 30, expiresAfterMs: 86_400_000, rolled: 0, rolloverExpiresAt: 0, expired: 60, balance: 100 },
  { name: 'no rollover', cap: 0, expiresAfterMs: null, rolled: 0, rolloverExpiresAt: 0, expired: 60, balance: 100 },
];

export function rollover({ cap, expiresAfterMs }: RolloverRow) {
  const person = new Person(creditCatalog);
  const series = person.reply('grantCredits', monthly(cap, expiresAfterMs), T).grantId;
  person.decide(track('tokens', 100, 'allowance'), T + 1);
  person.decide(track('tokens', 40, 'credit'), T + 2);

  const june3 = utc('2026-06-03T00:00:00Z');
  const settle = person.decide(check('tokens', 1), june3);
  return { person, series, june3, settle };
}

export function rolloverBurnsFirst() {
  const person = new Person(creditCatalog);
  const series = person.reply('grantCredits', monthly(30, null), T).grantId;
  person.decide(track('tokens', 140, 'may'), T + 1);
  person.decide(track('tokens', 100, 'june-allowance'), utc('2026-06-03T00:00:00Z'));

  const burned = person.decide(track('tokens', 40, 'june-credit'), utc('2026-06-03T00:00:01Z'));
  const july = person.decide(check('tokens', 1), utc('2026-07-02T00:00:00Z'));
  return { person, series, burned, july };
}

export function rolloverAfterQuietMonth() {
  const person = new Person(creditCatalog);
  const series = person.reply('grantCredits', monthly(50, null), T).grantId;
  person.decide(check('tokens', 1), T + 1);

  // No decision in June: May's renewal is settled on July 5, when its rollover (June only) is already over.
  const july = person.decide(check('tokens', 1), utc('2026-07-05T00:00:00Z'));
  return { person, series, july };
}

export function weeklyRenewalNewYork() {
  const newYork = { ...creditCatalog, timeZone: 'America/New_York' };
  const person = new Person(newYork);
  const weekly = grant({ key: 'weekly', meter: 'tokens', amount: 20, recurrence: { period: 'week', rolloverCap: 0, rolloverExpiresAfterMs: null } });
  const series = person.reply('grantCredits', weekly, utc('2026-10-28T12:00:00Z')).grantId;

  // Monday 26 October starts at 04:00 UTC (EDT), Monday 2 November at 05:00 UTC (EST).
  const october = person.decide(check('tokens', 1), utc('2026-11-02T04:59:59Z'));
  const november = person.decide(check('tokens', 1), utc('2026-11-02T05:00:00Z'));
  return { person, series, october, november };
}

export function recurringAtResetInstant() {
  const person = new Person(creditCatalog);
  const series = person.reply('grantCredits', monthly(0, null), JUNE).grantId;

  const first = person.decide(check('tokens', 1), JUNE);
  return { person, series, first };
}

export function sameGrantKey() {
  const person = new Person(creditCatalog);
  const first = person.decide(grant({ key: 'promo', meter: 'tokens', amount: 50 }), T);
  const again = person.decide(grant({ key: 'promo', meter: 'tokens', amount: 50 }), T + 1000);
  const reused = person.decide(grant({ key: 'promo', meter: 'tokens', amount: 60 }), T + 2000);
  return { person, first, again, reused };
}

export function grantKeyOutlivesGrant() {
  const person = new Person(creditCatalog);
  const first = person.reply('grantCredits', grant({ key: 'promo', meter: 'tokens', amount: 5, expiresAt: utc('2026-05-11T00:00:00Z') }), T);
  person.decide(check('tokens', 1), utc('2026-05-12T00:00:00Z'));
  person.decide(check('tokens', 1), utc('2026-05-13T00:00:00Z'));

  const again = person.decide(grant({ key: 'promo', meter: 'tokens', amount: 5, expiresAt: utc('2026-05-11T00:00:00Z') }), utc('2026-05-14T00:00:00Z'));
  return { person, first, again };
}

export function usdPaysUsdMeter() {
  const person = new Person(creditCatalog);
  const usd = person.reply('grantCredits', grant({ key: 'usd', meter: 'USD', amount: 10 }), T);
  // No meter is priced in EUR, so EUR credit could never be spent.
  const eur = person.decide(grant({ key: 'eur', meter: 'EUR', amount: 100 }), T);
  person.reply('grantCredits', grant({ key: 'tokens', meter: 'tokens', amount: 100 }), T);
  person.decide(track('llm_cost', 4, 't'), T + 1);

  const reserved = person.reply('reserve', reserve('llm_cost', 3, 'a'), T + 2);
  const committed = person.decide(commit(reserved.reservationId, 3), T + 3);
  return { person, usd, eur, reserved, committed };
}

export function usdHeldForOneMeter() {
  const person = new Person(creditCatalog);
  person.reply('grantCredits', grant({ key: 'usd', meter: 'USD', amount: 10 }), T);
  person.decide(track('llm_cost', 5, 'llm'), T);
  person.decide(track('image_cost', 5, 'image'), T);

  const llm = person.reply('reserve', reserve('llm_cost', 8, 'a'), T + 1);
  const image = person.reply('reserve', reserve('image_cost', 8, 'b'), T + 2);
  const imageFits = person.reply('reserve', reserve('image_cost', 2, 'c'), T + 3);
  return { person, llm, image, imageFits };
}

/* Subscriptions (subscriptions.spec.ts) */

const MAY_10 = utc('2026-05-10T00:00:00Z');
const JUNE_10 = utc('2026-06-10T00:00:00Z');

/** Plans limit tokens per billing period, which is the calendar month for a person without a subscription. */
export const subscriptionCatalog = catalogOf({
  defaultPlanId: 'free',
  plans: {
    free: [[limit('free-billing', 'tokens', 100, 'billing')]],
    basic: [[limit('basic-billing', 'tokens', 1000, 'billing')]],
    pro: [[limit('pro-billing', 'tokens', 10_000, 'billing')]],
  },
});

function subscribedToBasic(): Person {
  const person = new Person(subscriptionCatalog);
  person.reply('upsertSubscription', subscribe({ planId: 'basic', externalId: 'e1', occurredAt: 1, startsAt: MAY_10 }), MAY_10);
  return person;
}

export function upgradeMidPeriod() {
  const person = subscribedToBasic();
  person.decide(track('tokens', 800, 't'), utc('2026-05-12T00:00:00Z'));
  const beforeUpgrade = person.reply('check', check('tokens', 300), utc('2026-05-12T00:00:01Z'));

  const upgrade = person.decide(subscribe({ planId: 'pro', externalId: 'e2', occurredAt: 2 }), utc('2026-05-15T00:00:00Z'));
  const afterUpgrade = person.reply('reserve', reserve('tokens', 5000, 'a'), utc('2026-05-15T00:00:01Z'));
  return { person, beforeUpgrade, upgrade, afterUpgrade };
}

export function downgradeMidPeriod() {
  const person = new Person(subscriptionCatalog);
  person.reply('upsertSubscription', subscribe({ planId: 'pro', externalId: 'e1', occurredAt: 1, startsAt: MAY_10 }), MAY_10);
  person.decide(track('tokens', 800, 't'), utc('2026-05-12T00:00:00Z'));

  person.reply('upsertSubscription', subscribe({ planId: 'basic', externalId: 'e2', occurredAt: 2 }), utc('2026-05-15T00:00:00Z'));
  const statuses = limitStatuses(person.state, subscriptionCatalog, planOf(person.state, subscriptionCatalog), 'tokens', utc('2026-05-15T00:00:01Z'));
  const tooMuch = person.reply('reserve', reserve('tokens', 201, 'a'), utc('2026-05-15T00:00:01Z'));
  const rest = person.reply('reserve', reserve('tokens', 200, 'b'), utc('2026-05-15T00:00:02Z'));
  return { person, statuses, tooMuch, rest };
}

export function downgradeBelowUsage() {
  const person = new Person(subscriptionCatalog);
  person.reply('upsertSubscription', subscribe({ planId: 'pro', externalId: 'e1', occurredAt: 1, startsAt: MAY_10 }), MAY_10);
  const reservationId = person.hold('tokens', 5000, 'a', utc('2026-05-12T00:00:00Z'));
  person.reply('commit', commit(reservationId, 5000), utc('2026-05-12T00:00:01Z'));

  person.reply('upsertSubscription', subscribe({ planId: 'basic', externalId: 'e2', occurredAt: 2 }), utc('2026-05-15T00:00:00Z'));
  const denied = person.reply('reserve', reserve('tokens', 1, 'b'), utc('2026-05-15T00:00:01Z'));
  const nextPeriod = person.reply('reserve', reserve('tokens', 1000, 'c'), JUNE_10);
  return { person, denied, nextPeriod };
}

export function repeatedWebhook() {
  const person = subscribedToBasic();
  const stateBefore = structuredClone(person.state.subscription);

  const again = person.decide(subscribe({ planId: 'basic', externalId: 'e1', occurredAt: 1, startsAt: MAY_10 }), utc('2026-05-11T00:00:00Z'));
  return { person, stateBefore, again };
}

export function staleWebhook() {
  const person = new Person(subscriptionCatalog);
  const newer = person.decide(subscribe({ planId: 'pro', externalId: 'e2', occurredAt: 200, startsAt: MAY_10 }), MAY_10);

  const older = person.decide(subscribe({ planId: 'basic', externalId: 'e1', occurredAt: 100, startsAt: MAY_10 }), utc('2026-05-10T00:00:01Z'));
  const plan = person.reply('check', check('tokens', 1), utc('2026-05-10T00:00:02Z'));
  return { person, newer, older, plan };
}

export function unknownPlan() {
  const person = new Person(subscriptionCatalog);

  const decision = person.decide(subscribe({ planId: 'gold', externalId: 'e1', occurredAt: 1 }), MAY_10);
  return { person, decision };
}

export function nextPeriodSwitch() {
  const person = subscribedToBasic();

  const scheduled = person.decide(subscribe({ planId: 'free', externalId: 'e2', occurredAt: 2, effective: 'next_period' }), utc('2026-05-20T00:00:00Z'));
  const lastInstant = person.decide(reserve('tokens', 1, 'a'), utc('2026-06-09T23:59:59.999Z'));
  const boundary = person.decide(reserve('tokens', 1, 'b'), JUNE_10);
  return { person, scheduled, lastInstant, boundary };
}

export function nextPeriodWithoutSubscription() {
  const person = new Person(subscriptionCatalog);

  const decision = person.decide(subscribe({ planId: 'pro', externalId: 'e1', occurredAt: 1, effective: 'next_period' }), MAY_10);
  return { person, decision };
}

export const statusTable: { status: SubscriptionStatus; limit: number; planId: string }[] = [
  { status: 'active', limit: 10_000, planId: 'pro' },
  { status: 'trialing', limit: 10_000, planId: 'pro' },
  { status: 'past_due', limit: 10_000, planId: 'pro' },
  { status: 'paused', limit: 100, planId: 'free' },
  { status: 'canceled', limit: 100, planId: 'free' },
];

export function subscriptionStatus({ status }: { status: SubscriptionStatus }) {
  const person = new Person(subscriptionCatalog);
  person.reply('upsertSubscription', subscribe({ planId: 'pro', status, externalId: 'e1', occurredAt: 1, startsAt: MAY_10 }), MAY_10);

  const decision = person.decide(reserve('tokens', 1, 'a'), utc('2026-05-11T00:00:00Z'));
  return { person, decision };
}

export function newPlanVersion() {
  const person = new Person(subscriptionCatalog);
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
  return { person, first, second, third };
}

/* Replay (replay.spec.ts) */

export const replayCatalog = catalogOf({
  defaultPlanId: 'free',
  meters: [meter('tokens'), meter('llm_cost', 'USD')],
  plans: {
    free: [[limit('free-month', 'tokens', 100, 'month', { credits: true }), limit('free-llm', 'llm_cost', 1, 'month', { credits: true })]],
    basic: [
      [
        limit('basic-billing', 'tokens', 1000, 'billing', { credits: true }),
        limit('basic-minute', 'tokens', 400, 'minute', { window: 'anchored' }),
        limit('basic-day-soft', 'tokens', 500, 'day', { enforcement: 'soft' }),
        limit('basic-llm', 'llm_cost', 2, 'billing', { credits: true }),
      ],
    ],
    pro: [[limit('pro-billing', 'tokens', 10_000, 'billing', { credits: true }), limit('pro-llm', 'llm_cost', 20, 'billing', { credits: true })]],
  },
});

export type Step = [at: string, command: QuotaCommand | ((person: Person) => QuotaCommand)];

function lastReservation(person: Person): string {
  const reserved = person.events.filter((event) => event.type === 'QuotaReserved').at(-1);
  if (reserved?.type !== 'QuotaReserved') throw new Error('no reservation yet');
  return reserved.reservationId;
}

/** A month of a person's life: a subscription, grants of each kind, holds, commits and a scheduled change. */
export const monthBefore: Step[] = [
  ['2026-05-10T00:00:00Z', subscribe({ planId: 'basic', externalId: 'e1', occurredAt: 1, startsAt: MAY_10 })],
  ['2026-05-10T00:00:01Z', grant({ key: 'promo', meter: 'tokens', amount: 1000, priority: 0, expiresAt: utc('2026-06-20T00:00:00Z') })],
  ['2026-05-10T00:00:02Z', grant({ key: 'monthly', meter: 'tokens', amount: 100, priority: 1, recurrence: { period: 'month', rolloverCap: 50, rolloverExpiresAfterMs: null } })],
  ['2026-05-10T00:00:03Z', grant({ key: 'usd', meter: 'USD', amount: 10 })],
  ['2026-05-12T00:00:00Z', track('tokens', 300, 't1')],
  ['2026-05-12T00:05:00Z', track('tokens', 300, 't2')],
  ['2026-05-13T00:00:00Z', track('tokens', 300, 't3')],
  ['2026-05-13T00:01:00Z', reserve('tokens', 300, 'r1')],
  ['2026-05-13T00:01:01Z', (person) => commit(lastReservation(person), 250)],
  ['2026-05-13T00:02:00Z', track('llm_cost', 3.5, 'llm1')],
  ['2026-05-14T00:00:00Z', reserve('tokens', 50, 'open', 7 * 86_400)],
  ['2026-05-20T00:00:00Z', subscribe({ planId: 'pro', externalId: 'e2', occurredAt: 2, effective: 'next_period' })],
];

/** What follows: the plan switch, a renewal with a rollover, and the promo's expiry. */
export const monthAfter: Step[] = [
  ['2026-05-20T00:00:01Z', check('tokens', 400)],
  ['2026-05-20T00:00:02Z', reserve('tokens', 400, 'r2')],
  ['2026-05-20T00:00:03Z', (person) => commit(lastReservation(person), 450)],
  ['2026-06-02T00:00:00Z', track('tokens', 60, 't4')],
  ['2026-06-10T00:00:00Z', reserve('tokens', 10_200, 'r3')],
  ['2026-06-10T00:00:01Z', (person) => commit(lastReservation(person), 10_200)],
  ['2026-06-21T00:00:00Z', check('tokens', 1)],
  ['2026-07-01T00:00:00Z', track('llm_cost', 21, 'llm2')],
];

export function runStep(person: Person, [at, command]: Step) {
  return person.decide(typeof command === 'function' ? command(person) : command, utc(at));
}

/** Runs a month and what follows for one person. */
export function monthOfLife() {
  const person = new Person(replayCatalog);
  for (const step of [...monthBefore, ...monthAfter]) runStep(person, step);
  return { person };
}

/* Merge (merge.spec.ts) */

export const mergeCatalog = catalogFromPlan({ workspaceId: 'ws', timeZone: 'UTC', version: 1, meters: { tokens: { day: 100, month: 1_000 } } });
export const MERGE_T0 = Date.UTC(2026, 11, 4, 10, 0, 0);
export const MERGE_DAY = windowFor('day', MERGE_T0, 'UTC');
export const MERGE_MONTH = windowFor('month', MERGE_T0, 'UTC');

let mergeSequence = 0;
function mergeContextAt(now: number): DecisionContext {
  return {
    now,
    catalog: mergeCatalog,
    newEventId: () => `evt-${mergeSequence++}`,
    newReservationId: (personId) => reservationIdFor(personId, `r${mergeSequence++}`),
  };
}

export interface MergePerson extends ScenarioPerson {
  id: string;
}

export function mergePerson(id: string): MergePerson {
  return { id, state: emptyPersonState(), events: [] };
}

export type MergeCommand = QuotaCommand extends infer C ? (C extends QuotaCommand ? Omit<C, 'workspaceId' | 'personId'> : never) : never;

export function runMerge(target: MergePerson, command: MergeCommand, at = MERGE_T0): QuotaReply {
  const decision = decide(target.state, { ...command, workspaceId: 'ws', personId: target.id } as QuotaCommand, mergeContextAt(at));
  target.events.push(...decision.events);
  if (decision.error !== undefined) throw decision.error;
  return decision.reply!;
}

export function usedTokens(target: MergePerson, window = MERGE_DAY): number {
  return target.state.counters.get(counterKey('tokens', window))?.used ?? 0;
}

export function trackTokens(target: MergePerson, quantity: number, key: string): void {
  runMerge(target, { kind: 'track', eventType: 'chat', meter: 'tokens', quantity, cost: 0, currency: '', metadata: {}, idempotencyKey: key });
}

/** Returns the error a step throws, so a scenario can go on and a test can check it. */
function thrownBy(step: () => unknown): unknown {
  try {
    step();
  } catch (error) {
    return error;
  }
  return undefined;
}

export function mergeMovesUsage() {
  const anonymous = mergePerson('anon-1');
  const known = mergePerson('user-1');
  trackTokens(anonymous, 30, 'a1');
  const hold = runMerge(anonymous, { kind: 'reserve', meter: 'tokens', quantity: 10, idempotencyKey: 'a2', ttlSeconds: 60 });
  trackTokens(known, 50, 'k1');

  const merge = runMerge(anonymous, { kind: 'mergeInto', targetPersonId: known.id });
  if (merge.kind !== 'mergeInto') throw new Error('expected a merge reply');
  const anonymousUsedAfterMerge = usedTokens(anonymous);

  const input = { kind: 'transferIn' as const, transferId: merge.transfer.transferId, sourcePersonId: anonymous.id, transfers: merge.transfer.transfers };
  const transferred = runMerge(known, input);
  const transferredAgain = runMerge(known, input);
  const knownUsedAfterTransfer = { day: usedTokens(known), month: usedTokens(known, MERGE_MONTH) };

  // The same merge again returns the first transfer and appends nothing.
  const eventsBefore = anonymous.events.length;
  const mergeAgain = runMerge(anonymous, { kind: 'mergeInto', targetPersonId: known.id });
  const eventsAfterMergeAgain = anonymous.events.length;

  const reserveAfterMerge = thrownBy(() => runMerge(anonymous, { kind: 'reserve', meter: 'tokens', quantity: 1, idempotencyKey: 'a3', ttlSeconds: 60 }));
  const mergeElsewhere = thrownBy(() => runMerge(anonymous, { kind: 'mergeInto', targetPersonId: 'someone-else' }));

  // A hold taken before the merge is committed on the anonymous person, and its usage moves on.
  if (hold.kind !== 'reserve') throw new Error('expected a reserve reply');
  const commitQuota = { kind: 'commit' as const, reservationId: hold.reservationId, quantity: 8, cost: 0, currency: '', metadata: {}, idempotencyKey: 'c1' };
  const committed = runMerge(anonymous, commitQuota);
  if (committed.kind !== 'commit' || committed.transfer === undefined) throw new Error('expected a commit with a transfer');
  const anonymousUsedAfterCommit = usedTokens(anonymous);
  runMerge(known, { kind: 'transferIn', transferId: committed.transfer.transferId, sourcePersonId: anonymous.id, transfers: committed.transfer.transfers });
  const knownUsedAfterCommit = usedTokens(known);

  // A repeated commit returns the same transfer, so a caller that failed to deliver it can again.
  const repeated = runMerge(anonymous, commitQuota);
  return {
    anonymous,
    known,
    merge,
    anonymousUsedAfterMerge,
    transferred,
    transferredAgain,
    knownUsedAfterTransfer,
    eventsBefore,
    mergeAgain,
    eventsAfterMergeAgain,
    reserveAfterMerge,
    mergeElsewhere,
    committed,
    anonymousUsedAfterCommit,
    knownUsedAfterCommit,
    repeated,
  };
}

export function mergeThenReplay() {
  const anonymous = mergePerson('anon-2');
  const known = mergePerson('user-2');
  trackTokens(anonymous, 12, 'a1');
  const merge = runMerge(anonymous, { kind: 'mergeInto', targetPersonId: known.id });
  if (merge.kind !== 'mergeInto') throw new Error('expected a merge reply');
  runMerge(known, { kind: 'transferIn', transferId: merge.transfer.transferId, sourcePersonId: anonymous.id, transfers: merge.transfer.transfers });
  return { anonymous, known };
}

/* Every scenario, for tests that replay their events elsewhere */

/** Wraps a scenario of one person. */
const singlePerson = (run: () => { person: Person }) => () => [run().person];

export const domainScenarios: DomainScenario[] = [
  { name: 'windows: Berlin day resets at local midnight', run: singlePerson(berlinDayReset) },
  { name: 'windows: anchored minute and day', run: singlePerson(anchoredMinuteAndDay) },
  { name: 'windows: billing limit anchored on the 31st', run: singlePerson(billingAnchoredOn31st) },
  { name: 'limits: minute limit denies first', run: singlePerson(minuteLimitDeniesFirst) },
  { name: 'limits: month counter untouched by a denial', run: singlePerson(monthCounterUntouchedByDenial) },
  { name: 'limits: minute resets while the month keeps counting', run: singlePerson(minuteResetsMonthCounts) },
  { name: 'limits: month limit denies when the minute has room', run: singlePerson(monthLimitDenies) },
  { name: 'limits: check answers like reserve without a hold', run: singlePerson(checkWithoutHold) },
  { name: 'limits: soft limit flags the overage', run: singlePerson(softOverage) },
  { name: 'limits: hard limit denies past a soft one', run: singlePerson(hardPastSoft) },
  { name: 'limits: soft-only plan', run: singlePerson(softOnlyPlan) },
  { name: 'limits: soft and hard limit share a counter', run: singlePerson(softSharesCounter) },
  ...commitAboveTable.map((row) => ({ name: `limits: commit above the reservation, ${row.name}`, run: singlePerson(() => commitAbove(row)) })),
  { name: 'limits: recorded overage leaves a negative balance', run: singlePerson(recordedOverage) },
  { name: 'credits: burn order', run: singlePerson(burnOrderGrants) },
  { name: 'credits: partial burns across three grants', run: singlePerson(partialBurns) },
  { name: 'credits: commit below the hold', run: singlePerson(commitBelowHold) },
  { name: 'credits: denied when credit does not cover the overage', run: singlePerson(creditShortOfOverage) },
  { name: 'credits: grant issued at a reset instant', run: singlePerson(grantAtResetInstant) },
  { name: 'credits: grant effective later', run: singlePerson(grantEffectiveLater) },
  { name: 'credits: expired balance written off once', run: singlePerson(expiredWrittenOffOnce) },
  { name: 'credits: renews once per period', run: singlePerson(renewsOncePerPeriod) },
  ...rolloverTable.map((row) => ({ name: `credits: rollover, ${row.name}`, run: singlePerson(() => rollover(row)) })),
  { name: 'credits: rollover burns before the renewal', run: singlePerson(rolloverBurnsFirst) },
  { name: 'credits: rollover after a quiet month', run: singlePerson(rolloverAfterQuietMonth) },
  { name: 'credits: weekly renewal in New York', run: singlePerson(weeklyRenewalNewYork) },
  { name: 'credits: recurring grant issued at a reset instant', run: singlePerson(recurringAtResetInstant) },
  { name: 'credits: same key returns the same grant', run: singlePerson(sameGrantKey) },
  { name: 'credits: key known after the grant is gone', run: singlePerson(grantKeyOutlivesGrant) },
  { name: 'credits: USD credit pays a USD meter', run: singlePerson(usdPaysUsdMeter) },
  { name: 'credits: USD held for one meter', run: singlePerson(usdHeldForOneMeter) },
  { name: 'subscriptions: upgrade mid-period', run: singlePerson(upgradeMidPeriod) },
  { name: 'subscriptions: downgrade mid-period', run: singlePerson(downgradeMidPeriod) },
  { name: 'subscriptions: downgrade below the usage', run: singlePerson(downgradeBelowUsage) },
  { name: 'subscriptions: repeated webhook', run: singlePerson(repeatedWebhook) },
  { name: 'subscriptions: stale webhook', run: singlePerson(staleWebhook) },
  { name: 'subscriptions: unknown plan', run: singlePerson(unknownPlan) },
  { name: 'subscriptions: next_period switch at the boundary', run: singlePerson(nextPeriodSwitch) },
  { name: 'subscriptions: next_period without a subscription', run: singlePerson(nextPeriodWithoutSubscription) },
  ...statusTable.map((row) => ({ name: `subscriptions: status ${row.status}`, run: singlePerson(() => subscriptionStatus(row)) })),
  { name: 'subscriptions: new plan version', run: singlePerson(newPlanVersion) },
  { name: 'replay: a month of a person', run: singlePerson(monthOfLife) },
  {
    name: 'merge: moves usage once',
    run: () => {
      const { anonymous, known } = mergeMovesUsage();
      return [anonymous, known];
    },
  },
  {
    name: 'merge: replays to the same counters',
    run: () => {
      const { anonymous, known } = mergeThenReplay();
      return [anonymous, known];
    },
  },
];
