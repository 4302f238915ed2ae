import { Global, Module } from '@nestjs/common';

import { CONFIG, LOGGER, type Logger, type VeveeConfig } from '@vevee/platform';

import { createKafka } from './kafka';

export const KAFKA = Symbol('Kafka');

/** Provides one kafkajs client per process. Producers and consumers close themselves. */
@Global()
@Module({
  providers: [
    {
      provide: KAFKA,
      inject: [CONFIG, LOGGER],
      useFactory: (config: VeveeConfig, logger: Logger) => createKafka(config, logger),
    },
  ],
  exports: [KAFKA],
})
export class KafkaModule {}
