import 'reflect-metadata';

import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { ClickHouseModule } from '@vevee/clickhouse';
import { KafkaModule } from '@vevee/kafka';
import { PlatformModule, createLogger, loadConfigOrExit } from '@vevee/platform';

import { ProjectorClickHouseModule } from './projector-clickhouse.module';

/**
 * Runs the ClickHouse projector alone. With the embedded engine (no
 * CLICKHOUSE_URL) nothing else can read its data directory, so run the
 * gateway in the same process instead: services/standalone.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config, 'vevee-projector-clickhouse');

  @Module({ imports: [PlatformModule.forRoot(config, logger), KafkaModule, ClickHouseModule, ProjectorClickHouseModule] })
  class ProjectorProcessModule {}

  const app = await NestFactory.createApplicationContext(ProjectorProcessModule, { logger: false });
  app.enableShutdownHooks();
}

main().catch((error: unknown) => {
  process.stderr.write(`clickhouse projector failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
