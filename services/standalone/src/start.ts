import type { INestApplication } from '@nestjs/common';

import { QuotaDecider } from '@vevee/command';
import { createKafka, ensureLedgerTopic } from '@vevee/kafka';
import { startHttpApp, type Logger, type VeveeConfig } from '@vevee/platform';
import { applySeed, createPool, ensureDatabase, migrate, readSeedFile } from '@vevee/postgres';

import { StandaloneModule } from './app.module';

export interface RunningVevee {
  app: INestApplication;
  /** The HTTP base URL: RPC routes, `/graphql`, `/metrics` and `/healthz`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Prepares the stores and starts every service in this process: creates the
 * database and runs its migrations, applies the seed file, creates the ledger
 * topic, then starts the Nest application.
 */
export async function startVevee(config: VeveeConfig, logger: Logger): Promise<RunningVevee> {
  await ensureDatabase(config.databaseUrl);
  await migrate(config.databaseUrl, logger);
  if (config.seedFile !== undefined) {
    const seed = await readSeedFile(config.seedFile);
    const pool = createPool(config.databaseUrl, 1);
    try {
      await applySeed(pool, seed, logger);
    } finally {
      await pool.end();
    }
  }
  await ensureLedgerTopic(createKafka(config, logger), config);

  const { app, url } = await startHttpApp(StandaloneModule.forRoot(config, logger), config, logger);
  await app.get(QuotaDecider).ready();
  return { app, url, close: () => app.close() };
}
