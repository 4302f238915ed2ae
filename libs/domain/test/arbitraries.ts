import fc from 'fast-check';

import type { Period, WindowRef } from '@vevee/contracts';

/**
 * Generators for the decider's property tests. Quantities and limits are
 * integers in thousandths of a unit, and costs in cents, so the reference model
 * in the spec adds them exactly. The commands get `value / 1000`, which gives
 * decimal fractions such as 0.1 and 0.3.
 */
export const THOUSANDTHS_PER_UNIT = 1000;

/** How far a simulation runs past its scenario's start, before the final expiry sweep. */
export const SIMULATION_SPAN_MS = 20 * 3600 * 1000;

/** Time after the span at which every hold has expired: the longest TTL is 120 s. */
export const FINAL_SWEEP_DELAY_MS = 121 * 1000;

/**
 * A stretch of about a day in one time zone, with the calendar windows that
 * cover it written out by hand. The window tables are the reference the
 * decider's windows are checked against, so they are not computed by the code
 * under test: each boundary is local midnight as printed by GNU date 9.1
 * (`TZ=ZONE date -u -d 'TZ="ZONE" YYYY-MM-DD 00:00'`).
 */
export interface Scenario {
  name: string;
  timeZone: string;
  start: number;
  /** Windows of each period that cover the whole simulation, in order. */
  windows: Partial<Record<Period, WindowRef[]>>;
}

function utc(iso: string): number {
  return Date.parse(iso);
}

function windowsOf(period: Period, boundaries: string[]): WindowRef[] {
  const windows: WindowRef[] = [];
  for (let i = 0; i + 1 < boundaries.length; i++) {
    windows.push({ period, start: utc(boundaries[i]!), end: utc(boundaries[i + 1]!) });
  }
  return windows;
}

export const SCENARIOS: Record<string, Scenario> = {
  /** New York, 21:30 on 31 January: a day and a month end at 05:00 UTC. */
  'new-york-month-end': {
    name: 'new-york-month-end',
    timeZone: 'America/New_York',
    start: utc('2026-02-01T02:30:00Z'),
    windows: {
      day: windowsOf('day', ['2026-01-31T05:00:00Z', '2026-02-01T05:00:00Z', '2026-02-02T05:00:00Z']),
      month: windowsOf('month', ['2026-01-01T05:00:00Z', '2026-02-01T05:00:00Z', '2026-03-01T05:00:00Z']),
    },
  },
  /** New York, 22:00 on 31 October: the month ends, and 1 November lasts 25 hours (daylight saving ends). */
  'new-york-fall-back': {
    name: 'new-york-fall-back',
    timeZone: 'America/New_York',
    start: utc('2026-11-01T02:00:00Z'),
    windows: {
      day: windowsOf('day', ['2026-10-31T04:00:00Z', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z']),
      month: windowsOf('month', ['2026-10-01T04:00:00Z', '2026-11-01T04:00:00Z', '2026-12-01T05:00:00Z']),
    },
  },
  /** Berlin, 20:00 on 31 March (summer time): a day and a month end at 22:00 UTC. */
  'berlin-month-end': {
    name: 'berlin-month-end',
    timeZone: 'Europe/Berlin',
    start: utc('2026-03-31T18:00:00Z'),
    windows: {
      day: windowsOf('day', ['2026-03-30T22:00:00Z', '2026-03-31T22:00:00Z', '2026-04-01T22:00:00Z']),
      month: windowsOf('month', ['2026-02-28T23:00:00Z', '2026-03-31T22:00:00Z', '2026-04-30T22:00:00Z']),
    },
  },
  /** Berlin, 21:00 on 28 March: 29 March lasts 23 hours (summer time starts). */
  'berlin-spring-forward': {
    name: 'berlin-spring-forward',
    timeZone: 'Europe/Berlin',
    start: utc('2026-03-28T20:00:00Z'),
    windows: {
      day: windowsOf('day', ['2026-03-27T23:00:00Z', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z', '2026-03-30T22:00:00Z']),
      month: windowsOf('month', ['2026-02-28T23:00:00Z', '2026-03-31T22:00:00Z']),
    },
  },
  /** Kathmandu (UTC+05:45), 20:45 on 30 June: a day and a month end at 18:15 UTC. */
  'kathmandu-month-end': {
    name: 'kathmandu-month-end',
    timeZone: 'Asia/Kathmandu',
    start: utc('2026-06-30T15:00:00Z'),
    windows: {
      day: windowsOf('day', ['2026-06-29T18:15:00Z', '2026-06-30T18:15:00Z', '2026-07-01T18:15:00Z']),
      month: windowsOf('month', ['2026-05-31T18:15:00Z', '2026-06-30T18:15:00Z', '2026-07-31T18:15:00Z']),
    },
  },
  /**
   * Santiago, 20:30 on 5 September. At 24:00 the clocks jump to 01:00 (summer
   * time starts), so 6 September has no midnight and starts at 04:00 UTC.
   */
  'santiago-skipped-midnight': {
    name: 'santiago-skipped-midnight',
    timeZone: 'America/Santiago',
    start: utc('2026-09-06T00:30:00Z'),
    windows: {
      day: windowsOf('day', ['2026-09-05T04:00:00Z', '2026-09-06T04:00:00Z', '2026-09-07T03:00:00Z']),
      month: windowsOf('month', ['2026-09-01T04:00:00Z', '2026-10-01T03:00:00Z']),
    },
  },
};

/** The scenario whose zone skips a midnight. */
export const SKIPPED_MIDNIGHT = 'santiago-skipped-midnight';

/** Scenarios whose midnights all exist. */
export const REGULAR_SCENARIOS = Object.keys(SCENARIOS).filter((name) => name !== SKIPPED_MIDNIGHT);

export function scenarioNamed(name: string): Scenario {
  const scenario = SCENARIOS[name];
  if (scenario === undefined) throw new Error(`unknown scenario "${name}"`);
  return scenario;
}

/** Limits of one meter in thousandths; a missing period is unlimited. */
export type LimitsInThousandths = Partial<Record<Period, number>>;

/**
 * One step of a simulation. `dt` is the milliseconds the clock moves before the
 * command. `person`, `meter` and `pick` are indexes taken modulo the number of
 * persons, meters and earlier candidates (reservations, keyed requests or commits).
 */
export type Op =
  /**
   * With `fill` 'exact', the quantity is what the model computes as left under
   * the tightest limit, and with 'over', one thousandth more. Both fall back to
   * `quantity` when nothing is left.
   */
  | { kind: 'reserve'; dt: number; person: number; meter: number; quantity: number; fill: 'none' | 'exact' | 'over'; ttlSeconds: number }
  | { kind: 'commit'; dt: number; person: number; pick: number; actual: 'above' | 'equal' | 'below'; delta: number; costCents: number }
  | { kind: 'release'; dt: number; person: number; pick: number }
  | { kind: 'expire'; dt: number; person: number }
  | { kind: 'track'; dt: number; person: number; meter: number | undefined; quantity: number; costCents: number }
  | { kind: 'repeat'; dt: number; person: number; pick: number }
  | { kind: 'repeatCommit'; dt: number; person: number; pick: number }
  | { kind: 'reuseKey'; dt: number; person: number; pick: number }
  /** Moves the clock to the next day boundary of the scenario, plus `offset` milliseconds. */
  | { kind: 'jump'; offset: number };

export interface SimulationInput {
  scenario: string;
  meters: LimitsInThousandths[];
  personCount: number;
  ops: Op[];
}

/** Whole units, tenths and thousandths, so decimal fractions show up often. */
const quantityArb = fc.oneof(
  fc.integer({ min: 1, max: 20 }).map((units) => units * THOUSANDTHS_PER_UNIT),
  fc.integer({ min: 1, max: 50 }).map((tenths) => tenths * 100),
  fc.integer({ min: 1, max: 5000 }),
);

const limitArb = fc.oneof(
  fc.integer({ min: 1, max: 40 }).map((units) => units * THOUSANDTHS_PER_UNIT),
  fc.integer({ min: 1, max: 300 }).map((tenths) => tenths * 100),
);

const meterLimitsArb: fc.Arbitrary<LimitsInThousandths> = fc.oneof(
  fc.record({ day: limitArb }),
  fc.record({ month: limitArb }),
  fc.record({ day: limitArb, month: limitArb }),
);

/** Time before a command: often none, often whole seconds so that TTLs end exactly on a step. */
const stepArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 10 }).map((seconds) => seconds * 1000) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 130_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 60 }).map((minutes) => minutes * 60_000) },
);

const personArb = fc.nat({ max: 2 });
const pickArb = fc.nat({ max: 50 });
const costArb = fc.nat({ max: 500 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('reserve' as const),
      dt: stepArb,
      person: personArb,
      meter: fc.nat({ max: 2 }),
      quantity: quantityArb,
      fill: fc.constantFrom('none' as const, 'exact' as const, 'over' as const),
      ttlSeconds: fc.integer({ min: 1, max: 120 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      dt: stepArb,
      person: personArb,
      pick: pickArb,
      actual: fc.constantFrom('above' as const, 'equal' as const, 'below' as const),
      delta: fc.integer({ min: 1, max: 3000 }),
      costCents: costArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), dt: stepArb, person: personArb, pick: pickArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), dt: stepArb, person: personArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('track' as const),
      dt: stepArb,
      person: personArb,
      meter: fc.option(fc.nat({ max: 2 }), { nil: undefined }),
      quantity: quantityArb,
      costCents: costArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('repeat' as const), dt: stepArb, person: personArb, pick: pickArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('repeatCommit' as const), dt: stepArb, person: personArb, pick: pickArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reuseKey' as const), dt: stepArb, person: personArb, pick: pickArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('jump' as const), offset: fc.integer({ min: -120_000, max: 120_000 }) }) },
);

export function simulationArb(scenarios: readonly string[], maxOps = 50): fc.Arbitrary<SimulationInput> {
  return fc.record({
    scenario: fc.constantFrom(...scenarios),
    meters: fc.array(meterLimitsArb, { minLength: 1, maxLength: 3 }),
    personCount: fc.integer({ min: 1, max: 3 }),
    ops: fc.array(opArb, { minLength: 1, maxLength: maxOps, size: 'max' }),
  });
}
