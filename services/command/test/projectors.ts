import 'reflect-metadata';

import type { ClickHouseClient } from '@clickhouse/client';
import { Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type pg from 'pg';

import { CLICKHOUSE, ClickHouseModule, countEvents } from '@vevee/clickhouse';
import { LEDGER_EVENT_TYPES, type LedgerEventType } from '@vevee/contracts';
import { KafkaModule, ledgerTopic } from '@vevee/kafka';
import { PlatformModule, type Logger, type VeveeConfig } from '@vevee/platform';
import { PostgresModule } from '@vevee/postgres';
import { ProjectorClickHouseModule } from '@vevee/projector-clickhouse';
import { POSTGRES_PROJECTOR, ProjectorPostgresModule, projectedOffsets } from '@vevee/projector-postgres';
import { waitFor } from '@vevee/testing';

import type { LedgerFold } from './ledger-fold';

@Module({})
class ProjectorsModule {
  static forRoot(config: VeveeConfig, logger: Logger): DynamicModule {
    return {
      module: ProjectorsModule,
      imports: [PlatformModule.forRoot(config, logger), KafkaModule, PostgresModule, ClickHouseModule, ProjectorPostgresModule, ProjectorClickHouseModule],
    };
  }
}

/** Both projectors in this test process, reading the ledger from its start. */
export class RunningProjectors {
  private constructor(
    private readonly app: INestApplicationContext,
    private readonly config: VeveeConfig,
  ) {}

  static async start(config: VeveeConfig, logger: Logger): Promise<RunningProjectors> {
    const app = await NestFactory.createApplicationContext(ProjectorsModule.forRoot(config, logger), { logger: false, abortOnError: false });
    return new RunningProjectors(app, config);
  }

  get clickhouse(): ClickHouseClient {
    return this.app.get<ClickHouseClient>(CLICKHOUSE, { strict: false });
  }

  /**
   * Waits until PostgreSQL has projected every partition up to the last event
   * of the fold, and ClickHouse contains as many events of the workspace as the
   * fold. The offsets are compared with the fold's last event, not the topic's
   * end, because the end of a transactional partition is a commit marker that
   * the projector may never store.
   */
  async waitForFold(pool: pg.Pool, fold: LedgerFold, workspaceId: string): Promise<void> {
    const topic = ledgerTopic(this.config);
    await waitFor(
      'the PostgreSQL projection to reach the last ledger event of every partition',
      async () => {
        const projected = await projectedOffsets(pool, POSTGRES_PROJECTOR, topic);
        const behind = [...fold.nextOffsets].filter(([partition, next]) => (projected.get(partition) ?? 0n) < next);
        return behind.length === 0 || undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await waitFor(
      `ClickHouse to hold the ledger's ${fold.eventCount} events`,
      async () => (await countEvents(this.clickhouse, this.config.clickhouseDatabase, { workspaceId })) === fold.eventCount || undefined,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  }

  /** Returns the number of ClickHouse events of each ledger event type in the workspace. */
  async countsByType(workspaceId: string): Promise<Record<LedgerEventType, number>> {
    const counts = {} as Record<LedgerEventType, number>;
    for (const type of LEDGER_EVENT_TYPES) {
      counts[type] = await countEvents(this.clickhouse, this.config.clickhouseDatabase, { workspaceId, type });
    }
    return counts;
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}

/** Returns PostgreSQL's used and reserved quantity per person of a meter, summed over the day windows. */
export async function dayCounters(pool: pg.Pool, workspaceId: string, meter: string): Promise<Map<string, { used: number; reserved: number }>> {
  const result = await pool.query<{ person_id: string; used: string; reserved: string }>(
    `SELECT person_id, sum(used) AS used, sum(reserved) AS reserved
       FROM usage_counters
      WHERE workspace_id = $1 AND meter = $2 AND period = 'day'
      GROUP BY person_id`,
    [workspaceId, meter],
  );
  return new Map(result.rows.map((row) => [row.person_id, { used: Number(row.used), reserved: Number(row.reserved) }]));
}
