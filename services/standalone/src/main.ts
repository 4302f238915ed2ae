import 'reflect-metadata';

import { createLogger, loadConfigOrExit } from '@vevee/platform';

import { startVevee } from './start';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config);
  const running = await startVevee(config, logger);
  logger.info({ url: running.url, rpc: `${running.url}/vevee.v1.QuotaService/`, graphql: `${running.url}/graphql`, metrics: `${running.url}/metrics` }, 'vevee started');
}

main().catch((error: unknown) => {
  process.stderr.write(`vevee failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
