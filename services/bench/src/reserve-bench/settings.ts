import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SYSTEM_IDS = ['vevee', 'pg-naive', 'pg-row-lock', 'redis'] as const;
export type SystemId = (typeof SYSTEM_IDS)[number];

/** Settings of one benchmark run, read once from the environment. */
export interface BenchSettings {
  root: string;
  /** Temporary folder of the run; bench.sh creates and deletes it. */
  runDir: string;
  kafkaBrokers: string;
  kafkaVersion: string;
  kafkaPid: number | undefined;
  /** A URL of the PostgreSQL server; the bench creates its own databases there. */
  postgresUrl: string;
  redisUrl: string;
  systems: SystemId[];
  /** Open-loop arrival rates, requests per second. */
  rates: number[];
  warmupMs: number;
  /** Measurement window of each open-loop rate. */
  durationMs: number;
  /** Measurement window of the closed-loop maximum-throughput run. */
  maxDurationMs: number;
  /** Requests in flight in the closed-loop run. */
  concurrency: number;
  /** SDK clients that share the load; they share Node's keep-alive agent. */
  clients: number;
  /** Most sockets the bench process opens to one server. */
  maxSockets: number;
  poolSize: number;
  drainMs: number;
  /** Most requests one closed-loop run may send; SQL baselines insert a counter row for each of their persons first. */
  maxRequests: number;
  /** The workspace's daily and monthly `tokens` limits; the baselines enforce the daily one. */
  dayLimit: number;
  monthLimit: number;
  profile: boolean;
}

export class BenchSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid benchmark settings:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'BenchSettingsError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads the settings, reporting every invalid variable in one error. */
export function readSettings(env: Env = process.env): BenchSettings {
  const problems: string[] = [];
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}="${raw}" is invalid: set an integer from ${min} to ${max}, or unset it for ${fallback}`);
      return fallback;
    }
    return value;
  };
  const required = (name: string): string => {
    const value = env[name] ?? '';
    if (value === '') problems.push(`${name} is missing: run the benchmark through deploy/local/bench.sh, which sets it`);
    return value;
  };

  const rates = (env.BENCH_RATES ?? '500,1000,5000').split(',').map((rate) => Number(rate.trim()));
  if (rates.some((rate) => !Number.isInteger(rate) || rate < 1 || rate > 100_000)) {
    problems.push(`BENCH_RATES="${env.BENCH_RATES}" is invalid: set comma-separated integers from 1 to 100000, such as 500,1000,5000`);
  }
  const systems = (env.BENCH_SYSTEMS ?? SYSTEM_IDS.join(',')).split(',').map((system) => system.trim());
  const unknown = systems.filter((system) => !(SYSTEM_IDS as readonly string[]).includes(system));
  if (unknown.length > 0) problems.push(`BENCH_SYSTEMS contains ${unknown.join(', ')}: use any of ${SYSTEM_IDS.join(', ')}`);
  const kafkaPid = integer('KAFKA_BENCH_PID', 0, 0, 2 ** 31);

  const settings: BenchSettings = {
    root: path.resolve(fileURLToPath(new URL('../../../..', import.meta.url))),
    runDir: required('BENCH_RUN_DIR'),
    kafkaBrokers: required('KAFKA_BROKERS'),
    kafkaVersion: env.KAFKA_VERSION ?? 'unknown',
    kafkaPid: kafkaPid === 0 ? undefined : kafkaPid,
    postgresUrl: env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
    systems: systems as SystemId[],
    rates,
    warmupMs: 1000 * integer('BENCH_WARMUP_S', 2, 0, 600),
    durationMs: 1000 * integer('BENCH_DURATION_S', 10, 1, 600),
    maxDurationMs: 1000 * integer('BENCH_MAX_DURATION_S', 12, 1, 600),
    concurrency: integer('BENCH_CONCURRENCY', 512, 1, 10_000),
    clients: integer('BENCH_CLIENTS', 8, 1, 256),
    maxSockets: integer('BENCH_MAX_SOCKETS', 512, 1, 10_000),
    poolSize: integer('BENCH_PG_POOL', 20, 1, 90),
    drainMs: 1000 * integer('BENCH_DRAIN_S', 10, 1, 600),
    maxRequests: integer('BENCH_MAX_REQUESTS', 1_000_000, 1_000, 10_000_000),
    dayLimit: integer('BENCH_DAY_LIMIT', 150_000, 1, 1e12),
    monthLimit: integer('BENCH_MONTH_LIMIT', 3_000_000, 1, 1e12),
    profile: (env.BENCH_PROFILE ?? '1') !== '0',
  };
  checkLoopback('BENCH_POSTGRES_URL', settings.postgresUrl, problems);
  if (settings.kafkaBrokers !== '' && !settings.kafkaBrokers.startsWith('127.0.0.1:')) {
    problems.push(`KAFKA_BROKERS="${settings.kafkaBrokers}" is not one broker on 127.0.0.1: let bench.sh start the benchmark's own broker`);
  }
  checkLoopback('BENCH_REDIS_URL', settings.redisUrl, problems);
  if (settings.monthLimit < settings.dayLimit) {
    problems.push(`BENCH_MONTH_LIMIT=${settings.monthLimit} is below BENCH_DAY_LIMIT=${settings.dayLimit}: the baselines assume the day limit binds, so set it at least as high`);
  }
  if (problems.length > 0) throw new BenchSettingsError(problems);
  return settings;
}

/** Accepts loopback servers only, because the benchmark puts load on the servers it points at. */
function checkLoopback(name: string, value: string, problems: string[]): void {
  try {
    const host = new URL(value).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
      problems.push(`${name}="${value}" is not on loopback: point the benchmark at a server on 127.0.0.1 that you run`);
    }
  } catch {
    problems.push(`${name}="${value}" is not a URL: set it like postgres://postgres@127.0.0.1:5432/postgres or redis://127.0.0.1:6379`);
  }
}
