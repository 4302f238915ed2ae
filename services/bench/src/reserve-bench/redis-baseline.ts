import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

import { BenchCallError, cancelled, type PhaseSetup, type QuotaSystem, type ReserveOutcome } from './quota-system';
import type { BenchRequest } from './workload';

/**
 * rate-limiter-flexible's RateLimiterRedis: points are tokens and the duration is a day.
 * Its consume is one Lua script (INCRBY, then compare with the limit), atomic in Redis,
 * so it cannot oversell. A denied consume has added its points already, so the
 * baseline rewards them back, which takes a second round trip on denials only. In
 * between, the inflated counter can deny a concurrent request that would have fitted.
 * Commit has nothing to do because the consumed tokens are the usage and the estimate
 * is exact in this workload; a release rewards the tokens. One ioredis connection
 * pipelines every call.
 */
export class RedisLimiterBaseline implements QuotaSystem {
  static readonly label = 'rate-limiter-flexible RateLimiterRedis';
  readonly name = RedisLimiterBaseline.label;
  private readonly limiter: RateLimiterRedis;
  private cancelling = false;

  constructor(
    private readonly redis: Redis,
    /** Prefix of every key this baseline writes, unique per run; cleanup deletes `<keyPrefix>:*`. */
    readonly keyPrefix: string,
    tokenLimit: number,
  ) {
    this.limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix, points: tokenLimit, duration: 86_400, inMemoryBlockOnConsumed: 0 });
  }

  async preparePhase(_phase: PhaseSetup): Promise<void> {
    // Keys appear on first consume; each phase's person prefix keeps its counters apart.
  }

  async reserve(request: BenchRequest): Promise<ReserveOutcome> {
    if (this.cancelling) throw cancelled();
    try {
      await this.limiter.consume(request.personId, request.tokens);
      return { allowed: true, reservationId: String(request.index) };
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw redisError(rejection);
    }
    await this.limiter.reward(request.personId, request.tokens).catch((error: unknown) => {
      throw redisError(error);
    });
    return { allowed: false, reservationId: '' };
  }

  async commit(_request: BenchRequest, _reservationId: string): Promise<void> {
    // The consumed estimate equals the actual tokens, so nothing changes.
  }

  async release(request: BenchRequest, _reservationId: string): Promise<void> {
    if (this.cancelling) throw cancelled();
    await this.limiter.reward(request.personId, request.tokens).catch((error: unknown) => {
      throw redisError(error);
    });
  }

  cancelPending(): void {
    this.cancelling = true;
  }

  resume(): void {
    this.cancelling = false;
  }

  async close(): Promise<void> {
    // The connection belongs to the caller, which deletes the keys and quits.
  }
}

function redisError(error: unknown): BenchCallError {
  return new BenchCallError('redis_error', 'a Redis call failed', { cause: error });
}

/** Deletes every key under `<prefix>:` with SCAN and UNLINK, and returns how many it deleted. */
export async function deleteRedisKeys(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = nextCursor;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
