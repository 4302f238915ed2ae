import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { SeedError, parseSeed } from '../src';

const KEY = 'vv_test_0123456789abcdef';

function validWorkspace(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'demo',
    name: 'Demo',
    timeZone: 'Europe/Berlin',
    apiKeys: [KEY],
    plan: { version: 1, meters: { tokens: { day: 20_000, month: 400_000 } } },
    ...overrides,
  };
}

function problemsOf(value: unknown): string[] {
  try {
    parseSeed(value, '/seeds/bad.json');
  } catch (error) {
    expect(error).toBeInstanceOf(SeedError);
    expect((error as SeedError).message).toContain('/seeds/bad.json');
    return (error as SeedError).problems;
  }
  throw new Error('parseSeed accepted an invalid seed');
}

describe('parseSeed', () => {
  it('accepts a valid seed and defaults the time zone to UTC', () => {
    const seed = parseSeed({ workspaces: [validWorkspace(), validWorkspace({ id: 'other', timeZone: undefined, apiKeys: undefined })] }, 'seed.json');

    expect(seed.workspaces[0]).toEqual({
      id: 'demo',
      name: 'Demo',
      timeZone: 'Europe/Berlin',
      apiKeys: [KEY],
      plan: { version: 1, meters: { tokens: { day: 20_000, month: 400_000 } } },
    });
    expect(seed.workspaces[1]?.timeZone).toBe('UTC');
    expect(seed.workspaces[1]?.apiKeys).toEqual([]);
  });

  it('names a limit that is not a positive number', () => {
    const plan = { version: 1, meters: { tokens: { day: -5, month: '400' } } };
    expect(problemsOf({ workspaces: [validWorkspace({ plan })] })).toEqual([
      'workspaces[0].plan.meters.tokens.day must be a positive number',
      'workspaces[0].plan.meters.tokens.month must be a positive number',
    ]);
  });

  it('names an unknown period and an invalid plan version', () => {
    const plan = { version: 0, meters: { tokens: { week: 10 } } };
    expect(problemsOf({ workspaces: [validWorkspace({ plan })] })).toEqual([
      'workspaces[0].plan.version must be a positive integer',
      'workspaces[0].plan.meters.tokens.week is not a known period: use day or month',
    ]);
  });

  it('names an unknown time zone', () => {
    expect(problemsOf({ workspaces: [validWorkspace({ timeZone: 'Mars/Olympus' })] })).toEqual([
      'workspaces[0].timeZone must be an IANA time zone name, like "UTC" or "Europe/Berlin"',
    ]);
  });

  it('names a missing field, a misspelt field and a short key', () => {
    const workspace = validWorkspace({ name: undefined, apikeys: [], apiKeys: ['short'] });
    expect(problemsOf({ workspaces: [workspace] })).toEqual([
      'workspaces[0].apikeys is not a known field: use id, name, timeZone, apiKeys, plan, meters, plans, defaultPlanId',
      'workspaces[0].name must be a non-empty string',
      'workspaces[0].apiKeys[0] must be a string of at least 16 characters without spaces',
    ]);
  });

  it('names an invalid workspace id', () => {
    expect(problemsOf({ workspaces: [validWorkspace({ id: 'ws:1' })] })).toEqual([
      `workspaces[0].id is invalid: use 1 to 64 letters, digits, '_' or '-'`,
    ]);
  });

  it('rejects a repeated workspace id and a key shared by two workspaces', () => {
    expect(problemsOf({ workspaces: [validWorkspace(), validWorkspace()] })).toEqual([
      'workspaces[1].id repeats the id of workspaces[0]: each workspace needs its own id',
      'workspaces[1].apiKeys[0] repeats the key of workspaces[0].apiKeys[0]: a key belongs to one workspace',
    ]);
  });

  it('rejects a file without a workspaces array', () => {
    expect(problemsOf({ workspace: [] })).toEqual(['workspace is not a known field: use workspaces', 'workspaces must be an array']);
    expect(problemsOf([])).toEqual(['the file must hold a JSON object with a "workspaces" array']);
  });
});

/** A workspace in the catalog form, with one meter and one plan. */
function catalogWorkspace(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'demo',
    name: 'Demo',
    apiKeys: [KEY],
    meters: { tokens: { unit: 'tokens', aggregation: 'sum', displayName: 'Tokens' } },
    plans: { free: { name: 'Free', limits: [{ id: 'tokens-day', meter: 'tokens', amount: 1000, period: 'day' }] } },
    defaultPlanId: 'free',
    ...overrides,
  };
}

describe('parseSeed › catalog form', () => {
  it('accepts meters, plans and defaultPlanId', () => {
    const seed = parseSeed({ workspaces: [catalogWorkspace()] }, 'seed.json');

    expect(seed.workspaces[0]?.plan).toBeUndefined();
    expect(seed.workspaces[0]?.catalog).toEqual({
      meters: { tokens: { key: 'tokens', unit: 'tokens', aggregation: 'sum', displayName: 'Tokens' } },
      plans: {
        free: {
          name: 'Free',
          limits: [{ id: 'tokens-day', meter: 'tokens', amount: 1000, period: 'day', window: 'calendar', enforcement: 'hard', overage: 'record', credits: false }],
        },
      },
      defaultPlanId: 'free',
      converted: false,
    });
  });

  it('accepts the local seed file', () => {
    const file = new URL('../../../deploy/local/seed.json', import.meta.url);
    const seed = parseSeed(JSON.parse(readFileSync(file, 'utf8')), file.pathname);

    const catalog = seed.workspaces[0]?.catalog;
    expect(catalog?.defaultPlanId).toBe('free');
    expect(catalog?.plans.free?.limits.map((limit) => [limit.meter, limit.period, limit.amount])).toEqual([
      ['tokens', 'day', 150_000],
      ['tokens', 'month', 1_000_000],
      ['requests', 'day', 2_000],
    ]);
    expect(catalog?.plans.pro?.limits.filter((limit) => limit.meter === 'tokens')).toHaveLength(2);
    expect(catalog?.plans.pro?.limits.some((limit) => limit.credits)).toBe(true);
  });

  it('names invalid meters and limits with the fix', () => {
    const workspace = catalogWorkspace({
      meters: { tokens: { unit: 'tokens', aggregation: 'avg' }, 'bad key': { unit: 'x' } },
      plans: {
        free: {
          name: 'Free',
          limits: [
            { id: 'a', meter: 'tokens', amount: 0, period: 'fortnight' },
            { id: 'a', meter: 'images', amount: 5, period: 'day', window: 'rolling', enforcement: 'strict', overage: 'ignore' },
          ],
        },
      },
    });

    expect(problemsOf({ workspaces: [workspace] })).toEqual([
      'workspaces[0].meters.tokens.aggregation must be one of sum, count',
      `workspaces[0].meters.bad key is an invalid meter key: use 1 to 64 letters, digits, '_', '.' or '-', like "tokens"`,
      'workspaces[0].plans.free.limits[0].amount must be a number above 0 and at most 1000000000000000',
      'workspaces[0].plans.free.limits[0].period must be one of minute, hour, day, week, month, billing, lifetime',
      'workspaces[0].plans.free.limits[1].meter is not a defined meter: use one of tokens, bad key',
      'workspaces[0].plans.free.limits[1].window must be one of calendar, anchored',
      'workspaces[0].plans.free.limits[1].enforcement must be one of hard, soft',
      'workspaces[0].plans.free.limits[1].overage must be one of record, cap',
      'workspaces[0].plans.free.limits[1].id repeats the id "a" of workspaces[0].plans.free.limits[0]: give each limit of a plan version its own id',
    ]);
  });

  it('names a default plan that is not declared', () => {
    const plans = { free: { name: 'Free', limits: [] }, pro: { name: 'Pro', limits: [] } };
    expect(problemsOf({ workspaces: [catalogWorkspace({ plans, defaultPlanId: 'gold' })] })).toEqual([
      'workspaces[0].defaultPlanId must name one of the plans (free, pro): it is the plan of persons without a subscription',
    ]);
  });

  it('rejects plan combined with plans', () => {
    const workspace = catalogWorkspace({ plan: { version: 1, meters: {} } });
    expect(problemsOf({ workspaces: [workspace] })).toEqual([
      'workspaces[0].meters cannot be combined with "plan": use either the old "plan" form or meters, plans and defaultPlanId',
      'workspaces[0].plans cannot be combined with "plan": use either the old "plan" form or meters, plans and defaultPlanId',
      'workspaces[0].defaultPlanId cannot be combined with "plan": use either the old "plan" form or meters, plans and defaultPlanId',
    ]);
  });
});
