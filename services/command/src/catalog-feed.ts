import { randomUUID } from 'node:crypto';

import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { Consumer, EachMessagePayload, Kafka } from 'kafkajs';

import { KAFKA, catalogTopic, ensureCatalogTopic, groupId } from '@vevee/kafka';
import { CONFIG, LOGGER, type Logger, type VeveeConfig } from '@vevee/platform';
import { CatalogError, parseWorkspaceCatalog } from '@vevee/postgres';

import { WorkspaceDirectory } from './workspaces';

/** Prefix of the catalog reader's consumer group; each process adds a UUID, so every replica reads every record. */
export const CATALOG_READER_GROUP = 'vevee-command-catalog';

/**
 * Reads the catalog topic from its beginning and hands each workspace's
 * catalog to the WorkspaceDirectory, which keeps it only when its version is
 * newer than the one it has. CommandModule loads the catalogs from PostgreSQL
 * before this starts, so a replica decides with the latest committed catalog
 * even before it reaches the topic's end.
 */
@Injectable()
export class CatalogFeed implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private consumer: Consumer | undefined;
  private readonly topic: string;
  private readonly log: Logger;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(CONFIG) private readonly config: VeveeConfig,
    @Inject(LOGGER) logger: Logger,
    @Inject(WorkspaceDirectory) private readonly workspaces: WorkspaceDirectory,
  ) {
    this.topic = catalogTopic(config);
    this.log = logger.child({ component: 'catalog-feed' });
  }

  async onApplicationBootstrap(): Promise<void> {
    await ensureCatalogTopic(this.kafka, this.config);
    const group = `${groupId(this.config, CATALOG_READER_GROUP)}-${randomUUID()}`;
    // No offsets are committed: a restarted process reads the topic from the start again.
    const consumer = this.kafka.consumer({ groupId: group, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
    consumer.on(consumer.events.CRASH, (event) => {
      this.log.error({ err: event.payload.error, restart: event.payload.restart }, 'catalog reader crashed');
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachMessage: async (payload) => this.handle(payload) });
    this.log.info({ topic: this.topic, groupId: group }, 'catalog reader started');
  }

  async beforeApplicationShutdown(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.disconnect();
  }

  /**
   * Applies one catalog record. An invalid record is logged and skipped: the
   * previous catalog stays in force, and the next valid record of the
   * workspace, which carries the whole catalog, replaces it.
   */
  private async handle({ message, partition }: EachMessagePayload): Promise<void> {
    const key = message.key?.toString('utf8');
    const where = { topic: this.topic, partition, offset: message.offset, workspaceId: key };
    if (message.value === null) return;
    let catalog;
    try {
      catalog = parseWorkspaceCatalog(JSON.parse(message.value.toString('utf8')), `record at offset ${message.offset} of ${this.topic}`);
    } catch (error) {
      const reason = error instanceof CatalogError || error instanceof SyntaxError ? error.message : String(error);
      this.log.error({ ...where, reason }, 'skipped an invalid catalog record; the workspace keeps its previous catalog');
      return;
    }
    if (catalog.workspaceId !== key) {
      this.log.error({ ...where, catalogWorkspaceId: catalog.workspaceId }, 'skipped a catalog record whose key is not its workspaceId');
      return;
    }
    if (this.workspaces.applyCatalog(catalog)) {
      this.log.info({ ...where, version: catalog.version }, 'catalog updated');
    }
  }
}
