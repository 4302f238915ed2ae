import { mkdirSync } from 'node:fs';

import { createClient, type ClickHouseClient, type ClickHouseClientConfigOptions } from '@clickhouse/client';
import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { createChdbConnection } from 'chdb/connection';

import { CONFIG, type VeveeConfig } from '@vevee/platform';

export const CLICKHOUSE = Symbol('ClickHouse');

/** The connection contract that `createClient({ connection })` accepts. */
type ClientConnection = NonNullable<ClickHouseClientConfigOptions['connection']>;

/**
 * Opens the embedded chdb engine as a client connection. chdb 3.4 types its
 * connection against `@clickhouse/client-common`, while `@clickhouse/client`
 * 1.23 bundles its own copy of the same declarations. Their `SettingsMap`
 * class has a private member, so TypeScript compares the two copies
 * nominally and rejects the assignment although the shapes are identical.
 */
function openChdbConnection(dataDir: string): ClientConnection {
  return createChdbConnection({ path: dataDir }) as unknown as ClientConnection;
}

/**
 * Creates a ClickHouse client: over HTTP when `clickhouseUrl` is set, otherwise
 * on the embedded chdb engine. The embedded engine allows one data directory
 * per process, so a process creates this client once and shares it.
 */
export function createClickHouse(config: Pick<VeveeConfig, 'clickhouseUrl' | 'clickhouseDataDir'>): ClickHouseClient {
  if (config.clickhouseUrl !== undefined) {
    return createClient({ url: config.clickhouseUrl });
  }
  mkdirSync(config.clickhouseDataDir, { recursive: true });
  return createClient({ connection: openChdbConnection(config.clickhouseDataDir) });
}

/** Provides the process's ClickHouse client and closes it at shutdown. */
@Global()
@Module({
  providers: [
    {
      provide: CLICKHOUSE,
      inject: [CONFIG],
      useFactory: (config: VeveeConfig) => createClickHouse(config),
    },
  ],
  exports: [CLICKHOUSE],
})
export class ClickHouseModule implements OnApplicationShutdown {
  constructor(@Inject(CLICKHOUSE) private readonly client: ClickHouseClient) {}

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}
