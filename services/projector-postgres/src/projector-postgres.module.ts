import { Module } from '@nestjs/common';

import { PostgresProjector } from './postgres-projector';

/**
 * The Postgres projector: consumes the ledger into usage_counters and
 * reservations. It needs PlatformModule, KafkaModule and PostgresModule, and
 * a database migrated with migrate() from @vevee/postgres.
 */
@Module({
  providers: [PostgresProjector],
  exports: [PostgresProjector],
})
export class ProjectorPostgresModule {}
