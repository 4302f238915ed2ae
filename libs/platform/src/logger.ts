import { pino, type Logger } from 'pino';

import type { VeveeConfig } from './config';

export type { Logger } from 'pino';

/** Creates the process logger: JSON lines on stdout, with secrets redacted. */
export function createLogger(config: Pick<VeveeConfig, 'logLevel'>, name = 'vevee'): Logger {
  return pino({
    name,
    level: config.logLevel,
    redact: {
      paths: ['apiKey', '*.apiKey', 'authorization', '*.authorization', 'headers.authorization', 'databaseUrl'],
      censor: '[redacted]',
    },
  });
}
