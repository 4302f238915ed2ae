import { Global, Module, type DynamicModule } from '@nestjs/common';
import { Registry, collectDefaultMetrics } from 'prom-client';

import type { VeveeConfig } from './config';
import { createLogger, type Logger } from './logger';
import { CONFIG, HTTP_URL, LOGGER, METRICS } from './tokens';

/** A value that becomes known later, such as the URL a server listens on. */
export class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;

  constructor() {
    this.promise = new Promise<T>((resolve) => {
      this.resolve = resolve;
    });
  }
}

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
        { provide: HTTP_URL, useValue: new Deferred<string>() },
      ],
      exports: [CONFIG, LOGGER, METRICS, HTTP_URL],
    };
  }
}
