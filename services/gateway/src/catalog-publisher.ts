import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { Kafka, Message, Producer } from 'kafkajs';
import type pg from 'pg';

import type { WorkspaceCatalog } from '@vevee/domain';
import { KAFKA, catalogTopic, ensureCatalogTopic } from '@vevee/kafka';
import { CONFIG, LOGGER, type Logger, type VeveeConfig } from '@vevee/platform';
import { PG_POOL, loadCatalog, loadCatalogs } from '@vevee/postgres';

/** How often the publisher tries again to deliver catalogs whose publish failed, in milliseconds. */
const REDELIVERY_INTERVAL_MS = 2_000;

function recordOf(catalog: WorkspaceCatalog): Message {
  return {
    key: catalog.workspaceId,
    value: JSON.stringify(catalog),
    headers: { 'vevee-catalog-version': String(catalog.version) },
  };
}

/**
 * Publishes workspace catalogs to the compacted catalog topic, keyed by
 * workspace id, with acks from every in-sync replica. A change commits in
 * PostgreSQL before its publish. When the publish fails, the workspace is
 * retried every 2 s with its latest catalog read from PostgreSQL, and every
 * gateway start republishes every catalog.
 */
@Injectable()
export class CatalogPublisher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private producer: Producer | undefined;
  private readonly undelivered = new Set<string>();
  private redeliveryTimer: NodeJS.Timeout | undefined;
  private readonly topic: string;
  private readonly log: Logger;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(CONFIG) private readonly config: VeveeConfig,
    @Inject(LOGGER) logger: Logger,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
  ) {
    this.topic = catalogTopic(config);
    this.log = logger.child({ component: 'catalog-publisher' });
  }

  async onApplicationBootstrap(): Promise<void> {
    await ensureCatalogTopic(this.kafka, this.config);
    const producer = this.kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await producer.connect();
    this.producer = producer;
    await this.republishCatalogs();
    this.redeliveryTimer = setInterval(() => void this.redeliver(), REDELIVERY_INTERVAL_MS);
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.redeliveryTimer);
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect();
  }

  /**
   * Publishes the latest catalog of every workspace, so a change whose
   * publish failed before the previous shutdown reaches the deciders.
   */
  async republishCatalogs(): Promise<void> {
    const catalogs = await loadCatalogs(this.pool);
    if (catalogs.length === 0) return;
    await this.send(catalogs);
    this.log.info({ workspaces: catalogs.length }, 'republished every workspace catalog');
  }

  /**
   * Publishes a catalog that a committed change produced. On failure the
   * workspace is queued for redelivery and the error is rethrown.
   */
  async publish(catalog: WorkspaceCatalog): Promise<void> {
    try {
      await this.send([catalog]);
    } catch (error) {
      this.undelivered.add(catalog.workspaceId);
      this.log.error({ err: error, workspaceId: catalog.workspaceId, version: catalog.version }, 'publishing a catalog failed; it is retried with the latest catalog from PostgreSQL');
      throw error;
    }
  }

  private async send(catalogs: WorkspaceCatalog[]): Promise<void> {
    if (this.producer === undefined) throw new Error('the catalog publisher is not connected: the gateway is starting or stopping');
    await this.producer.send({ topic: this.topic, acks: -1, messages: catalogs.map(recordOf) });
  }

  private async redeliver(): Promise<void> {
    for (const workspaceId of [...this.undelivered]) {
      try {
        const catalog = await loadCatalog(this.pool, workspaceId);
        if (catalog !== undefined) await this.send([catalog]);
        this.undelivered.delete(workspaceId);
        this.log.info({ workspaceId, version: catalog?.version }, 'redelivered a catalog');
      } catch (error) {
        this.log.warn({ err: error, workspaceId }, 'redelivering a catalog failed; retrying');
      }
    }
  }
}
