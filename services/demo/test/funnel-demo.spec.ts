import { describe, expect, it } from 'vitest';

import { FUNNEL_STEPS, funnelBatch } from '../src';

const NOW = Date.UTC(2026, 11, 4, 12, 0, 0);

describe('funnelBatch', () => {
  const { records, expected } = funnelBatch({ workspaceId: 'demo', runId: 'r1', visitors: 200, seed: 7 }, NOW);
  const values = records.map((record) => JSON.parse(record.value) as Record<string, unknown>);

  it('counts each step from the generated events', () => {
    const valid = values.filter((value) => value.eventId !== undefined);
    const personsAt = (type: string) => new Set(valid.filter((value) => value.type === type).map((value) => value.personId)).size;
    expect(expected).toEqual(FUNNEL_STEPS.map(personsAt));
    expect(expected[0]).toBe(200);
    expect(expected[3]).toBeLessThan(expected[2]!);
  });

  it('keys each record by its workspace and person', () => {
    for (const [index, record] of records.entries()) {
      expect(record.key).toBe(`demo:${String(values[index]!.personId)}`);
    }
  });

  it('ends with one record that lacks its event id', () => {
    expect(values.filter((value) => value.eventId === undefined)).toEqual([values[values.length - 1]]);
  });

  it('keeps every timestamp within the last 10 minutes', () => {
    const times = values.map((value) => value.timestamp as number);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(NOW - 10 * 60_000);
    expect(Math.max(...times)).toBeLessThanOrEqual(NOW);
  });

  it('aliases each signed-up visitor before the signup', () => {
    const aliases = values.filter((value) => value.type === '$alias');
    expect(aliases).toHaveLength(expected[1]!);
    for (const alias of aliases) expect(String(alias.anonymousId)).toMatch(/^visitor-r1-/);
  });
});
