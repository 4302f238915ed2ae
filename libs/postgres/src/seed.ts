import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import type pg from 'pg';

import type { Logger } from '@vevee/platform';

import { parseSeed, SeedError, type Seed, type SeedWorkspace } from './seed-validation';
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
  plansInserted: number;
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

async function insertPlan(client: pg.PoolClient, workspace: SeedWorkspace, logger: Logger | undefined): Promise<number> {
  const meters = JSON.stringify(workspace.plan.meters);
  const inserted = await client.query(
    'INSERT INTO plans (workspace_id, version, meters) VALUES ($1, $2, $3::jsonb) ON CONFLICT (workspace_id, version) DO NOTHING',
    [workspace.id, workspace.plan.version, meters],
  );
  if (inserted.rowCount === 0) {
    const existing = await client.query<{ same: boolean }>(
      'SELECT meters = $3::jsonb AS same FROM plans WHERE workspace_id = $1 AND version = $2',
      [workspace.id, workspace.plan.version, meters],
    );
    if (existing.rows[0]?.same === false) {
      logger?.warn(
        { workspaceId: workspace.id, planVersion: workspace.plan.version },
        'seed plan differs from the stored plan of the same version, which is kept because plan versions never change: raise the version in the seed file',
      );
    }
  }
  return inserted.rowCount ?? 0;
}

/**
 * Writes the seed's workspaces, API key hashes and plans in one transaction.
 * Idempotent: an unchanged workspace is not rewritten, present keys are kept,
 * and a plan version that exists is left as it is (plan versions are
 * immutable, so a changed plan needs a new version). Nothing absent from the
 * seed is deleted. A key that belongs to another workspace fails the whole seed.
 */
export async function applySeed(pool: pg.Pool, seed: Seed, logger?: Logger): Promise<SeedResult> {
  const result: SeedResult = { workspacesWritten: 0, apiKeysInserted: 0, plansInserted: 0 };
  await withTransaction(pool, async (client) => {
    for (const [index, workspace] of seed.workspaces.entries()) {
      result.workspacesWritten += await upsertWorkspace(client, workspace);
      result.apiKeysInserted += await insertApiKeys(client, workspace, index);
      result.plansInserted += await insertPlan(client, workspace, logger);
    }
  });
  logger?.info({ ...result, workspaces: seed.workspaces.length }, 'seed applied');
  return result;
}
