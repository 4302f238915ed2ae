import { Redis } from 'ioredis';
import pg from 'pg';

import { bestOpenLoopRate, runClosedPhase, runOpenPhase, type PhaseContext } from './phases';
import { NaivePostgresBaseline, RowLockPostgresBaseline } from './postgres-baselines';
import type { QuotaSystem } from './quota-system';
import { RedisLimiterBaseline, deleteRedisKeys } from './redis-baseline';
import type { PhaseResult } from './results';

/** Runs every open-loop rate and the closed loop against one system, in that order. */
async function benchSystem(context: PhaseContext, system: QuotaSystem, systemId: string, afterPhase?: (result: PhaseResult, prefix: string) => Promise<void>): Promise<PhaseResult[]> {
  const results: PhaseResult[] = [];
  for (const rate of context.settings.rates) {
    const result = await runOpenPhase(context, system, systemId, rate);
    await afterPhase?.(result, `${systemId}-open${rate}-`);
    results.push(result);
  }
  const result = await runClosedPhase(context, system, systemId, bestOpenLoopRate(results));
  await afterPhase?.(result, `${systemId}-closed-`);
  results.push(result);
  return results;
}

export interface PostgresBenchInput {
  context: PhaseContext;
  /** The bench's own database, created fresh for this run. */
  databaseUrl: string;
  naive: boolean;
  rowLock: boolean;
  onCleanup: (step: () => Promise<void>) => void;
}

/** Runs the two PostgreSQL baselines on one pool, and checks the table for oversold persons after each phase. */
export async function benchPostgres(input: PostgresBenchInput): Promise<PhaseResult[]> {
  const { context } = input;
  const pool = new pg.Pool({ connectionString: input.databaseUrl, max: context.settings.poolSize });
  input.onCleanup(() => pool.end());
  const postgresContext: PhaseContext = { ...context, cpuGroups: [...context.cpuGroups, { label: 'PostgreSQL (all backends)', command: 'postgres' }] };
  const systems: [string, NaivePostgresBaseline | RowLockPostgresBaseline][] = [];
  if (input.naive) systems.push(['pg-naive', new NaivePostgresBaseline(pool, context.settings.dayLimit)]);
  if (input.rowLock) systems.push(['pg-row-lock', new RowLockPostgresBaseline(pool, context.settings.dayLimit)]);

  const results: PhaseResult[] = [];
  for (const [systemId, system] of systems) {
    const systemResults = await benchSystem(postgresContext, system, systemId, async (result, prefix) => {
      // The table is the ground truth for oversell: used counts every commit once.
      const over = await system.oversoldInTable(prefix);
      if (over.persons > 0) result.notes.push(`the table shows ${over.persons} persons over their limit by ${over.tokens} tokens in total`);
    });
    results.push(...systemResults);
  }
  return results;
}

export interface RedisBenchInput {
  context: PhaseContext;
  redis: Redis;
  keyPrefix: string;
}

/** Runs the rate-limiter-flexible baseline, then deletes its keys. */
export async function benchRedis(input: RedisBenchInput): Promise<PhaseResult[]> {
  const redisContext: PhaseContext = { ...input.context, cpuGroups: [...input.context.cpuGroups, { label: 'redis-server', command: 'redis-server' }] };
  const system = new RedisLimiterBaseline(input.redis, input.keyPrefix, input.context.settings.dayLimit);
  try {
    return await benchSystem(redisContext, system, 'redis');
  } finally {
    const deleted = await deleteRedisKeys(input.redis, input.keyPrefix);
    input.context.progress(`deleted ${deleted} Redis keys under ${input.keyPrefix}:`);
  }
}
