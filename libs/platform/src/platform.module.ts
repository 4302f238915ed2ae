import { Global, Module, type DynamicModule } from '@nestjs/common';
import { Registry, collectDefaultMetrics } from 'prom-client';

import type { VeveeConfig } from './config';
import { createLogger, type Logger } from './logger';
import { CONFIG, LOGGER, METRICS } from './tokens';

/** Provides the configuration, the logger and the metrics registry to every module. */
@Global()
@Module({})
export class PlatformModule {
  static forRoot(config: VeveeConfig, logger: Logger = createLogger(config)): DynamicModule {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'vevee_' });
    return {
      module: PlatformModule,
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: METRICS, useValue: registry },
      ],
      exports: [CONFIG, LOGGER, METRICS],
    };
  }
}
