import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createTestEnvironment, type TestEnvironment } from '@vevee/testing';

import { CatalogInputError, MIGRATIONS_DIR, MIGRATIONS_TABLE, createPool, defineMeter, loadCatalog, loadCatalogs, migrate, publishPlanVersion, setDefaultPlan } from '../src';

const TOKENS_DAY = { id: 'tokens-day', meter: 'tokens', amount: 1_000, period: 'day', window: 'calendar', enforcement: 'hard', overage: 'record', credits: false };

async function problemsOf(change: Promise<unknown>): Promise<string[]> {
  const error = await change.catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(CatalogInputError);
  return (error as CatalogInputError).problems.map((problem) => `${problem.path} ${problem.message}`);
}

describe('catalog', () => {
  let environment: TestEnvironment;
  let pool: pg.Pool;

  beforeEach(async () => {
    environment = await createTestEnvironment();
    pool = createPool(environment.config.databaseUrl, 2);
  });

  afterEach(async () => {
    await pool.end();
    await environment.cleanup();
  });

  it('migration › converts old plans to plan default', async () => {
    await runner({ databaseUrl: environment.config.databaseUrl, dir: MIGRATIONS_DIR, migrationsTable: MIGRATIONS_TABLE, direction: 'up', count: 2, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    await pool.query(`INSERT INTO workspaces (id, name) VALUES ('acme', 'Acme')`);
    await pool.query(`INSERT INTO plans (workspace_id, version, meters) VALUES ('acme', 1, '{"tokens": {"day": 10}}'), ('acme', 3, '{"tokens": {"day": 20, "month": 300}}')`);

    await migrate(environment.config.databaseUrl);

    const acme = await loadCatalog(pool, 'acme');
    expect(acme?.version).toBe(3);
    expect(acme?.defaultPlanId).toBe('default');
    expect(acme?.meters).toEqual({ tokens: { key: 'tokens', unit: 'tokens', aggregation: 'sum', displayName: 'tokens' } });
    expect(acme?.plans.default?.map((version) => [version.version, version.limits.map((limit) => `${limit.id}=${limit.amount}`)])).toEqual([
      [1, ['tokens-day=10']],
      [3, ['tokens-day=20', 'tokens-month=300']],
    ]);
  });

  describe('changes', () => {
    beforeEach(async () => {
      await migrate(environment.config.databaseUrl);
      await pool.query(`INSERT INTO workspaces (id, name) VALUES ('acme', 'Acme')`);
    });

    it('publishPlanVersion › adds versions and keeps older ones', async () => {
      const defined = await defineMeter(pool, 'acme', { key: 'tokens', unit: 'tokens', aggregation: 'sum' });
      expect(defined.meter).toEqual({ key: 'tokens', unit: 'tokens', aggregation: 'sum', displayName: 'tokens' });
      expect(defined.catalog.version).toBe(1);

      const first = await publishPlanVersion(pool, 'acme', { planId: 'free', name: 'Free', limits: [TOKENS_DAY] });
      const second = await publishPlanVersion(pool, 'acme', { planId: 'free', name: 'Free', limits: [{ ...TOKENS_DAY, amount: 2_000 }] });

      expect(first.planVersion.version).toBe(1);
      expect(second.planVersion.version).toBe(2);
      expect(second.catalog.version).toBe(3);
      // The first plan of a workspace becomes its default plan.
      expect(second.catalog.defaultPlanId).toBe('free');
      expect(second.catalog.plans.free?.map((version) => version.limits[0]?.amount)).toEqual([1_000, 2_000]);
      expect(await loadCatalogs(pool)).toEqual([second.catalog]);
    });

    it('setDefaultPlan › switches to a published plan', async () => {
      await defineMeter(pool, 'acme', { key: 'tokens', unit: 'tokens' });
      await publishPlanVersion(pool, 'acme', { planId: 'free', name: 'Free', limits: [TOKENS_DAY] });
      await publishPlanVersion(pool, 'acme', { planId: 'pro', name: 'Pro', limits: [{ ...TOKENS_DAY, amount: 50_000 }] });

      const catalog = await setDefaultPlan(pool, 'acme', 'pro');

      expect(catalog.defaultPlanId).toBe('pro');
      expect(catalog.version).toBe(4);
    });

    it('rejects invalid input and changes nothing', async () => {
      await defineMeter(pool, 'acme', { key: 'tokens', unit: 'tokens' });

      expect(await problemsOf(defineMeter(pool, 'acme', { key: 'to ken', unit: '', aggregation: 'avg' }))).toEqual([
        `input.key is an invalid meter key: use 1 to 64 letters, digits, '_', '.' or '-', like "tokens"`,
        `input.unit is invalid: use 1 to 32 letters, digits, '_', '.' or '-' starting with a letter, like "tokens" or "USD"`,
        'input.aggregation must be one of sum, count',
      ]);
      expect(await problemsOf(publishPlanVersion(pool, 'acme', { planId: 'free plan', name: '', limits: [] }))).toEqual([
        `planId is an invalid plan id: use 1 to 64 letters, digits, '_' or '-', like "pro"`,
        'name must be a name of 1 to 100 characters without control characters',
      ]);
      expect(
        await problemsOf(publishPlanVersion(pool, 'acme', { planId: 'free', name: 'Free', limits: [TOKENS_DAY, { ...TOKENS_DAY, meter: 'images', amount: -1 }] })),
      ).toEqual([
        'limits[1].meter is not a defined meter: use one of tokens',
        'limits[1].amount must be a number above 0 and at most 1000000000000000',
        'limits[1].id repeats the id "tokens-day" of limits[0]: give each limit of a plan version its own id',
      ]);
      expect(await problemsOf(publishPlanVersion(pool, 'acme', { planId: 'team', name: 'Team', limits: [] }))).toEqual([
        'limits is empty: give the plan version at least one limit, for example a high monthly limit on each meter its subscribers use',
      ]);
      expect(await problemsOf(setDefaultPlan(pool, 'acme', 'gold'))).toEqual(['planId is not a published plan: use one of (none yet: publish a plan version first)']);

      const catalog = await loadCatalog(pool, 'acme');
      expect(catalog?.version).toBe(1);
      expect(catalog?.plans).toEqual({});
    });
  });
});
