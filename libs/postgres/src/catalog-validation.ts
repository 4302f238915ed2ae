import { LIMIT_PERIODS, type Period } from '@vevee/contracts';
import {
  isValidTimeZone,
  type Aggregation,
  type Enforcement,
  type LimitDefinition,
  type MeterDefinition,
  type PlanVersion,
  type WindowKind,
  type WorkspaceCatalog,
} from '@vevee/domain';

/** Meter keys: what the SDK passes as `meter`. */
export const METER_KEY_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** Free text such as `tokens` or `requests`, or a currency code such as `USD`. */
export const UNIT_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,31}$/;
export const PLAN_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const LIMIT_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** The largest limit amount, the same bound as the RPC API's quantities. */
export const MAX_LIMIT_AMOUNT = 1e15;
export const MAX_LIMITS_PER_PLAN = 100;
const MAX_NAME_LENGTH = 100;
const NAME_PATTERN = /^[^\p{Cc}]+$/u;

export const AGGREGATIONS: readonly Aggregation[] = ['sum', 'count'];
export const WINDOW_KINDS: readonly WindowKind[] = ['calendar', 'anchored'];
export const ENFORCEMENTS: readonly Enforcement[] = ['hard', 'soft'];
export const OVERAGE_POLICIES: readonly LimitDefinition['overage'][] = ['record', 'cap'];

const METER_FIELDS = ['key', 'unit', 'aggregation', 'displayName'];
const LIMIT_FIELDS = ['id', 'meter', 'amount', 'period', 'window', 'enforcement', 'overage', 'credits'];

type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One invalid field: its path, like `limits[1].amount`, and what is wrong with it and how to fix it. */
export interface CatalogProblem {
  path: string;
  message: string;
}

/** Collects problems while the validators walk a value, each with its field path. */
export class Problems {
  readonly list: CatalogProblem[] = [];

  add(path: string, message: string): void {
    this.list.push({ path, message });
  }

  rejectUnknownFields(path: string, value: Json, known: string[]): void {
    for (const field of Object.keys(value)) {
      if (!known.includes(field)) {
        this.add(path === '' ? field : `${path}.${field}`, `is not a known field: use ${known.join(', ')}`);
      }
    }
  }

  /** Returns every problem as `path message`, in the order found. */
  lines(): string[] {
    return this.list.map((problem) => `${problem.path} ${problem.message}`);
  }
}

/** Returns the value if it is one of `allowed`, otherwise records a problem naming the choices. */
function oneOf<T extends string>(value: unknown, allowed: readonly T[], path: string, problems: Problems): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    problems.add(path, `must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/** Validates a display or plan name: 1 to 100 characters without control characters. */
export function checkName(value: unknown, path: string, problems: Problems): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_NAME_LENGTH || !NAME_PATTERN.test(value)) {
    problems.add(path, `must be a name of 1 to ${MAX_NAME_LENGTH} characters without control characters`);
  }
  return value as string;
}

export function checkMeterKey(value: unknown, path: string, problems: Problems): string {
  if (typeof value !== 'string' || !METER_KEY_PATTERN.test(value)) {
    problems.add(path, `is an invalid meter key: use 1 to 64 letters, digits, '_', '.' or '-', like "tokens"`);
  }
  return value as string;
}

export function checkPlanId(value: unknown, path: string, problems: Problems): string {
  if (typeof value !== 'string' || !PLAN_ID_PATTERN.test(value)) {
    problems.add(path, `is an invalid plan id: use 1 to 64 letters, digits, '_' or '-', like "pro"`);
  }
  return value as string;
}

/**
 * Validates a meter definition. `displayName` defaults to the key and
 * `aggregation` to `sum` when `defaults` is set (the seed file's form).
 */
export function parseMeterDefinition(value: unknown, path: string, problems: Problems, key?: string, defaults = false): MeterDefinition {
  if (!isObject(value)) {
    problems.add(path, 'must be an object with unit, aggregation and displayName, like {"unit": "tokens", "aggregation": "sum", "displayName": "Tokens"}');
    return { key: key ?? '', unit: '', aggregation: 'sum', displayName: '' };
  }
  problems.rejectUnknownFields(path, value, METER_FIELDS);
  const meterKey = key ?? checkMeterKey(value.key, `${path}.key`, problems);
  if (key !== undefined && value.key !== undefined && value.key !== key) {
    problems.add(`${path}.key`, `is "${String(value.key)}" but the meter is listed under "${key}": remove the field or make them equal`);
  }
  const unit = value.unit;
  if (typeof unit !== 'string' || !UNIT_PATTERN.test(unit)) {
    problems.add(`${path}.unit`, `is invalid: use 1 to 32 letters, digits, '_', '.' or '-' starting with a letter, like "tokens" or "USD"`);
  }
  const aggregation = value.aggregation ?? (defaults ? 'sum' : undefined);
  const displayName = value.displayName ?? (defaults ? meterKey : undefined);
  return {
    key: meterKey,
    unit: unit as string,
    aggregation: oneOf(aggregation, AGGREGATIONS, `${path}.aggregation`, problems),
    displayName: checkName(displayName, `${path}.displayName`, problems),
  };
}

function parseLimit(value: unknown, path: string, meters: Record<string, MeterDefinition>, problems: Problems): LimitDefinition | undefined {
  if (!isObject(value)) {
    problems.add(path, 'must be an object with id, meter, amount, period, window, enforcement, overage and credits');
    return undefined;
  }
  problems.rejectUnknownFields(path, value, LIMIT_FIELDS);
  const id = value.id;
  if (typeof id !== 'string' || !LIMIT_ID_PATTERN.test(id)) {
    problems.add(`${path}.id`, `is an invalid limit id: use 1 to 64 letters, digits, '_', '.' or '-', like "tokens-month"`);
  }
  const meter = value.meter;
  if (typeof meter !== 'string' || meters[meter] === undefined) {
    const known = Object.keys(meters);
    problems.add(`${path}.meter`, `is not a defined meter: use one of ${known.length === 0 ? '(none yet: define a meter first)' : known.join(', ')}`);
  }
  const amount = value.amount;
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0 || amount > MAX_LIMIT_AMOUNT) {
    problems.add(`${path}.amount`, `must be a number above 0 and at most ${MAX_LIMIT_AMOUNT}`);
  }
  const credits = value.credits ?? false;
  if (typeof credits !== 'boolean') {
    problems.add(`${path}.credits`, 'must be true or false');
  }
  return {
    id: id as string,
    meter: meter as string,
    amount: amount as number,
    period: oneOf<Period>(value.period, LIMIT_PERIODS, `${path}.period`, problems),
    window: oneOf(value.window ?? 'calendar', WINDOW_KINDS, `${path}.window`, problems),
    enforcement: oneOf(value.enforcement ?? 'hard', ENFORCEMENTS, `${path}.enforcement`, problems),
    overage: oneOf(value.overage ?? 'record', OVERAGE_POLICIES, `${path}.overage`, problems),
    credits: credits as boolean,
  };
}

/**
 * Validates the limits of a plan version against the workspace's meters.
 * `window`, `enforcement`, `overage` and `credits` default to calendar, hard,
 * record and false. Limit ids must be unique within the list.
 */
export function parseLimits(value: unknown, path: string, meters: Record<string, MeterDefinition>, problems: Problems): LimitDefinition[] {
  if (!Array.isArray(value)) {
    problems.add(path, 'must be an array of limits, like [{"id": "tokens-day", "meter": "tokens", "amount": 20000, "period": "day"}]');
    return [];
  }
  if (value.length > MAX_LIMITS_PER_PLAN) {
    problems.add(path, `has ${value.length} limits: a plan version has at most ${MAX_LIMITS_PER_PLAN}`);
  }
  const limits: LimitDefinition[] = [];
  const firstIndexOfId = new Map<string, number>();
  value.forEach((item: unknown, index) => {
    const limit = parseLimit(item, `${path}[${index}]`, meters, problems);
    if (limit === undefined) return;
    const first = firstIndexOfId.get(limit.id);
    if (first !== undefined && typeof limit.id === 'string') {
      problems.add(`${path}[${index}].id`, `repeats the id "${limit.id}" of ${path}[${first}]: give each limit of a plan version its own id`);
    }
    firstIndexOfId.set(limit.id, first ?? index);
    limits.push(limit);
  });
  return limits;
}

function parsePlanVersions(value: unknown, path: string, planId: string, meters: Record<string, MeterDefinition>, problems: Problems): PlanVersion[] {
  if (!Array.isArray(value) || value.length === 0) {
    problems.add(path, 'must be a non-empty array of plan versions, oldest first');
    return [];
  }
  let previous = 0;
  return value.map((item: unknown, index): PlanVersion => {
    const itemPath = `${path}[${index}]`;
    if (!isObject(item)) {
      problems.add(itemPath, 'must be an object with planId, version, name and limits');
      return { planId, version: 0, name: '', limits: [] };
    }
    problems.rejectUnknownFields(itemPath, item, ['planId', 'version', 'name', 'limits']);
    if (item.planId !== planId) problems.add(`${itemPath}.planId`, `must be "${planId}", the plan it is listed under`);
    const version = item.version;
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version <= previous) {
      problems.add(`${itemPath}.version`, `must be an integer above ${previous}: versions are listed oldest first`);
    } else {
      previous = version;
    }
    return {
      planId,
      version: version as number,
      name: checkName(item.name, `${itemPath}.name`, problems),
      limits: parseLimits(item.limits, `${itemPath}.limits`, meters, problems),
    };
  });
}

/** A catalog that fails validation. `problems` lists each field path with its fix. */
export class CatalogError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid catalog ${source}: ${problems.join('; ')}`);
    this.name = 'CatalogError';
  }
}

/**
 * Validates a whole WorkspaceCatalog, such as a record of the catalog topic.
 * Throws a CatalogError naming `source` and every invalid field.
 */
export function parseWorkspaceCatalog(value: unknown, source: string): WorkspaceCatalog {
  const problems = new Problems();
  if (!isObject(value)) throw new CatalogError(source, ['the value must be a JSON object']);
  problems.rejectUnknownFields('', value, ['workspaceId', 'timeZone', 'version', 'meters', 'plans', 'defaultPlanId']);

  if (typeof value.workspaceId !== 'string' || value.workspaceId === '') problems.add('workspaceId', 'must be a non-empty string');
  if (typeof value.timeZone !== 'string' || !isValidTimeZone(value.timeZone)) problems.add('timeZone', 'must be an IANA time zone name');
  if (typeof value.version !== 'number' || !Number.isSafeInteger(value.version) || value.version < 0) {
    problems.add('version', 'must be an integer of 0 or more');
  }

  const meters: Record<string, MeterDefinition> = {};
  if (isObject(value.meters)) {
    for (const [key, meter] of Object.entries(value.meters)) {
      checkMeterKey(key, `meters.${key}`, problems);
      meters[key] = parseMeterDefinition(meter, `meters.${key}`, problems, key);
    }
  } else {
    problems.add('meters', 'must be an object of meters by key');
  }

  const plans: Record<string, PlanVersion[]> = {};
  if (isObject(value.plans)) {
    for (const [planId, versions] of Object.entries(value.plans)) {
      checkPlanId(planId, `plans.${planId}`, problems);
      plans[planId] = parsePlanVersions(versions, `plans.${planId}`, planId, meters, problems);
    }
  } else {
    problems.add('plans', 'must be an object of plan versions by plan id');
  }

  const defaultPlanId = value.defaultPlanId;
  if (typeof defaultPlanId !== 'string' || (defaultPlanId !== '' && plans[defaultPlanId] === undefined)) {
    problems.add('defaultPlanId', 'must be the id of one of the plans, or "" for none');
  }

  if (problems.list.length > 0) throw new CatalogError(source, problems.lines());
  return {
    workspaceId: value.workspaceId as string,
    timeZone: value.timeZone as string,
    version: value.version as number,
    meters,
    plans,
    defaultPlanId: defaultPlanId as string,
  };
}
