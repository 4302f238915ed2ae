import { totalTally, type PersonTally } from './tally';
import type { UsageSummary } from './usage-summary';

export interface Column<Row> {
  header: string;
  align: 'left' | 'right';
  value: (row: Row) => string;
}

/** Formats rows as a plain-text table: one header line, a rule, then one line per row. */
export function formatTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string[] {
  const cells = rows.map((row) => columns.map((column) => column.value(row)));
  const widths = columns.map((column, index) => Math.max(column.header.length, ...cells.map((line) => (line[index] ?? '').length)));

  const formatLine = (values: readonly string[]): string =>
    columns
      .map((column, index) => {
        const width = widths[index] ?? 0;
        const value = values[index] ?? '';
        return column.align === 'right' ? value.padStart(width) : value.padEnd(width);
      })
      .join('  ')
      .trimEnd();

  const header = formatLine(columns.map((column) => column.header));
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [header, rule, ...cells.map(formatLine)];
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatCount(value: number): string {
  return integer.format(value);
}

export function formatUsd(value: number): string {
  return `$${value.toFixed(4)}`;
}

function formatShare(part: number, whole: number): string {
  return whole === 0 ? '0.0%' : `${((100 * part) / whole).toFixed(1)}%`;
}

const PERSON_COLUMNS: readonly Column<PersonTally>[] = [
  { header: 'person', align: 'left', value: (row) => row.personId },
  { header: 'calls', align: 'right', value: (row) => formatCount(row.calls) },
  { header: 'allowed', align: 'right', value: (row) => formatCount(row.allowedCalls) },
  { header: 'denied', align: 'right', value: (row) => formatCount(row.deniedCalls) },
  { header: 'failed', align: 'right', value: (row) => formatCount(row.failedCalls) },
  { header: 'errors', align: 'right', value: (row) => formatCount(row.errorCalls) },
  { header: 'requested tokens', align: 'right', value: (row) => formatCount(row.requestedTokens) },
  { header: 'allowed tokens', align: 'right', value: (row) => formatCount(row.allowedTokens) },
  { header: 'denied tokens', align: 'right', value: (row) => formatCount(row.deniedTokens) },
  { header: 'cost (USD)', align: 'right', value: (row) => formatUsd(row.cost) },
];

/**
 * Formats the `top` persons by requested tokens, then a totals row over all persons.
 * `allowed` counts failed calls too, because their reserve was allowed before the release.
 */
export function formatPersonReport(tallies: Iterable<PersonTally>, top = 20): string[] {
  const all = [...tallies];
  const heaviest = [...all].sort((left, right) => right.requestedTokens - left.requestedTokens || left.personId.localeCompare(right.personId)).slice(0, top);
  const total = totalTally(all);
  const table = formatTable(PERSON_COLUMNS, [...heaviest, total]);
  const rule = table[1] ?? '';
  // A rule between the persons and the totals row.
  return [...table.slice(0, -1), rule, ...table.slice(-1)];
}

/** Formats the totals as sentences: call shares, and the persons that reached their cap. */
export function formatTotals(tallies: Iterable<PersonTally>): string[] {
  const all = [...tallies];
  const total = totalTally(all);
  const capped = all.filter((tally) => tally.deniedCalls > 0).length;
  const maxAllowed = Math.max(0, ...all.map((tally) => tally.allowedTokens));
  const oversold = all.filter((tally) => tally.limit !== undefined && tally.allowedTokens > tally.limit);

  const lines = [
    `calls: ${formatCount(total.calls)} by ${formatCount(all.length)} persons; allowed ${formatCount(total.allowedCalls)} (${formatShare(total.allowedCalls, total.calls)}), denied ${formatCount(total.deniedCalls)} (${formatShare(total.deniedCalls, total.calls)}), failed and released ${formatCount(total.failedCalls)}, errors ${formatCount(total.errorCalls)}`,
    `tokens: requested ${formatCount(total.requestedTokens)}, committed ${formatCount(total.allowedTokens)}, denied ${formatCount(total.deniedTokens)}; cost ${formatUsd(total.cost)}`,
    `persons denied at least once: ${formatCount(capped)}; most tokens committed by one person: ${formatCount(maxAllowed)}${total.limit === undefined ? '' : ` (limit ${formatCount(total.limit)})`}`,
  ];
  if (oversold.length > 0) {
    lines.push(`OVERSOLD: ${oversold.map((tally) => `${tally.personId} committed ${formatCount(tally.allowedTokens)} over a limit of ${formatCount(tally.limit ?? 0)}`).join('; ')}`);
  }
  return lines;
}

/** Formats the dashboard's usage summary as two small tables. */
export function formatUsageSummary(summary: UsageSummary): string[] {
  const overview = formatTable<[string, string]>(
    [
      { header: 'metric', align: 'left', value: ([name]) => name },
      { header: 'value', align: 'right', value: ([, value]) => value },
    ],
    [
      ['events', formatCount(summary.events)],
      ['cost (USD)', formatUsd(summary.cost)],
      ['active persons', formatCount(summary.activePersons)],
    ],
  );
  const byType = formatTable<UsageSummary['byType'][number]>(
    [
      { header: 'type', align: 'left', value: (row) => row.type },
      { header: 'count', align: 'right', value: (row) => formatCount(row.count) },
      { header: 'cost (USD)', align: 'right', value: (row) => formatUsd(row.cost) },
    ],
    summary.byType,
  );
  return [...overview, '', ...byType];
}
