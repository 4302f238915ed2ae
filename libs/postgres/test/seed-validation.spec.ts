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
      'workspaces[0].apikeys is not a known field: use id, name, timeZone, apiKeys, plan',
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
