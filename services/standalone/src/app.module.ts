import { Module, type DynamicModule } from '@nestjs/common';

import { ClickHouseModule } from '@vevee/clickhouse';
import { CommandModule } from '@vevee/command';
import { GatewayModule } from '@vevee/gateway';
import { IngestModule } from '@vevee/ingest';
import { KafkaModule } from '@vevee/kafka';
import { PlatformModule, type Logger, type VeveeConfig } from '@vevee/platform';
import { PostgresModule } from '@vevee/postgres';
import { ProjectorClickHouseModule } from '@vevee/projector-clickhouse';
import { ProjectorPostgresModule } from '@vevee/projector-postgres';

/**
 * Every service in one process: the local default, and the only way to share
 * the embedded ClickHouse engine, whose data directory belongs to one process.
 */
@Module({})
export class StandaloneModule {
  static forRoot(config: VeveeConfig, logger: Logger): DynamicModule {
    return {
      module: StandaloneModule,
      imports: [
        PlatformModule.forRoot(config, logger),
        KafkaModule,
        PostgresModule,
        ClickHouseModule,
        CommandModule,
        ProjectorPostgresModule,
        ProjectorClickHouseModule,
        GatewayModule,
        IngestModule,
      ],
    };
  }
}
