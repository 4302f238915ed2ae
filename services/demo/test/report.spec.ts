import { describe, expect, it } from 'vitest';

import { formatPersonReport, formatTable, formatTotals, formatUsageSummary } from '../src/report';
import { emptyTally, recordOutcome, type PersonTally } from '../src/tally';

function tallyOf(personId: string, outcomes: Parameters<typeof recordOutcome>[2][]): PersonTally {
  const tallies = new Map<string, PersonTally>();
  for (const outcome of outcomes) recordOutcome(tallies, personId, outcome);
  return tallies.get(personId) ?? emptyTally(personId);
}

describe('formatTable', () => {
  it('aligns columns', () => {
    const lines = formatTable<[string, number]>(
      [
        { header: 'name', align: 'left', value: ([name]) => name },
        { header: 'n', align: 'right', value: ([, count]) => String(count) },
      ],
      [
        ['a', 1_000],
        ['longer', 5],
      ],
    );

    expect(lines).toEqual(['name       n', '------  ----', 'a       1000', 'longer     5']);
  });
});

describe('formatPersonReport', () => {
  it('lists the heaviest persons, then the totals', () => {
    const tallies = [
      tallyOf('user-003', [{ kind: 'committed', tokens: 10, cost: 0.5, limit: 100 }]),
      tallyOf('user-001', [
        { kind: 'committed', tokens: 90, cost: 1, limit: 100 },
        { kind: 'denied', tokens: 50, limit: 100 },
      ]),
      tallyOf('user-002', [{ kind: 'released', tokens: 40, limit: 100 }]),
    ];

    const lines = formatPersonReport(tallies, 2);

    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(/^person\s+calls\s+allowed\s+denied\s+failed\s+errors\s+requested tokens\s+allowed tokens\s+denied tokens\s+cost \(USD\)$/);
    expect(lines[2]).toMatch(/^user-001\s+2\s+1\s+1\s+0\s+0\s+140\s+90\s+50\s+\$1\.0000$/);
    expect(lines[3]).toMatch(/^user-002\s+1\s+1\s+0\s+1\s+0\s+40\s+0\s+0\s+\$0\.0000$/);
    expect(lines[4]).toMatch(/^-+/);
    expect(lines[5]).toMatch(/^total\s+4\s+3\s+1\s+1\s+0\s+190\s+100\s+50\s+\$1\.5000$/);
    expect(new Set(lines.map((line) => line.length)).size).toBeLessThanOrEqual(2);
  });
});

describe('formatTotals', () => {
  it('states shares and the largest committed usage', () => {
    const tallies = [
      tallyOf('user-001', [
        { kind: 'committed', tokens: 90, cost: 1, limit: 100 },
        { kind: 'denied', tokens: 50, limit: 100 },
      ]),
      tallyOf('user-002', [{ kind: 'error', tokens: 5, step: 'reserve', code: 'unavailable', message: 'down' }]),
    ];

    const lines = formatTotals(tallies);

    expect(lines[0]).toBe('calls: 3 by 2 persons; allowed 1 (33.3%), denied 1 (33.3%), failed and released 0, errors 1');
    expect(lines[1]).toBe('tokens: requested 145, committed 90, denied 50; cost $1.0000');
    expect(lines[2]).toBe('persons denied at least once: 1; most tokens committed by one person: 90 (limit 100)');
    expect(lines).toHaveLength(3);
  });

  it('flags a person who committed over the limit', () => {
    const lines = formatTotals([tallyOf('user-009', [{ kind: 'committed', tokens: 120, cost: 1, limit: 100 }])]);

    expect(lines.at(-1)).toBe('OVERSOLD: user-009 committed 120 over a limit of 100');
  });
});

describe('formatUsageSummary', () => {
  it('prints totals and one row per type', () => {
    const lines = formatUsageSummary({
      events: 5_210,
      cost: 3.25,
      activePersons: 272,
      byType: [
        { type: 'QuotaCommitted', count: 2_200, cost: 3.25 },
        { type: 'QuotaDenied', count: 700, cost: 0 },
      ],
    });

    expect(lines).toEqual([
      'metric            value',
      '--------------  -------',
      'events            5,210',
      'cost (USD)      $3.2500',
      'active persons      272',
      '',
      'type            count  cost (USD)',
      '--------------  -----  ----------',
      'QuotaCommitted  2,200     $3.2500',
      'QuotaDenied       700     $0.0000',
    ]);
  });
});
