import type pg from 'pg';

import { latestPlanVersion, type LimitDefinition, type MeterDefinition, type PlanVersion, type WorkspaceCatalog } from '@vevee/domain';

import { checkName, checkPlanId, parseLimits, parseMeterDefinition, parseWorkspaceCatalog, Problems, type CatalogProblem } from './catalog-validation';
import { withTransaction } from './transaction';

type Queryable = pg.Pool | pg.PoolClient;

interface WorkspaceRow {
  id: string;
  time_zone: string;
  default_plan_id: string | null;
  catalog_version: string;
}

interface MeterRow {
  workspace_id: string;
  key: string;
  unit: string;
  aggregation: string;
  display_name: string;
}

interface PlanVersionRow {
  workspace_id: string;
  plan_id: string;
  version: number;
  name: string;
  limits: unknown;
}

/** Builds and validates the catalogs of `workspaces` from their meter and plan version rows. */
function assembleCatalogs(workspaces: WorkspaceRow[], meterRows: MeterRow[], planRows: PlanVersionRow[]): WorkspaceCatalog[] {
  return workspaces.map((workspace) => {
    const meters: Record<string, unknown> = {};
    for (const row of meterRows) {
      if (row.workspace_id !== workspace.id) continue;
      meters[row.key] = { key: row.key, unit: row.unit, aggregation: row.aggregation, displayName: row.display_name };
    }
    const plans: Record<string, unknown[]> = {};
    for (const row of planRows) {
      if (row.workspace_id !== workspace.id) continue;
      (plans[row.plan_id] ??= []).push({ planId: row.plan_id, version: row.version, name: row.name, limits: row.limits });
    }
    const stored = {
      workspaceId: workspace.id,
      timeZone: workspace.time_zone,
      version: Number(workspace.catalog_version),
      meters,
      plans,
      defaultPlanId: workspace.default_plan_id ?? '',
    };
    return parseWorkspaceCatalog(stored, `of workspace "${workspace.id}" in PostgreSQL (fix the rows or publish a new plan version)`);
  });
}

async function queryCatalogs(database: Queryable, workspaceId: string | undefined): Promise<WorkspaceCatalog[]> {
  const filter = workspaceId === undefined ? '' : 'WHERE workspace_id = $1';
  const values = workspaceId === undefined ? [] : [workspaceId];
  const workspaces = await database.query<WorkspaceRow>(
    `SELECT id, time_zone, default_plan_id, catalog_version::text FROM workspaces ${workspaceId === undefined ? '' : 'WHERE id = $1'} ORDER BY id`,
    values,
  );
  const meters = await database.query<MeterRow>(`SELECT workspace_id, key, unit, aggregation, display_name FROM meters ${filter} ORDER BY workspace_id, key`, values);
  const plans = await database.query<PlanVersionRow>(
    `SELECT workspace_id, plan_id, version, name, limits FROM plan_versions ${filter} ORDER BY workspace_id, plan_id, version`,
    values,
  );
  return assembleCatalogs(workspaces.rows, meters.rows, plans.rows);
}

/**
 * Reads every workspace's catalog: meters, every plan version and the default
 * plan, at the workspace's catalog_version. Throws a CatalogError that names
 * the workspace and field when a stored row is invalid.
 */
export async function loadCatalogs(pool: pg.Pool): Promise<WorkspaceCatalog[]> {
  // One snapshot, so meters and plan versions agree with catalog_version.
  return withTransaction(pool, async (client) => {
    await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return queryCatalogs(client, undefined);
  });
}

/** Reads one workspace's catalog, or undefined for an unknown workspace. */
export async function loadCatalog(database: Queryable, workspaceId: string): Promise<WorkspaceCatalog | undefined> {
  return (await queryCatalogs(database, workspaceId))[0];
}

/** A catalog change that the workspace's catalog rejects; each problem names an input field and the fix. */
export class CatalogInputError extends Error {
  constructor(readonly problems: CatalogProblem[]) {
    super(problems.map((problem) => `${problem.path} ${problem.message}`).join('; '));
    this.name = 'CatalogInputError';
  }
}

function throwIfAny(problems: Problems): void {
  if (problems.list.length > 0) throw new CatalogInputError(problems.list);
}

/**
 * Runs one catalog change in a transaction: locks the workspace row, so
 * changes of one workspace run one after another, lets `change` validate and
 * write, raises catalog_version by one, and returns the new catalog.
 */
async function changeCatalog(
  pool: pg.Pool,
  workspaceId: string,
  change: (client: pg.PoolClient, current: WorkspaceCatalog) => Promise<void>,
): Promise<WorkspaceCatalog> {
  return withTransaction(pool, async (client) => {
    const locked = await client.query('SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE', [workspaceId]);
    if (locked.rowCount === 0) throw new Error(`workspace "${workspaceId}" not found in PostgreSQL: apply a seed that declares it`);
    const current = await loadCatalog(client, workspaceId);
    await change(client, current!);
    await client.query('UPDATE workspaces SET catalog_version = catalog_version + 1 WHERE id = $1', [workspaceId]);
    return (await loadCatalog(client, workspaceId))!;
  });
}

/** Input of defineMeter: the fields of a MeterDefinition. */
export type MeterInput = Record<string, unknown>;

/** Creates a meter, or replaces the unit, aggregation and display name of an existing one. */
export async function defineMeter(pool: pg.Pool, workspaceId: string, input: MeterInput): Promise<{ meter: MeterDefinition; catalog: WorkspaceCatalog }> {
  const problems = new Problems();
  const meter = parseMeterDefinition(input, 'input', problems, undefined, true);
  throwIfAny(problems);
  const catalog = await changeCatalog(pool, workspaceId, async (client) => {
    await client.query(
      `INSERT INTO meters (workspace_id, key, unit, aggregation, display_name) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (workspace_id, key) DO UPDATE
       SET unit = EXCLUDED.unit, aggregation = EXCLUDED.aggregation, display_name = EXCLUDED.display_name, updated_at = now()`,
      [workspaceId, meter.key, meter.unit, meter.aggregation, meter.displayName],
    );
  });
  return { meter, catalog };
}

/**
 * Publishes the next version of a plan (version 1 for a new plan). Older
 * versions never change. A workspace without a default plan gets this plan as its default.
 */
export async function publishPlanVersion(
  pool: pg.Pool,
  workspaceId: string,
  input: { planId: unknown; name: unknown; limits: unknown },
): Promise<{ planVersion: PlanVersion; catalog: WorkspaceCatalog }> {
  const problems = new Problems();
  const planId = checkPlanId(input.planId, 'planId', problems);
  const name = checkName(input.name, 'name', problems);
  throwIfAny(problems);

  let planVersion: PlanVersion | undefined;
  const catalog = await changeCatalog(pool, workspaceId, async (client, current) => {
    const limits: LimitDefinition[] = parseLimits(input.limits, 'limits', current.meters, problems);
    if (Array.isArray(input.limits) && input.limits.length === 0) {
      // Every reserve of a subscriber would fail: a meter without a limit in the plan is refused.
      problems.add('limits', 'is empty: give the plan version at least one limit, for example a high monthly limit on each meter its subscribers use');
    }
    throwIfAny(problems);
    const version = (latestPlanVersion(current, planId)?.version ?? 0) + 1;
    planVersion = { planId, version, name, limits };
    await client.query('INSERT INTO plan_versions (workspace_id, plan_id, version, name, limits) VALUES ($1, $2, $3, $4, $5::jsonb)', [
      workspaceId,
      planId,
      version,
      name,
      JSON.stringify(limits),
    ]);
    if (current.defaultPlanId === '') {
      await client.query('UPDATE workspaces SET default_plan_id = $2 WHERE id = $1', [workspaceId, planId]);
    }
  });
  return { planVersion: planVersion!, catalog };
}

/** Makes a published plan the plan of persons without an active subscription. */
export async function setDefaultPlan(pool: pg.Pool, workspaceId: string, planId: unknown): Promise<WorkspaceCatalog> {
  const problems = new Problems();
  checkPlanId(planId, 'planId', problems);
  throwIfAny(problems);
  return changeCatalog(pool, workspaceId, async (client, current) => {
    if (current.plans[planId as string] === undefined) {
      const known = Object.keys(current.plans);
      problems.add('planId', `is not a published plan: use one of ${known.length === 0 ? '(none yet: publish a plan version first)' : known.join(', ')}`);
      throwIfAny(problems);
    }
    await client.query('UPDATE workspaces SET default_plan_id = $2 WHERE id = $1', [workspaceId, planId]);
  });
}
