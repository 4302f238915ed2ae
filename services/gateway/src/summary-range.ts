import { badUserInput } from './errors';

/** Maximum length of a usageSummary range, which bounds the rows that one request scans. */
export const MAX_SUMMARY_RANGE_DAYS = 400;

const DAY_MS = 86_400_000;

/** Rejects a usageSummary range that is empty, reversed or longer than MAX_SUMMARY_RANGE_DAYS. */
export function validateSummaryRange(from: Date, to: Date): void {
  if (to.getTime() <= from.getTime()) {
    throw badUserInput(
      'to',
      `argument "to" (${to.toISOString()}) must be later than argument "from" (${from.toISOString()}): the range is [from, to)`,
    );
  }
  const days = (to.getTime() - from.getTime()) / DAY_MS;
  if (days > MAX_SUMMARY_RANGE_DAYS) {
    throw badUserInput(
      'to',
      `arguments "from" and "to" span ${days.toFixed(1)} days, more than the maximum of ${MAX_SUMMARY_RANGE_DAYS}: move "to" closer to "from", or request several shorter ranges`,
    );
  }
}
