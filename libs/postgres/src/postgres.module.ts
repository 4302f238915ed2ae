import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';

import { CONFIG, LOGGER, type Logger, type VeveeConfig } from '@vevee/platform';

export const PG_POOL = Symbol('PgPool');

/** Creates a connection pool. NUMERIC columns come back as strings; parse them where read. */
export function createPool(databaseUrl: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  // An idle client that fails is dropped by the pool, and the next query opens
  // a new one. Without a listener, Node turns the error into an uncaught
  // exception. pool.end() resolves before its clients' sockets close, so a
  // database dropped right after it (as tests do) ends them with 57P01
  // (terminating connection due to administrator command), which is expected.
  pool.on('error', (error: Error & { code?: string }) => {
    if (pool.listenerCount('error') > 1 || error.code === ADMIN_SHUTDOWN) return;
    process.emitWarning(`idle PostgreSQL client failed; the pool replaces it: ${error.message}`, 'PostgresPoolWarning');
  });
  return pool;
}

/** SQLSTATE of a connection that the server ended, for example for DROP DATABASE WITH (FORCE). */
const ADMIN_SHUTDOWN = '57P01';

/** Provides one PostgreSQL pool per process and closes it at shutdown. */
@Global()
@Module({
  providers: [
    {
      provide: PG_POOL,
      inject: [CONFIG, LOGGER],
      useFactory: (config: VeveeConfig, logger: Logger) => {
        const pool = createPool(config.databaseUrl);
        pool.on('error', (error) => logger.error({ err: error }, 'idle postgres client failed; the pool replaces it'));
        return pool;
      },
    },
  ],
  exports: [PG_POOL],
})
export class PostgresModule implements OnApplicationShutdown {
  constructor(@Inject(PG_POOL) private readonly pool: pg.Pool) {}

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}
