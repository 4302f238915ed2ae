import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import type pg from 'pg';

import type { Logger } from '@vevee/platform';

import { latestPlanVersion, type LimitDefinition, type MeterLimits } from '@vevee/domain';

import { loadCatalog } from './catalog';
import { parseSeed, seedCatalogOf, SeedError, type Seed, type SeedCatalog, type SeedWorkspace } from './seed-validation';
import { withTransaction } from './transaction';

/** Returns the SHA-256 of an API key as lowercase hex, the only form in which keys are stored. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Reads and validates a seed file. Every error names the file, and validation errors name the field too. */
export async function readSeedFile(file: string): Promise<Seed> {
  const source = path.resolve(file);
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (error) {
    throw new SeedError(source, [`the file cannot be read (${(error as Error).message}): check VEVEE_SEED_FILE`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SeedError(source, [`the file is not valid JSON: ${(error as Error).message}`]);
  }
  return parseSeed(value, source);
}

/** Row counts that applySeed wrote. A second run of the same seed reports zeros. */
export interface SeedResult {
  workspacesWritten: number;
  apiKeysInserted: number;
  /** Rows of the old `plans` table. */
  plansInserted: number;
  /** Workspaces whose catalog (meters, plan versions, default plan) changed, each raising its catalog_version by one. */
  catalogsChanged: number;
}

async function upsertWorkspace(client: pg.PoolClient, workspace: SeedWorkspace): Promise<number> {
  // The WHERE clause leaves an unchanged row alone, so a repeated seed writes nothing.
  const result = await client.query(
    `INSERT INTO workspaces (id, name, time_zone) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, time_zone = EXCLUDED.time_zone
     WHERE workspaces.name IS DISTINCT FROM EXCLUDED.name OR workspaces.time_zone IS DISTINCT FROM EXCLUDED.time_zone`,
    [workspace.id, workspace.name, workspace.timeZone],
  );
  return result.rowCount ?? 0;
}

async function insertApiKeys(client: pg.PoolClient, workspace: SeedWorkspace, index: number): Promise<number> {
  if (workspace.apiKeys.length === 0) return 0;
  const hashes = workspace.apiKeys.map(hashApiKey);
  const inserted = await client.query(
    `INSERT INTO api_keys (key_hash, workspace_id, label)
     SELECT key_hash, $2, 'seed' FROM unnest($1::text[]) AS key(key_hash)
     ON CONFLICT (key_hash) DO NOTHING`,
    [hashes, workspace.id],
  );

  const owners = await client.query<{ key_hash: string; workspace_id: string }>(
    'SELECT key_hash, workspace_id FROM api_keys WHERE key_hash = ANY($1::text[])',
    [hashes],
  );
  const problems: string[] = [];
  for (const owner of owners.rows) {
    if (owner.workspace_id !== workspace.id) {
      const keyIndex = hashes.indexOf(owner.key_hash);
      problems.push(
        `workspaces[${index}].apiKeys[${keyIndex}] already belongs to workspace "${owner.workspace_id}": a key belongs to one workspace, so use a new key`,
      );
    }
  }
  if (problems.length > 0) {
    throw new SeedError('(conflicts with stored API keys)', problems);
  }
  return inserted.rowCount ?? 0;
}

/**
 * Returns the calendar day and month hard limits of the default plan in the
 * old `plans` form, which the gateway's person usage query still reads.
 */
function oldFormOfDefaultPlan(catalog: SeedCatalog): Record<string, MeterLimits> {
  const meters: Record<string, MeterLimits> = {};
  for (const limit of catalog.plans[catalog.defaultPlanId]?.limits ?? []) {
    if (limit.window !== 'calendar' || limit.enforcement !== 'hard' || (limit.period !== 'day' && limit.period !== 'month')) continue;
    const limits = (meters[limit.meter] ??= {});
    limits[limit.period] = Math.min(limits[limit.period] ?? Infinity, limit.amount);
  }
  return meters;
}

async function insertPlan(client: pg.PoolClient, workspace: SeedWorkspace, logger: Logger | undefined): Promise<number> {
  let plan = workspace.plan;
  if (plan === undefined) {
    const version = await client.query<{ version: number }>(
      'SELECT max(version) AS version FROM plan_versions WHERE workspace_id = $1 AND plan_id = $2',
      [workspace.id, workspace.catalog?.defaultPlanId ?? ''],
    );
    const defaultVersion = version.rows[0]?.version;
    if (workspace.catalog === undefined || defaultVersion === undefined || defaultVersion === null) return 0;
    plan = { version: defaultVersion, meters: oldFormOfDefaultPlan(workspace.catalog) };
  }
  const meters = JSON.stringify(plan.meters);
  const inserted = await client.query(
    'INSERT INTO plans (workspace_id, version, meters) VALUES ($1, $2, $3::jsonb) ON CONFLICT (workspace_id, version) DO NOTHING',
    [workspace.id, plan.version, meters],
  );
  if (inserted.rowCount === 0 && workspace.plan !== undefined) {
    const existing = await client.query<{ same: boolean }>(
      'SELECT meters = $3::jsonb AS same FROM plans WHERE workspace_id = $1 AND version = $2',
      [workspace.id, plan.version, meters],
    );
    if (existing.rows[0]?.same === false) {
      logger?.warn(
        { workspaceId: workspace.id, planVersion: plan.version },
        'seed plan differs from the stored plan of the same version, which is kept because plan versions never change: raise the version in the seed file',
      );
    }
  }
  return inserted.rowCount ?? 0;
}

/** Returns limits in a form that compares equal whatever their order. */
function comparableLimits(limits: LimitDefinition[]): string {
  const sorted = [...limits].sort((left, right) => left.id.localeCompare(right.id));
  return JSON.stringify(
    sorted.map((limit) => [limit.id, limit.meter, limit.amount, limit.period, limit.window, limit.enforcement, limit.overage, limit.credits]),
  );
}

/**
 * Writes the seed's meters, plans and default plan where they differ from the
 * stored catalog, and raises catalog_version once when anything changed.
 * A plan of the catalog form gets its next version when its name or limits
 * differ from its latest version. A plan converted from the old form keeps
 * its version number, and an existing version is left as it is.
 */
async function applyCatalog(client: pg.PoolClient, workspace: SeedWorkspace): Promise<number> {
  const seed = seedCatalogOf(workspace);
  // An entry that was applied as it is now is skipped, so a restart keeps the changes made through GraphQL since.
  const seedHash = createHash('sha256').update(JSON.stringify(seed), 'utf8').digest('hex');
  const applied = await client.query<{ seed_catalog_hash: string | null }>('SELECT seed_catalog_hash FROM workspaces WHERE id = $1 FOR UPDATE', [workspace.id]);
  if (applied.rows[0]?.seed_catalog_hash === seedHash) return 0;
  await client.query('UPDATE workspaces SET seed_catalog_hash = $2 WHERE id = $1', [workspace.id, seedHash]);
  const current = (await loadCatalog(client, workspace.id))!;
  let changed = false;

  for (const meter of Object.values(seed.meters)) {
    const stored = current.meters[meter.key];
    if (stored !== undefined && (seed.converted || JSON.stringify(stored) === JSON.stringify(meter))) continue;
    await client.query(
      `INSERT INTO meters (workspace_id, key, unit, aggregation, display_name) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (workspace_id, key) DO UPDATE
       SET unit = EXCLUDED.unit, aggregation = EXCLUDED.aggregation, display_name = EXCLUDED.display_name, updated_at = now()`,
      [workspace.id, meter.key, meter.unit, meter.aggregation, meter.displayName],
    );
    changed = true;
  }

  for (const [planId, plan] of Object.entries(seed.plans)) {
    const latest = latestPlanVersion(current, planId);
    let version: number;
    if (plan.version !== undefined) {
      if (current.plans[planId]?.some((stored) => stored.version === plan.version)) continue;
      version = plan.version;
    } else {
      if (latest !== undefined && latest.name === plan.name && comparableLimits(latest.limits) === comparableLimits(plan.limits)) continue;
      version = (latest?.version ?? 0) + 1;
    }
    await client.query('INSERT INTO plan_versions (workspace_id, plan_id, version, name, limits) VALUES ($1, $2, $3, $4, $5::jsonb)', [
      workspace.id,
      planId,
      version,
      plan.name,
      JSON.stringify(plan.limits),
    ]);
    changed = true;
  }

  if (seed.defaultPlanId !== '' && seed.defaultPlanId !== current.defaultPlanId) {
    await client.query('UPDATE workspaces SET default_plan_id = $2 WHERE id = $1', [workspace.id, seed.defaultPlanId]);
    changed = true;
  }
  if (!changed) return 0;
  await client.query('UPDATE workspaces SET catalog_version = catalog_version + 1 WHERE id = $1', [workspace.id]);
  return 1;
}

/**
 * Writes the seed's workspaces, API key hashes, catalogs and old-form plans in one transaction.
 * Idempotent: an unchanged workspace is not rewritten, present keys are kept,
 * and a plan version that exists is left as it is (plan versions are
 * immutable, so a changed plan needs a new version). Nothing absent from the
 * seed is deleted. A key that belongs to another workspace fails the whole seed.
 */
export async function applySeed(pool: pg.Pool, seed: Seed, logger?: Logger): Promise<SeedResult> {
  const result: SeedResult = { workspacesWritten: 0, apiKeysInserted: 0, plansInserted: 0, catalogsChanged: 0 };
  await withTransaction(pool, async (client) => {
    for (const [index, workspace] of seed.workspaces.entries()) {
      result.workspacesWritten += await upsertWorkspace(client, workspace);
      result.apiKeysInserted += await insertApiKeys(client, workspace, index);
      result.catalogsChanged += await applyCatalog(client, workspace);
      result.plansInserted += await insertPlan(client, workspace, logger);
    }
  });
  logger?.info({ ...result, workspaces: seed.workspaces.length }, 'seed applied');
  return result;
}
