import 'reflect-metadata';

import { Module } from '@nestjs/common';

import { KafkaModule } from '@vevee/kafka';
import { PlatformModule, createLogger, loadConfigOrExit, startHttpApp } from '@vevee/platform';
import { PostgresModule } from '@vevee/postgres';

import { CommandModule } from './command.module';
import { QuotaDecider } from './decider/quota-decider';

/** Runs the command service alone. The ledger topic and the database must exist. */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config, 'vevee-command');

  @Module({ imports: [PlatformModule.forRoot(config, logger), KafkaModule, PostgresModule, CommandModule] })
  class CommandProcessModule {}

  const { app, url } = await startHttpApp(CommandProcessModule, config, logger);
  await app.get(QuotaDecider).ready();
  logger.info({ url }, 'command service ready');
}

main().catch((error: unknown) => {
  process.stderr.write(`command service failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
