import { writeFileSync } from 'node:fs';
import path from 'node:path';

import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createTestEnvironment, testRunDir, uniqueName, type TestEnvironment } from '@vevee/testing';

import { applySeed, createPool, hashApiKey, loadCatalogs, loadWorkspaces, migrate, parseSeed, publishPlanVersion, readSeedFile, SeedError, setDefaultPlan, type Seed } from '../src';

const DEMO_KEY = 'vv_demo_0123456789abcdef';
const OTHER_KEY = 'vv_other_0123456789abcdef';

function demoSeed(meters: Record<string, { day?: number; month?: number }> = { tokens: { day: 20_000, month: 400_000 } }, version = 1): Seed {
  return parseSeed(
    {
      workspaces: [
        { id: 'demo', name: 'Demo', timeZone: 'Europe/Berlin', apiKeys: [DEMO_KEY], plan: { version, meters } },
        { id: 'other', name: 'Other', apiKeys: [OTHER_KEY], plan: { version: 1, meters: { images: { month: 50 } } } },
      ],
    },
    'test seed',
  );
}

function writeSeedFile(content: string): string {
  const file = path.join(testRunDir(), `${uniqueName('seed')}.json`);
  writeFileSync(file, content);
  return file;
}

describe('seed', () => {
  let environment: TestEnvironment;
  let pool: pg.Pool;

  beforeEach(async () => {
    environment = await createTestEnvironment();
    await migrate(environment.config.databaseUrl);
    pool = createPool(environment.config.databaseUrl, 2);
  });

  afterEach(async () => {
    await pool.end();
    await environment.cleanup();
  });

  it('readSeedFile › names the file and the bad field', async () => {
    const file = writeSeedFile(
      JSON.stringify({ workspaces: [{ id: 'demo', name: 'Demo', apiKeys: [DEMO_KEY], plan: { version: 1, meters: { tokens: { day: 0 } } } }] }),
    );

    const error = await readSeedFile(file).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SeedError);
    expect((error as SeedError).message).toBe(`invalid seed ${file}:\n  - workspaces[0].plan.meters.tokens.day must be a positive number`);
  });

  it('readSeedFile › names a file that is missing or not JSON', async () => {
    const missing = path.join(testRunDir(), `${uniqueName('missing')}.json`);
    await expect(readSeedFile(missing)).rejects.toThrow(`invalid seed ${missing}:\n  - the file cannot be read`);

    const broken = writeSeedFile('{ "workspaces": [');
    await expect(readSeedFile(broken)).rejects.toThrow(`invalid seed ${broken}:\n  - the file is not valid JSON`);
  });

  it('readSeedFile › reads a valid file', async () => {
    const file = writeSeedFile(JSON.stringify({ workspaces: [{ id: 'demo', name: 'Demo', apiKeys: [DEMO_KEY], plan: { version: 2, meters: {} } }] }));

    const seed = await readSeedFile(file);

    expect(seed.workspaces).toEqual([{ id: 'demo', name: 'Demo', timeZone: 'UTC', apiKeys: [DEMO_KEY], plan: { version: 2, meters: {} } }]);
  });

  it('applySeed › writes workspaces, key hashes and plans once', async () => {
    const first = await applySeed(pool, demoSeed());
    const second = await applySeed(pool, demoSeed());

    expect(first).toEqual({ workspacesWritten: 2, apiKeysInserted: 2, plansInserted: 2, catalogsChanged: 2 });
    expect(second).toEqual({ workspacesWritten: 0, apiKeysInserted: 0, plansInserted: 0, catalogsChanged: 0 });

    const loaded = await loadWorkspaces(pool);
    expect(loaded.workspaces).toEqual([
      {
        id: 'demo',
        name: 'Demo',
        timeZone: 'Europe/Berlin',
        plan: { workspaceId: 'demo', timeZone: 'Europe/Berlin', version: 1, meters: { tokens: { day: 20_000, month: 400_000 } } },
      },
      { id: 'other', name: 'Other', timeZone: 'UTC', plan: { workspaceId: 'other', timeZone: 'UTC', version: 1, meters: { images: { month: 50 } } } },
    ]);
    expect(loaded.apiKeys).toEqual(new Map([[hashApiKey(DEMO_KEY), 'demo'], [hashApiKey(OTHER_KEY), 'other']]));
  });

  it('applySeed › stores keys only as their SHA-256', async () => {
    await applySeed(pool, demoSeed());

    const rows = await pool.query<{ key_hash: string; label: string }>('SELECT key_hash, label FROM api_keys ORDER BY workspace_id');

    expect(rows.rows.map((row) => row.key_hash)).toEqual([hashApiKey(DEMO_KEY), hashApiKey(OTHER_KEY)]);
    expect(hashApiKey(DEMO_KEY)).toMatch(/^[0-9a-f]{64}$/);
    const dump = JSON.stringify(rows.rows);
    expect(dump).not.toContain(DEMO_KEY);
    expect(dump).not.toContain(OTHER_KEY);
  });

  it('applySeed › adds a new plan version and leaves an existing one', async () => {
    await applySeed(pool, demoSeed());

    const changedSameVersion = await applySeed(pool, demoSeed({ tokens: { day: 1 } }, 1));
    expect(changedSameVersion.plansInserted).toBe(0);
    expect((await loadWorkspaces(pool)).workspaces[0]?.plan.meters).toEqual({ tokens: { day: 20_000, month: 400_000 } });

    const nextVersion = await applySeed(pool, demoSeed({ tokens: { day: 30_000 } }, 2));
    expect(nextVersion.plansInserted).toBe(1);
    const plan = (await loadWorkspaces(pool)).workspaces[0]?.plan;
    expect(plan).toEqual({ workspaceId: 'demo', timeZone: 'Europe/Berlin', version: 2, meters: { tokens: { day: 30_000 } } });
  });

  it('applySeed › updates a renamed workspace', async () => {
    await applySeed(pool, demoSeed());
    const renamed = parseSeed({ workspaces: [{ id: 'demo', name: 'Demo 2', timeZone: 'UTC', plan: { version: 1, meters: {} } }] }, 'test seed');

    expect((await applySeed(pool, renamed)).workspacesWritten).toBe(1);

    const demo = (await loadWorkspaces(pool)).workspaces.find((workspace) => workspace.id === 'demo');
    expect(demo?.name).toBe('Demo 2');
    expect(demo?.timeZone).toBe('UTC');
  });

  it('applySeed › rejects a key that belongs to another workspace and writes nothing', async () => {
    await applySeed(pool, demoSeed());
    const stolen = parseSeed({ workspaces: [{ id: 'thief', name: 'Thief', apiKeys: [DEMO_KEY], plan: { version: 1, meters: {} } }] }, 'test seed');

    await expect(applySeed(pool, stolen)).rejects.toThrow('workspaces[0].apiKeys[0] already belongs to workspace "demo"');

    const ids = (await loadWorkspaces(pool)).workspaces.map((workspace) => workspace.id);
    expect(ids).toEqual(['demo', 'other']);
  });

  it('loadWorkspaces › gives a workspace without a plan version 0', async () => {
    await pool.query(`INSERT INTO workspaces (id, name) VALUES ('bare', 'Bare')`);

    const loaded = await loadWorkspaces(pool);

    expect(loaded.workspaces).toEqual([{ id: 'bare', name: 'Bare', timeZone: 'UTC', plan: { workspaceId: 'bare', timeZone: 'UTC', version: 0, meters: {} } }]);
  });

  it('loadWorkspaces › names a stored plan that breaks the rules', async () => {
    await applySeed(pool, demoSeed());
    await pool.query(`INSERT INTO plans (workspace_id, version, meters) VALUES ('demo', 5, '{"tokens": {"day": "lots"}}')`);

    await expect(loadWorkspaces(pool)).rejects.toThrow('plan 5 of workspace "demo" in PostgreSQL is invalid: meters.tokens.day must be a positive number');
  });

  it('loadCatalogs › converts the old form with catalogFromPlan', async () => {
    await applySeed(pool, demoSeed());

    const [demo] = await loadCatalogs(pool);

    expect(demo).toEqual({
      workspaceId: 'demo',
      timeZone: 'Europe/Berlin',
      version: 1,
      meters: { tokens: { key: 'tokens', unit: 'tokens', aggregation: 'sum', displayName: 'tokens' } },
      plans: {
        default: [
          {
            planId: 'default',
            version: 1,
            name: 'Default',
            limits: [
              { id: 'tokens-day', meter: 'tokens', amount: 20_000, period: 'day', window: 'calendar', enforcement: 'hard', overage: 'record', credits: false },
              { id: 'tokens-month', meter: 'tokens', amount: 400_000, period: 'month', window: 'calendar', enforcement: 'hard', overage: 'record', credits: false },
            ],
          },
        ],
      },
      defaultPlanId: 'default',
    });
  });

  it('applySeed › publishes a changed catalog-form plan as its next version', async () => {
    const seedWith = (dayAmount: number) =>
      parseSeed(
        {
          workspaces: [
            {
              id: 'demo',
              name: 'Demo',
              apiKeys: [DEMO_KEY],
              meters: { tokens: { unit: 'tokens', aggregation: 'sum', displayName: 'Tokens' } },
              plans: { free: { name: 'Free', limits: [{ id: 'tokens-day', meter: 'tokens', amount: dayAmount, period: 'day' }] } },
              defaultPlanId: 'free',
            },
          ],
        },
        'test seed',
      );

    expect((await applySeed(pool, seedWith(1_000))).catalogsChanged).toBe(1);
    expect((await applySeed(pool, seedWith(1_000))).catalogsChanged).toBe(0);
    expect((await applySeed(pool, seedWith(2_000))).catalogsChanged).toBe(1);

    const [demo] = await loadCatalogs(pool);
    expect(demo?.version).toBe(2);
    expect(demo?.defaultPlanId).toBe('free');
    expect(demo?.plans.free?.map((version) => [version.version, version.limits[0]?.amount])).toEqual([
      [1, 1_000],
      [2, 2_000],
    ]);
    // The old plans table gets the default plan's day and month limits, for readers of the old form.
    expect((await loadWorkspaces(pool)).workspaces[0]?.plan).toEqual({ workspaceId: 'demo', timeZone: 'UTC', version: 2, meters: { tokens: { day: 2_000 } } });
  });

  it('applySeed › keeps catalog changes made after an unchanged seed', async () => {
    const seed = parseSeed(
      {
        workspaces: [
          {
            id: 'demo',
            name: 'Demo',
            apiKeys: [DEMO_KEY],
            meters: { tokens: { unit: 'tokens', aggregation: 'sum', displayName: 'Tokens' } },
            plans: {
              free: { name: 'Free', limits: [{ id: 'tokens-day', meter: 'tokens', amount: 1_000, period: 'day' }] },
              pro: { name: 'Pro', limits: [{ id: 'tokens-day', meter: 'tokens', amount: 5_000, period: 'day' }] },
            },
            defaultPlanId: 'free',
          },
        ],
      },
      'test seed',
    );
    await applySeed(pool, seed);
    await setDefaultPlan(pool, 'demo', 'pro');
    await publishPlanVersion(pool, 'demo', { planId: 'free', name: 'Free', limits: [{ id: 'tokens-day', meter: 'tokens', amount: 1_500, period: 'day' }] });

    // A restart applies the same seed file again.
    expect((await applySeed(pool, seed)).catalogsChanged).toBe(0);
    const [demo] = await loadCatalogs(pool);
    expect(demo?.defaultPlanId).toBe('pro');
    expect(demo?.plans.free?.map((version) => version.limits[0]?.amount)).toEqual([1_000, 1_500]);
  });

  it('applySeed › applies the local seed file', async () => {
    const seed = await readSeedFile(new URL('../../../deploy/local/seed.json', import.meta.url).pathname);

    expect((await applySeed(pool, seed)).catalogsChanged).toBe(1);

    const [demo] = await loadCatalogs(pool);
    expect(demo?.defaultPlanId).toBe('free');
    expect(Object.keys(demo?.plans ?? {}).sort()).toEqual(['free', 'pro']);
    expect(demo?.meters.requests?.aggregation).toBe('count');
    expect(demo?.plans.pro?.[0]?.limits.find((limit) => limit.credits)?.amount).toBe(1_200_000);
  });

  it('plan_versions › rejects an update of a published version', async () => {
    await applySeed(pool, demoSeed());

    await expect(pool.query(`UPDATE plan_versions SET name = 'Changed' WHERE workspace_id = 'demo'`)).rejects.toThrow(
      'plan version 1 of plan "default" in workspace "demo" is published and cannot change: publish a new version instead',
    );
  });

  it('loadCatalogs › names an invalid stored limit', async () => {
    await applySeed(pool, demoSeed());
    await pool.query(
      `INSERT INTO plan_versions (workspace_id, plan_id, version, name, limits)
       VALUES ('demo', 'default', 2, 'Broken', '[{"id": "x", "meter": "videos", "amount": 5, "period": "day"}]')`,
    );

    await expect(loadCatalogs(pool)).rejects.toThrow('invalid catalog of workspace "demo" in PostgreSQL (fix the rows or publish a new plan version): plans.default[1].limits[0].meter is not a defined meter: use one of tokens');
  });
});
