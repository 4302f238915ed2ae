import { Module } from '@nestjs/common';

import { ClickHouseProjector } from './clickhouse-projector';

/**
 * Projects the ledger into ClickHouse. Needs the global CONFIG, LOGGER,
 * METRICS, KAFKA and CLICKHOUSE providers (PlatformModule, KafkaModule and
 * ClickHouseModule).
 */
@Module({
  providers: [ClickHouseProjector],
  exports: [ClickHouseProjector],
})
export class ProjectorClickHouseModule {}
