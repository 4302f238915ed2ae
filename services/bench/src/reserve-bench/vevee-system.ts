import { Vevee } from '@vevee/sdk';

import type { PhaseSetup, QuotaSystem, ReserveOutcome } from './quota-system';
import { BENCH_API_KEY, BENCH_METER } from './vevee-server';
import type { BenchRequest } from './workload';

export interface VeveeSystemOptions {
  url: string;
  /** SDK clients; request i goes through client i mod clients. They share Node's keep-alive agent. */
  clients: number;
  /** Unique per bench run, so no idempotency key repeats one stored by an earlier run. */
  runId: string;
}

/**
 * Vevee through `@vevee/sdk` with the binary (protobuf) format. Retries are off, so
 * every failed attempt counts as an error with its code instead of adding hidden
 * latency. Every reply means the decision is durable in the ledger.
 */
export class VeveeSystem implements QuotaSystem {
  static readonly label = 'Vevee';
  readonly name = VeveeSystem.label;
  private readonly clients: Vevee[];
  private keyPrefix = '';

  constructor(private readonly options: VeveeSystemOptions) {
    this.clients = Array.from(
      { length: options.clients },
      () => new Vevee({ apiKey: BENCH_API_KEY, baseUrl: options.url, format: 'binary', maxRetries: 0, timeoutMs: 10_000 }),
    );
  }

  async preparePhase(phase: PhaseSetup): Promise<void> {
    this.keyPrefix = `bench-${this.options.runId}-${phase.name}-`;
  }

  async reserve(request: BenchRequest): Promise<ReserveOutcome> {
    const reply = await this.client(request).reserve({
      personId: request.personId,
      meter: BENCH_METER,
      quantity: request.tokens,
      idempotencyKey: `${this.keyPrefix}${request.index}`,
    });
    return { allowed: reply.allowed, reservationId: reply.reservationId };
  }

  async commit(request: BenchRequest, reservationId: string): Promise<void> {
    await this.client(request).commit({ reservationId, quantity: request.tokens, ...request.commit });
  }

  async release(request: BenchRequest, reservationId: string): Promise<void> {
    await this.client(request).release({ reservationId });
  }

  // The SDK's per-attempt deadline bounds every call, so nothing needs cancelling.
  cancelPending(): void {}

  resume(): void {}

  async close(): Promise<void> {
    for (const client of this.clients) client.close();
  }

  private client(request: BenchRequest): Vevee {
    return this.clients[request.index % this.clients.length]!;
  }
}
