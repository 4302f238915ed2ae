import pg from 'pg';

import { BenchCallError, cancelled, type PhaseSetup, type QuotaSystem, type ReserveOutcome } from './quota-system';
import type { BenchRequest } from './workload';

/**
 * One counter row per person. `token_limit` is the daily limit. Within one run the day
 * and month windows contain the same usage, so the larger month limit never binds, and
 * the baselines check the day limit only.
 */
const CREATE_COUNTERS = `
  CREATE TABLE IF NOT EXISTS bench_counters (
    person text PRIMARY KEY,
    used bigint NOT NULL DEFAULT 0,
    reserved bigint NOT NULL DEFAULT 0,
    token_limit bigint NOT NULL
  )`;

const COMMIT = 'UPDATE bench_counters SET reserved = reserved - $2, used = used + $3 WHERE person = $1';
const RELEASE = 'UPDATE bench_counters SET reserved = reserved - $2 WHERE person = $1';

/** Base of the two PostgreSQL baselines: the pool, the table, commit and release. */
abstract class PostgresBaseline implements QuotaSystem {
  abstract readonly name: string;
  private cancelling = false;

  constructor(
    protected readonly pool: pg.Pool,
    private readonly tokenLimit: number,
  ) {}

  async preparePhase(phase: PhaseSetup): Promise<void> {
    await this.pool.query(CREATE_COUNTERS);
    await this.pool.query('INSERT INTO bench_counters (person, token_limit) SELECT unnest($1::text[]), $2 ON CONFLICT (person) DO NOTHING', [
      phase.personIds,
      this.tokenLimit,
    ]);
  }

  abstract reserve(request: BenchRequest): Promise<ReserveOutcome>;

  async commit(request: BenchRequest, _reservationId: string): Promise<void> {
    // Estimate and actual are equal in this workload, so the hold turns into usage one for one.
    await this.query(COMMIT, [request.personId, request.tokens, request.tokens]);
  }

  async release(request: BenchRequest, _reservationId: string): Promise<void> {
    await this.query(RELEASE, [request.personId, request.tokens]);
  }

  cancelPending(): void {
    this.cancelling = true;
  }

  resume(): void {
    this.cancelling = false;
  }

  async close(): Promise<void> {
    // The pool belongs to the caller, which ends it after both baselines ran.
  }

  /** Persons whose id starts with `personPrefix` and whose committed usage is over their limit, and the tokens over, as the table has them. */
  async oversoldInTable(personPrefix: string): Promise<{ persons: number; tokens: number }> {
    const result = await this.pool.query<{ persons: string; tokens: string | null }>(
      'SELECT count(*) AS persons, sum(used - token_limit) AS tokens FROM bench_counters WHERE starts_with(person, $1) AND used > token_limit',
      [personPrefix],
    );
    const row = result.rows[0];
    return { persons: Number(row?.persons ?? 0), tokens: Number(row?.tokens ?? 0) };
  }

  /**
   * Runs one statement in its own transaction (autocommit, READ COMMITTED). The pool
   * queues callers while all connections are busy, and a phase that ended cancels the
   * ones still waiting.
   */
  protected async query<Row extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<Row>> {
    const client = await this.pool.connect().catch((error: unknown) => {
      throw new BenchCallError('pg_connect', 'no PostgreSQL connection', { cause: error });
    });
    try {
      if (this.cancelling) throw cancelled();
      return await client.query<Row>(text, values);
    } catch (error) {
      if (error instanceof BenchCallError) throw error;
      throw new BenchCallError(`pg_${(error as { code?: string }).code ?? 'error'}`, 'a PostgreSQL statement failed', { cause: error });
    } finally {
      client.release();
    }
  }
}

/**
 * The naive check-then-update: read the person's usage and holds, compare in the app,
 * then add the hold in a second statement. Two reserves of one person that read before
 * either writes both pass, so it oversells under parallel calls.
 */
export class NaivePostgresBaseline extends PostgresBaseline {
  static readonly label = 'PostgreSQL check-then-update';
  readonly name = NaivePostgresBaseline.label;

  async reserve(request: BenchRequest): Promise<ReserveOutcome> {
    const read = await this.query<{ held: string; token_limit: string }>('SELECT used + reserved AS held, token_limit FROM bench_counters WHERE person = $1', [
      request.personId,
    ]);
    const row = read.rows[0];
    if (row === undefined) throw new BenchCallError('missing_row', `no counter row for ${request.personId}; preparePhase inserts one per person`);
    if (Number(row.held) + request.tokens > Number(row.token_limit)) return { allowed: false, reservationId: '' };

    await this.query('UPDATE bench_counters SET reserved = reserved + $2 WHERE person = $1', [request.personId, request.tokens]);
    return { allowed: true, reservationId: String(request.index) };
  }
}

/**
 * The conditional update: one statement checks the limit and adds the hold under the
 * row lock, so it cannot oversell, and parallel reserves of one person queue on the lock.
 */
export class RowLockPostgresBaseline extends PostgresBaseline {
  static readonly label = 'PostgreSQL row lock';
  readonly name = RowLockPostgresBaseline.label;

  async reserve(request: BenchRequest): Promise<ReserveOutcome> {
    const result = await this.query(
      'UPDATE bench_counters SET reserved = reserved + $2 WHERE person = $1 AND used + reserved + $2 <= token_limit RETURNING used, reserved',
      [request.personId, request.tokens],
    );
    return result.rowCount === 1 ? { allowed: true, reservationId: String(request.index) } : { allowed: false, reservationId: '' };
  }
}
