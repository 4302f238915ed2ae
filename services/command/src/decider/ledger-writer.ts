import type { Message, Producer } from 'kafkajs';

import { encodeLedgerEvent, personKey, type LedgerEvent } from '@vevee/contracts';

import { unavailable } from '../errors';

/** The most records one produce request carries; later records wait for the next one. */
const MAX_BATCH_RECORDS = 2_000;

interface Batch {
  messages: Message[];
  partitions: Set<number>;
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  // Callers await the promise themselves; this keeps an unobserved failure from
  // being reported as an unhandled rejection.
  promise.catch(() => undefined);
  return { messages: [], partitions: new Set(), promise, resolve, reject };
}

export interface LedgerWriterHooks {
  /** Called with the partitions whose undurable events were rejected, so their state can be rebuilt. */
  onAppendFailed(partitions: Set<number>, error: unknown): void;
  onBatchWritten(records: number, seconds: number): void;
}

/**
 * Group commit: events decided while a produce request is in flight gather in
 * the next batch, so one durable write (acks=all, idempotent producer) answers
 * many callers. One request is in flight at a time, which the idempotent
 * producer of kafkajs requires, and which keeps each partition's events in
 * decision order.
 */
export class LedgerWriter {
  private readonly queue: Batch[] = [];
  private flushing = false;

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly hooks: LedgerWriterHooks,
  ) {}

  /** Queues a person's events and returns a promise that settles when they are durable. */
  append(partition: number, events: LedgerEvent[]): Promise<void> {
    let batch = this.queue.at(-1);
    if (batch === undefined || batch.messages.length + events.length > MAX_BATCH_RECORDS) {
      batch = newBatch();
      this.queue.push(batch);
    }
    for (const event of events) {
      batch.messages.push({
        key: personKey(event.workspaceId, event.personId),
        value: encodeLedgerEvent(event),
        partition,
        headers: { 'vevee-type': event.type, 'vevee-version': String(event.version) },
      });
    }
    batch.partitions.add(partition);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
    return batch.promise;
  }

  /** Settles when everything queued so far is written or has failed. */
  async drain(): Promise<void> {
    const last = this.queue.at(-1);
    if (last !== undefined) {
      await last.promise.catch(() => undefined);
    }
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.shift()!;
      const started = performance.now();
      try {
        await this.producer.send({ topic: this.topic, acks: -1, messages: batch.messages });
        batch.resolve();
        this.hooks.onBatchWritten(batch.messages.length, (performance.now() - started) / 1000);
      } catch (error) {
        // Every batch still queued was decided on state that included the failed
        // events, so it fails too, and those partitions are rebuilt from the log.
        const failed = [batch, ...this.queue.splice(0)];
        const partitions = new Set<number>();
        for (const each of failed) {
          each.reject(unavailable('the ledger append failed; retry with the same idempotency key', error));
          for (const partition of each.partitions) partitions.add(partition);
        }
        this.hooks.onAppendFailed(partitions, error);
      }
    }
    this.flushing = false;
  }
}
