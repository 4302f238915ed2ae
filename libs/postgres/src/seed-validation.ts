import type { Period } from '@vevee/contracts';
import { PERIODS, catalogFromPlan, isValidTimeZone, type LimitDefinition, type MeterDefinition, type MeterLimits } from '@vevee/domain';

import { checkMeterKey, checkName, checkPlanId, parseLimits, parseMeterDefinition, Problems } from './catalog-validation';

/** The workspaces, API keys and plans that a seed file declares. */
export interface Seed {
  workspaces: SeedWorkspace[];
}

export interface SeedWorkspace {
  /** Letters, digits, `_` and `-`. It is part of every ledger key, so it contains no `:`. */
  id: string;
  name: string;
  /** IANA zone name, `UTC` when the file leaves it out. */
  timeZone: string;
  /** API keys in clear text, as the file contains them. Only their SHA-256 is stored. */
  apiKeys: string[];
  /** The old form's single plan, which is also written to the `plans` table; absent in the catalog form. */
  plan?: SeedPlan;
  /** Meters and plans of the catalog form; absent in the old form, whose plan seedCatalogOf converts. */
  catalog?: SeedCatalog;
}

/** A plan of the seed. `version` is set only for a plan converted from the old form. */
export interface SeedPlanDefinition {
  name: string;
  limits: LimitDefinition[];
  version?: number;
}

export interface SeedCatalog {
  meters: Record<string, MeterDefinition>;
  plans: Record<string, SeedPlanDefinition>;
  /** The default plan's id; empty when the seed declares no plan. */
  defaultPlanId: string;
  /** True for a catalog converted from the old form: its meters never replace stored definitions. */
  converted: boolean;
}

export interface SeedPlan {
  version: number;
  meters: Record<string, MeterLimits>;
}

/** Every problem of a seed file at once, each naming the field and the file. */
export class SeedError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid seed ${source}:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'SeedError';
  }
}

export const WORKSPACE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const METER_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** The minimum key length, because short keys are easy to guess. Generated keys are far longer. */
export const MIN_API_KEY_LENGTH = 16;

const WORKSPACE_FIELDS = ['id', 'name', 'timeZone', 'apiKeys', 'plan', 'meters', 'plans', 'defaultPlanId'];
const PLAN_FIELDS = ['version', 'meters'];
const CATALOG_PLAN_FIELDS = ['name', 'limits'];

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseMeterLimits(value: unknown, path: string, problems: Problems): MeterLimits {
  const limits: MeterLimits = {};
  if (!isObject(value)) {
    problems.add(path, `must be an object of limits per period, like {"day": 20000}`);
    return limits;
  }
  for (const [period, amount] of Object.entries(value)) {
    if (!(PERIODS as readonly string[]).includes(period)) {
      problems.add(`${path}.${period}`, `is not a known period: use ${PERIODS.join(' or ')}`);
      continue;
    }
    if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0) {
      problems.add(`${path}.${period}`, 'must be a positive number');
      continue;
    }
    limits[period as Period] = amount;
  }
  return limits;
}

function parseMeters(value: unknown, path: string, problems: Problems): Record<string, MeterLimits> {
  const meters: Record<string, MeterLimits> = {};
  if (!isObject(value)) {
    problems.add(path, 'must be an object of meters, like {"tokens": {"day": 20000}}');
    return meters;
  }
  for (const [meter, limits] of Object.entries(value)) {
    if (!METER_NAME_PATTERN.test(meter)) {
      problems.add(`${path}.${meter}`, `has an invalid meter name: use 1 to 64 letters, digits, '_', '.' or '-'`);
      continue;
    }
    meters[meter] = parseMeterLimits(limits, `${path}.${meter}`, problems);
  }
  return meters;
}

function parsePlan(value: unknown, path: string, problems: Problems): SeedPlan {
  if (!isObject(value)) {
    problems.add(path, 'must be an object with version and meters');
    return { version: 0, meters: {} };
  }
  problems.rejectUnknownFields(path, value, PLAN_FIELDS);
  const version = value.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > 2_147_483_647) {
    problems.add(`${path}.version`, 'must be a positive integer');
  }
  return { version: version as number, meters: parseMeters(value.meters, `${path}.meters`, problems) };
}

function parseApiKeys(value: unknown, path: string, problems: Problems): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.add(path, 'must be an array of key strings');
    return [];
  }
  value.forEach((key: unknown, index) => {
    if (typeof key !== 'string' || key.length < MIN_API_KEY_LENGTH || /\s/.test(key)) {
      problems.add(`${path}[${index}]`, `must be a string of at least ${MIN_API_KEY_LENGTH} characters without spaces`);
    }
  });
  return value.filter((key): key is string => typeof key === 'string');
}

function requiredString(value: Json, field: string, path: string, problems: Problems): string {
  const text = value[field];
  if (typeof text !== 'string' || text.trim() === '') {
    problems.add(`${path}.${field}`, 'must be a non-empty string');
    return '';
  }
  return text;
}

function parseCatalogPlans(value: unknown, path: string, meters: Record<string, MeterDefinition>, problems: Problems): Record<string, SeedPlanDefinition> {
  const plans: Record<string, SeedPlanDefinition> = {};
  if (!isObject(value)) {
    problems.add(path, 'must be an object of plans by id, like {"free": {"name": "Free", "limits": [...]}}');
    return plans;
  }
  for (const [planId, plan] of Object.entries(value)) {
    const planPath = `${path}.${planId}`;
    checkPlanId(planId, planPath, problems);
    if (!isObject(plan)) {
      problems.add(planPath, 'must be an object with name and limits');
      continue;
    }
    problems.rejectUnknownFields(planPath, plan, CATALOG_PLAN_FIELDS);
    plans[planId] = { name: checkName(plan.name, `${planPath}.name`, problems), limits: parseLimits(plan.limits, `${planPath}.limits`, meters, problems) };
  }
  return plans;
}

/** Parses the catalog form: meters with unit, aggregation and displayName, plans with limits, and defaultPlanId. */
function parseCatalogForm(value: Json, path: string, problems: Problems): SeedCatalog {
  const meters: Record<string, MeterDefinition> = {};
  if (isObject(value.meters)) {
    for (const [key, meter] of Object.entries(value.meters)) {
      checkMeterKey(key, `${path}.meters.${key}`, problems);
      meters[key] = parseMeterDefinition(meter, `${path}.meters.${key}`, problems, key, true);
    }
  } else if (value.meters !== undefined) {
    problems.add(`${path}.meters`, 'must be an object of meters by key, like {"tokens": {"unit": "tokens", "aggregation": "sum", "displayName": "Tokens"}}');
  }
  const plans = value.plans === undefined ? {} : parseCatalogPlans(value.plans, `${path}.plans`, meters, problems);

  const planIds = Object.keys(plans);
  const defaultPlanId = value.defaultPlanId ?? (planIds.length === 1 ? planIds[0] : undefined);
  if (planIds.length > 0 && (typeof defaultPlanId !== 'string' || plans[defaultPlanId] === undefined)) {
    problems.add(`${path}.defaultPlanId`, `must name one of the plans (${planIds.join(', ')}): it is the plan of persons without a subscription`);
  } else if (planIds.length === 0 && value.defaultPlanId !== undefined) {
    problems.add(`${path}.defaultPlanId`, 'names a plan, but the workspace declares no plans: add the plan under "plans"');
  }
  return { meters, plans, defaultPlanId: (defaultPlanId as string | undefined) ?? '', converted: false };
}

/** Returns a workspace's catalog: the catalog form as it is, or the old form's plan converted with catalogFromPlan, keeping its version number. */
export function seedCatalogOf(workspace: SeedWorkspace): SeedCatalog {
  if (workspace.catalog !== undefined) return workspace.catalog;
  const plan = workspace.plan ?? { version: 1, meters: {} };
  const catalog = catalogFromPlan({ workspaceId: workspace.id, timeZone: workspace.timeZone, version: plan.version, meters: plan.meters });
  const plans: Record<string, SeedPlanDefinition> = {};
  for (const [planId, versions] of Object.entries(catalog.plans)) {
    const latest = versions[versions.length - 1]!;
    plans[planId] = { name: latest.name, limits: latest.limits, version: latest.version };
  }
  return { meters: catalog.meters, plans, defaultPlanId: catalog.defaultPlanId, converted: true };
}

function parseWorkspace(value: unknown, path: string, problems: Problems): SeedWorkspace | undefined {
  if (!isObject(value)) {
    problems.add(path, 'must be an object with id, name, timeZone, apiKeys, meters, plans and defaultPlanId');
    return undefined;
  }
  problems.rejectUnknownFields(path, value, WORKSPACE_FIELDS);

  const id = requiredString(value, 'id', path, problems);
  if (id !== '' && !WORKSPACE_ID_PATTERN.test(id)) {
    problems.add(`${path}.id`, `is invalid: use 1 to 64 letters, digits, '_' or '-'`);
  }
  const name = requiredString(value, 'name', path, problems);

  const timeZone = value.timeZone ?? 'UTC';
  if (typeof timeZone !== 'string' || !isValidTimeZone(timeZone)) {
    problems.add(`${path}.timeZone`, `must be an IANA time zone name, like "UTC" or "Europe/Berlin"`);
  }

  const apiKeys = parseApiKeys(value.apiKeys, `${path}.apiKeys`, problems);
  if (value.plan === undefined) {
    return { id, name, timeZone: timeZone as string, apiKeys, catalog: parseCatalogForm(value, path, problems) };
  }

  for (const field of ['meters', 'plans', 'defaultPlanId']) {
    if (value[field] !== undefined) {
      problems.add(`${path}.${field}`, 'cannot be combined with "plan": use either the old "plan" form or meters, plans and defaultPlanId');
    }
  }
  return { id, name, timeZone: timeZone as string, apiKeys, plan: parsePlan(value.plan, `${path}.plan`, problems) };
}

function rejectDuplicates(workspaces: SeedWorkspace[], problems: Problems): void {
  const ids = new Map<string, number>();
  const keys = new Map<string, string>();
  workspaces.forEach((workspace, index) => {
    const first = ids.get(workspace.id);
    if (first !== undefined && workspace.id !== '') {
      problems.add(`workspaces[${index}].id`, `repeats the id of workspaces[${first}]: each workspace needs its own id`);
    }
    ids.set(workspace.id, first ?? index);
    workspace.apiKeys.forEach((key, keyIndex) => {
      const path = `workspaces[${index}].apiKeys[${keyIndex}]`;
      const firstPath = keys.get(key);
      if (firstPath !== undefined) {
        problems.add(path, `repeats the key of ${firstPath}: a key belongs to one workspace`);
      }
      keys.set(key, firstPath ?? path);
    });
  });
}

/**
 * Validates a parsed seed file. Throws a SeedError that lists every problem,
 * each naming the field path (`workspaces[0].plan.meters.tokens.day`) and `source`.
 */
export function parseSeed(value: unknown, source: string): Seed {
  const problems = new Problems();
  if (!isObject(value)) {
    throw new SeedError(source, ['the file must hold a JSON object with a "workspaces" array']);
  }
  problems.rejectUnknownFields('', value, ['workspaces']);
  if (!Array.isArray(value.workspaces)) {
    problems.add('workspaces', 'must be an array');
    throw new SeedError(source, problems.lines());
  }

  const workspaces: SeedWorkspace[] = [];
  value.workspaces.forEach((workspace: unknown, index) => {
    const parsed = parseWorkspace(workspace, `workspaces[${index}]`, problems);
    if (parsed !== undefined) workspaces.push(parsed);
  });
  rejectDuplicates(workspaces, problems);

  if (problems.list.length > 0) {
    throw new SeedError(source, problems.lines());
  }
  return { workspaces };
}

/**
 * Validates the meters of a plan row read back from PostgreSQL with the rules
 * of the seed file. `row` names the row in the error, like `plan 3 of workspace demo`.
 */
export function parseStoredMeters(value: unknown, row: string): Record<string, MeterLimits> {
  const problems = new Problems();
  const meters = parseMeters(value, 'meters', problems);
  if (problems.list.length > 0) {
    throw new Error(`${row} in PostgreSQL is invalid: ${problems.lines().join('; ')}; fix the row or insert a new plan version`);
  }
  return meters;
}
