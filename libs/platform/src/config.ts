import path from 'node:path';

/** Settings of every Vevee process, read once from the environment at start. */
export interface VeveeConfig {
  /** Kafka bootstrap servers, `host:port`. */
  kafkaBrokers: string[];
  /** Prefix for topic and consumer group names; empty in production. */
  namespace: string;
  ledgerPartitions: number;
  databaseUrl: string;
  /** A ClickHouse server's URL; when unset, the embedded engine stores data in `clickhouseDataDir`. */
  clickhouseUrl: string | undefined;
  clickhouseDataDir: string;
  clickhouseDatabase: string;
  host: string;
  httpPort: number;
  /** The workspaces, API keys and plans applied at start; unset applies none. */
  seedFile: string | undefined;
  stateDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** The largest RPC request body accepted, in bytes. */
  rpcMaxBodyBytes: number;
  /** How often the decider looks for holds past their TTL, in milliseconds. */
  expirySweepMs: number;
  /** The URL other command replicas forward requests to; defaults to the listening address. */
  advertisedUrl: string | undefined;
  /** How long the command group waits for a silent replica before moving its partitions, in milliseconds. */
  commandSessionTimeoutMs: number;
  /** How often the decider snapshots a partition that changed, in milliseconds. */
  snapshotIntervalMs: number;
  /** How long a person goes without a command before the decider may drop its state from memory, in milliseconds; 0 keeps every person. */
  personIdleMs: number;
  /** Partitions of a newly created ingest topic. */
  ingestPartitions: number;
  /** How far an ingested event's timestamp may lie before its record's time, in milliseconds; older events go to the DLQ. */
  ingestMaxAgeMs: number;
  /** How far an ingested event's timestamp may lie after its record's time, in milliseconds; later events go to the DLQ. */
  ingestMaxFutureMs: number;
}

/** Every invalid environment variable at once, each with the fix. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

type Env = Record<string, string | undefined>;

class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  string(name: string, fallback: string): string {
    const value = this.env[name];
    return value === undefined || value === '' ? fallback : value;
  }

  optional(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value === '' ? undefined : value;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${name}="${raw}" is invalid: set an integer from ${min} to ${max}, or unset it for ${fallback}`);
      return fallback;
    }
    return value;
  }

  url(name: string, fallback: string | undefined, protocols: string[]): string | undefined {
    const raw = this.optional(name) ?? fallback;
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name}="${raw}" is invalid: the URL must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
      }
    } catch {
      this.problems.push(`${name}="${raw}" is not a URL: set it like ${protocols[0]}//host:port/path`);
    }
    return raw;
  }
}

function parseBrokers(reader: EnvReader, raw: string): string[] {
  const brokers = raw.split(',').map((broker) => broker.trim()).filter((broker) => broker !== '');
  for (const broker of brokers) {
    if (!/^[^:\s]+:\d{1,5}$/.test(broker)) {
      reader.problems.push(`KAFKA_BROKERS contains "${broker}", which is not host:port: set a comma-separated list such as 127.0.0.1:19092`);
    }
  }
  if (brokers.length === 0) {
    reader.problems.push('KAFKA_BROKERS is empty: set a comma-separated list such as 127.0.0.1:19092');
  }
  return brokers;
}

/**
 * Reads the configuration from the environment. Throws a ConfigError that lists
 * every invalid variable, so one run shows everything to fix.
 */
export function loadConfig(env: Env = process.env): VeveeConfig {
  const reader = new EnvReader(env);
  const stateDir = path.resolve(reader.string('VEVEE_STATE', '.vevee'));

  const logLevel = reader.string('LOG_LEVEL', 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    reader.problems.push(`LOG_LEVEL="${logLevel}" is invalid: set one of ${LOG_LEVELS.join(', ')}`);
  }
  const namespace = reader.string('VEVEE_NAMESPACE', '');
  if (!/^[a-zA-Z0-9._-]*$/.test(namespace)) {
    reader.problems.push(`VEVEE_NAMESPACE="${namespace}" is invalid: use letters, digits, '.', '_' and '-' only`);
  }

  const config: VeveeConfig = {
    kafkaBrokers: parseBrokers(reader, reader.string('KAFKA_BROKERS', '127.0.0.1:19092')),
    namespace,
    ledgerPartitions: reader.integer('LEDGER_PARTITIONS', 12, 1, 10_000),
    databaseUrl: reader.url('DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/vevee', ['postgres:', 'postgresql:'])!,
    clickhouseUrl: reader.url('CLICKHOUSE_URL', undefined, ['http:', 'https:']),
    clickhouseDataDir: path.resolve(reader.string('CLICKHOUSE_DATA_DIR', path.join(stateDir, 'chdb'))),
    clickhouseDatabase: reader.string('CLICKHOUSE_DATABASE', 'vevee'),
    host: reader.string('HOST', '127.0.0.1'),
    httpPort: reader.integer('HTTP_PORT', 4000, 0, 65_535),
    seedFile: reader.optional('VEVEE_SEED_FILE'),
    stateDir,
    logLevel: logLevel as VeveeConfig['logLevel'],
    rpcMaxBodyBytes: reader.integer('RPC_MAX_BODY_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    expirySweepMs: reader.integer('EXPIRY_SWEEP_MS', 250, 10, 60_000),
    advertisedUrl: reader.url('COMMAND_ADVERTISED_URL', undefined, ['http:', 'https:']),
    commandSessionTimeoutMs: reader.integer('COMMAND_SESSION_TIMEOUT_MS', 10_000, 6_000, 300_000),
    snapshotIntervalMs: reader.integer('SNAPSHOT_INTERVAL_MS', 30_000, 100, 3_600_000),
    personIdleMs: reader.integer('DECIDER_PERSON_IDLE_MS', 600_000, 0, 7 * 24 * 3_600_000),
    ingestPartitions: reader.integer('INGEST_PARTITIONS', 12, 1, 10_000),
    // At most 30 days back, so a late event still lands in a recent monthly partition of the events table.
    ingestMaxAgeMs: reader.integer('INGEST_MAX_AGE_MS', 7 * 24 * 60 * 60 * 1000, 0, 30 * 24 * 60 * 60 * 1000),
    ingestMaxFutureMs: reader.integer('INGEST_MAX_FUTURE_MS', 10 * 60 * 1000, 0, 24 * 60 * 60 * 1000),
  };
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(config.clickhouseDatabase)) {
    reader.problems.push(`CLICKHOUSE_DATABASE="${config.clickhouseDatabase}" is invalid: use letters, digits and '_', starting with a letter`);
  }

  if (reader.problems.length > 0) {
    throw new ConfigError(reader.problems);
  }
  return Object.freeze(config);
}

/** Reads the configuration, or prints every problem and exits with status 2. For process entry points. */
export function loadConfigOrExit(env: Env = process.env): VeveeConfig {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}
