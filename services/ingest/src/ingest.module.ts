import { Module } from '@nestjs/common';

import { CommandModule } from '@vevee/command';
import { METRICS } from '@vevee/platform';

import { IngestHttp } from './ingest-http';
import { INGEST_METRICS, createIngestMetrics } from './ingest-metrics';
import { IngestSink } from './ingest-sink';

/**
 * The ingest path: the sink that reads `vevee.ingest.v1` and the
 * `POST /v1/events:batch` endpoint that writes to it. Metered events go to
 * the decider through the command bus, so the command service runs in the
 * same application. Needs PlatformModule, KafkaModule, PostgresModule and
 * ClickHouseModule.
 */
@Module({
  imports: [CommandModule],
  providers: [IngestSink, IngestHttp, { provide: INGEST_METRICS, inject: [METRICS], useFactory: createIngestMetrics }],
  exports: [IngestSink],
})
export class IngestModule {}
