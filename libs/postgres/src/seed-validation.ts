import type { Period } from '@vevee/contracts';
import { PERIODS, isValidTimeZone, type MeterLimits } from '@vevee/domain';

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
  plan: SeedPlan;
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

const WORKSPACE_FIELDS = ['id', 'name', 'timeZone', 'apiKeys', 'plan'];
const PLAN_FIELDS = ['version', 'meters'];

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Collects problems while the validators walk the file, each prefixed with its field path. */
class Problems {
  readonly list: string[] = [];

  add(path: string, message: string): void {
    this.list.push(`${path} ${message}`);
  }

  rejectUnknownFields(path: string, value: Json, known: string[]): void {
    for (const field of Object.keys(value)) {
      if (!known.includes(field)) {
        this.add(path === '' ? field : `${path}.${field}`, `is not a known field: use ${known.join(', ')}`);
      }
    }
  }
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

function parseWorkspace(value: unknown, path: string, problems: Problems): SeedWorkspace | undefined {
  if (!isObject(value)) {
    problems.add(path, 'must be an object with id, name, timeZone, apiKeys and plan');
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

  return {
    id,
    name,
    timeZone: timeZone as string,
    apiKeys: parseApiKeys(value.apiKeys, `${path}.apiKeys`, problems),
    plan: parsePlan(value.plan, `${path}.plan`, problems),
  };
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
    throw new SeedError(source, problems.list);
  }

  const workspaces: SeedWorkspace[] = [];
  value.workspaces.forEach((workspace: unknown, index) => {
    const parsed = parseWorkspace(workspace, `workspaces[${index}]`, problems);
    if (parsed !== undefined) workspaces.push(parsed);
  });
  rejectDuplicates(workspaces, problems);

  if (problems.list.length > 0) {
    throw new SeedError(source, problems.list);
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
    throw new Error(`${row} in PostgreSQL is invalid: ${problems.list.join('; ')}; fix the row or insert a new plan version`);
  }
  return meters;
}
