import 'reflect-metadata';

import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { KafkaModule } from '@vevee/kafka';
import { PlatformModule, createLogger, loadConfigOrExit } from '@vevee/platform';
import { PostgresModule, ensureDatabase, migrate } from '@vevee/postgres';

import { ProjectorPostgresModule } from './projector-postgres.module';

/** Runs the PostgreSQL projector alone. It migrates the database first. */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config, 'vevee-projector-postgres');
  await ensureDatabase(config.databaseUrl);
  await migrate(config.databaseUrl, logger);

  @Module({ imports: [PlatformModule.forRoot(config, logger), KafkaModule, PostgresModule, ProjectorPostgresModule] })
  class ProjectorProcessModule {}

  const app = await NestFactory.createApplicationContext(ProjectorProcessModule, { logger: false });
  app.enableShutdownHooks();
}

main().catch((error: unknown) => {
  process.stderr.write(`postgres projector failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
