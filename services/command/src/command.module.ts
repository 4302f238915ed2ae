import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import type pg from 'pg';

import { PG_POOL, loadCatalogs, loadReplicaToken, loadWorkspaces } from '@vevee/postgres';
import { READINESS, RPC_ROUTES } from '@vevee/platform';

import { CatalogFeed } from './catalog-feed';
import { QUOTA_HANDLERS } from './commands/quota.handlers';
import { QuotaDecider } from './decider/quota-decider';
import { QuotaRpc } from './rpc/quota-rpc';
import { ReplicaToken } from './rpc/replica-token';
import { WorkspaceDirectory } from './workspaces';

/**
 * The command service: the RPC API and the decider that owns the ledger's
 * partitions. It needs PlatformModule, KafkaModule and PostgresModule.
 */
@Module({
  imports: [CqrsModule.forRoot()],
  providers: [
    WorkspaceDirectory,
    ReplicaToken,
    CatalogFeed,
    QuotaDecider,
    QuotaRpc,
    ...QUOTA_HANDLERS,
    { provide: RPC_ROUTES, inject: [QuotaRpc], useFactory: (rpc: QuotaRpc) => rpc.routes() },
    { provide: READINESS, useExisting: QuotaDecider },
  ],
  exports: [RPC_ROUTES, QuotaDecider, WorkspaceDirectory],
})
export class CommandModule implements OnModuleInit {
  constructor(
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(WorkspaceDirectory) private readonly workspaces: WorkspaceDirectory,
    @Inject(ReplicaToken) private readonly replicaToken: ReplicaToken,
  ) {}

  /**
   * Loads API keys, every workspace's catalog and the replica token before
   * the decider starts serving. CatalogFeed then applies the newer catalogs
   * of the catalog topic.
   */
  async onModuleInit(): Promise<void> {
    const loaded = await loadWorkspaces(this.pool);
    this.workspaces.replace(await loadCatalogs(this.pool), loaded.apiKeys);
    this.replicaToken.set(await loadReplicaToken(this.pool));
  }
}
