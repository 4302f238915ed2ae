import 'reflect-metadata';

import { Writable } from 'node:stream';

import { Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { pino } from 'pino';
import type { Registry } from 'prom-client';

import { KafkaModule } from '@vevee/kafka';
import { METRICS, PlatformModule, type Logger, type VeveeConfig } from '@vevee/platform';
import { PostgresModule } from '@vevee/postgres';

import { PostgresProjector, ProjectorPostgresModule } from '../src';

@Module({})
class ProjectorTestModule {
  static forRoot(config: VeveeConfig, logger: Logger): DynamicModule {
    return {
      module: ProjectorTestModule,
      imports: [PlatformModule.forRoot(config, logger), KafkaModule, PostgresModule, ProjectorPostgresModule],
    };
  }
}

/** Creates a logger that keeps its JSON lines in memory, so a test can check what was reported. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

export interface RunningProjector {
  app: INestApplicationContext;
  projector: PostgresProjector;
  registry: Registry;
}

/** Starts the projector in a Nest application context of its own; app.close() stops it. */
export async function startProjector(config: VeveeConfig, logger: Logger): Promise<RunningProjector> {
  const app = await NestFactory.createApplicationContext(ProjectorTestModule.forRoot(config, logger), { logger: false, abortOnError: false });
  return { app, projector: app.get(PostgresProjector), registry: app.get<Registry>(METRICS) };
}
