import { windowFor } from '@vevee/domain';

/**
 * The time zones whose calendar days the integration and end-to-end tests
 * count in: their workspaces live in UTC or Europe/Berlin. A month or a year
 * starts on a day boundary too, so days cover them.
 */
export const TEST_TIME_ZONES = ['UTC', 'Europe/Berlin'] as const;

/**
 * Returns the latest day boundary, in any of `timeZones`, that falls within
 * `marginMs` from `now`, or undefined when none does.
 */
export function nextDayBoundaryWithin(now: number, marginMs: number, timeZones: readonly string[] = TEST_TIME_ZONES): number | undefined {
  const boundaries = timeZones.map((timeZone) => windowFor('day', now, timeZone).end).filter((end) => end - now <= marginMs);
  return boundaries.length === 0 ? undefined : Math.max(...boundaries);
}

/**
 * Resolves once no day boundary falls within `marginMs` from now. The tests
 * decide on the real clock and count exact totals in the open day window. In
 * a test file that runs across midnight, the counters start again at zero,
 * which is right for the product and wrong for the test. So a file that would
 * start within the margin waits for the boundary to pass.
 */
export async function waitUntilClearOfDayBoundary(marginMs: number, timeZones: readonly string[] = TEST_TIME_ZONES): Promise<void> {
  for (;;) {
    const now = Date.now();
    const boundary = nextDayBoundaryWithin(now, marginMs, timeZones);
    if (boundary === undefined) return;
    process.stderr.write(`waiting ${Math.ceil((boundary - now) / 1000)} s for the day boundary at ${new Date(boundary).toISOString()} to pass, so that no test counts across it\n`);
    await new Promise((resolve) => setTimeout(resolve, boundary - now + 1));
  }
}
