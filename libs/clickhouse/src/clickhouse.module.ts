import { randomUUID } from 'node:crypto';
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
  return oneCallAtATime(createChdbConnection({ path: dataDir }) as unknown as ClientConnection);
}

/** The connection methods that run SQL on the engine's session. */
const SQL_METHODS = new Set<PropertyKey>(['query', 'exec', 'command', 'insert']);

/**
 * Runs the connection's SQL calls one after another, and after a call that
 * fails, reads one `SELECT 1` before the next call starts. chdb 3.4 keeps
 * what a query wrote before a runtime error (throwIf, a time limit) and
 * prepends it to the output of the next query on its session, whoever sent
 * it; the drain takes that output, so no other caller, such as another
 * workspace's query, receives it. chdb returns whole results as buffers, so
 * running calls in turn costs no streaming.
 */
function oneCallAtATime(connection: ClientConnection): ClientConnection {
  let previous: Promise<unknown> = Promise.resolve();
  const drain = async (): Promise<void> => {
    const result = await connection.query({ query: 'SELECT 1 FORMAT TabSeparated', query_id: randomUUID() });
    result.stream.resume();
  };
  const inTurn = <T>(call: () => Promise<T>): Promise<T> => {
    const run = previous.then(call);
    previous = run.catch(() => drain().catch(() => undefined));
    return run;
  };
  return new Proxy(connection, {
    // The connection keeps its session in private fields, so every method runs on the connection itself.
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (!SQL_METHODS.has(property)) return method.bind(target);
      return (params: unknown) => inTurn(() => method.call(target, params) as Promise<unknown>);
    },
  });
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
