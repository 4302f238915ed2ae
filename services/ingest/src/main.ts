import 'reflect-metadata';

import { Module } from '@nestjs/common';

import { ClickHouseModule } from '@vevee/clickhouse';
import { CommandModule, QuotaDecider } from '@vevee/command';
import { KafkaModule } from '@vevee/kafka';
import { PlatformModule, createLogger, loadConfigOrExit, startHttpApp } from '@vevee/platform';
import { PostgresModule } from '@vevee/postgres';

import { IngestModule } from './ingest.module';

/**
 * Runs the ingest sink and the events batch endpoint with a command service
 * replica, which decides the metered events. The database and the ledger
 * topic must exist (services/standalone creates them). With the embedded ClickHouse
 * engine (no CLICKHOUSE_URL) nothing else can read its data directory, so run
 * services/standalone instead.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config, 'vevee-ingest');

  @Module({ imports: [PlatformModule.forRoot(config, logger), KafkaModule, PostgresModule, ClickHouseModule, CommandModule, IngestModule] })
  class IngestProcessModule {}

  const { app, url } = await startHttpApp(IngestProcessModule, config, logger);
  await app.get(QuotaDecider).ready();
  logger.info({ url, events: `${url}/v1/events:batch` }, 'ingest service started');
}

main().catch((error: unknown) => {
  process.stderr.write(`ingest service failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
