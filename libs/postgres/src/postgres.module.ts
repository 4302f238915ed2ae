import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';

import { CONFIG, LOGGER, type Logger, type VeveeConfig } from '@vevee/platform';

export const PG_POOL = Symbol('PgPool');

/** Creates a connection pool. NUMERIC columns come back as strings; parse them where read. */
export function createPool(databaseUrl: string, max = 10): pg.Pool {
  return new pg.Pool({ connectionString: databaseUrl, max });
}

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
