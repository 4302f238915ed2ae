import { describe, expect, it } from 'vitest';

import { nextDayBoundaryWithin } from '../src/day-boundary';

const MINUTE = 60_000;

describe('nextDayBoundaryWithin', () => {
  it.each([
    { name: 'noon in both zones', now: '2026-12-04T12:00:00Z', margin: 5 * MINUTE, expected: undefined },
    { name: 'two minutes before UTC midnight', now: '2026-12-04T23:58:00Z', margin: 5 * MINUTE, expected: '2026-12-05T00:00:00.000Z' },
    { name: 'exactly at UTC midnight, the next day is far', now: '2026-12-05T00:00:00Z', margin: 5 * MINUTE, expected: undefined },
    { name: 'one minute before Berlin midnight in winter', now: '2026-12-04T22:59:00Z', margin: 5 * MINUTE, expected: '2026-12-04T23:00:00.000Z' },
    { name: 'one minute before Berlin midnight in summer', now: '2026-07-04T21:59:00Z', margin: 5 * MINUTE, expected: '2026-07-04T22:00:00.000Z' },
    { name: 'both within a wide margin, the later one', now: '2026-12-04T22:59:00Z', margin: 90 * MINUTE, expected: '2026-12-05T00:00:00.000Z' },
  ])('$name', ({ now, margin, expected }) => {
    const boundary = nextDayBoundaryWithin(Date.parse(now), margin);
    expect(boundary === undefined ? undefined : new Date(boundary).toISOString()).toBe(expected);
  });
});
