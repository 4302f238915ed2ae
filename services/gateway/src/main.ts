import 'reflect-metadata';

import { Module } from '@nestjs/common';

import { ClickHouseModule, createClickHouse, ensureClickHouseSchema } from '@vevee/clickhouse';
import { PlatformModule, createLogger, loadConfigOrExit, startHttpApp } from '@vevee/platform';
import { PostgresModule } from '@vevee/postgres';

import { GatewayModule } from './gateway.module';

/**
 * Runs the GraphQL gateway alone, against a ClickHouse server (CLICKHOUSE_URL):
 * the embedded engine's data belongs to the process that projects into it.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config, 'vevee-gateway');
  if (config.clickhouseUrl === undefined) {
    process.stderr.write('CLICKHOUSE_URL is missing: the gateway alone reads a ClickHouse server; run services/standalone for the embedded engine\n');
    process.exit(2);
  }
  const clickhouse = createClickHouse(config);
  await ensureClickHouseSchema(clickhouse, config.clickhouseDatabase, logger).finally(() => clickhouse.close());

  @Module({ imports: [PlatformModule.forRoot(config, logger), PostgresModule, ClickHouseModule, GatewayModule] })
  class GatewayProcessModule {}

  await startHttpApp(GatewayProcessModule, config, logger);
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
