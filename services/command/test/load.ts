import { VeveeError, type Vevee } from '@vevee/sdk';

/** Retriable errors that callers saw, by error code. */
export class ErrorTally {
  readonly counts = new Map<string, number>();
  /** The last message of each code, for failure messages. */
  readonly lastMessages = new Map<string, string>();

  add(error: VeveeError): void {
    this.counts.set(error.code, (this.counts.get(error.code) ?? 0) + 1);
    this.lastMessages.set(error.code, error.message);
  }

  count(code: string): number {
    return this.counts.get(code) ?? 0;
  }

  total(): number {
    return [...this.counts.values()].reduce((sum, count) => sum + count, 0);
  }
}

export interface RetryOptions {
  /** Epoch milliseconds after which the last error is thrown. */
  deadline: number;
  errors: ErrorTally;
  /** Pause between attempts, in milliseconds. */
  backoffMs?: number;
  /** Ends the retries early, with the last error, once aborted. */
  signal?: AbortSignal;
}

/**
 * Repeats `call` while it fails with a retriable VeveeError, until the
 * deadline. The caller passes the same idempotency key on every attempt, so
 * a repeat returns the first reply. Every retriable error is counted.
 */
export async function retryUntil<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const veveeError = VeveeError.from(error);
      if (!veveeError.retriable) throw veveeError;
      options.errors.add(veveeError);
      if (options.signal?.aborted === true) throw veveeError;
      if (Date.now() > options.deadline) {
        throw new Error(`call still failing at the deadline: ${veveeError.code}: ${veveeError.message}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, options.backoffMs ?? 100));
    }
  }
}

/** One reserve → commit cycle as the client saw it. */
export interface CycleRecord {
  personId: string;
  idempotencyKey: string;
  allowed: boolean;
  reservationId: string;
  /** The quantity committed, when the reserve was allowed. */
  committed: number | undefined;
  /** When the reserve reply arrived, in epoch milliseconds. */
  answeredAt: number;
}

export interface LoadOptions {
  sdk: Vevee;
  persons: string[];
  meter: string;
  /** The quantity each cycle reserves. */
  reserveQuantity: (cycle: number) => number;
  /** Returns true once the load should stop starting cycles. */
  shouldStop: () => boolean;
  errors: ErrorTally;
  /** How long each call is retried before the load fails, in milliseconds. */
  callTimeoutMs: number;
  /** Called after every finished cycle. */
  onCycle?: (record: CycleRecord) => void;
}

/** Returns the quantity a cycle commits, from 1 to the reserved quantity. It depends on the cycle number only, so a retried commit repeats the same request. */
function commitQuantity(cycle: number, reserved: number): number {
  return 1 + ((cycle * 7) % reserved);
}

/**
 * Runs one worker per person, each doing reserve → commit cycles one after
 * another until `shouldStop`. Every call is retried with its idempotency key
 * until the deadline, so each cycle ends with a known reply.
 */
export async function runReserveCommitLoad(options: LoadOptions): Promise<CycleRecord[]> {
  const records: CycleRecord[] = [];
  // The first failed worker fails the load, and the others stop retrying.
  const failed = new AbortController();
  const retry = <T>(call: () => Promise<T>): Promise<T> =>
    retryUntil(call, { errors: options.errors, deadline: Date.now() + options.callTimeoutMs, signal: failed.signal });

  const runWorker = async (personId: string): Promise<void> => {
    for (let cycle = 0; !options.shouldStop() && !failed.signal.aborted; cycle++) {
      const idempotencyKey = `${personId}:${cycle}`;
      const reserved = options.reserveQuantity(cycle);
      const reply = await retry(() => options.sdk.reserve({ personId, meter: options.meter, quantity: reserved, idempotencyKey }));
      const answeredAt = Date.now();
      let committed: number | undefined;
      if (reply.allowed) {
        const quantity = commitQuantity(cycle, reserved);
        await retry(() => options.sdk.commit({ reservationId: reply.reservationId, quantity, cost: quantity / 1000 })).catch((error: unknown) => {
          throw new Error(`commit of reservation ${reply.reservationId} failed, although reserve ${idempotencyKey} was allowed: ${String(error)}`, { cause: error });
        });
        committed = quantity;
      }
      const record: CycleRecord = { personId, idempotencyKey, allowed: reply.allowed, reservationId: reply.reservationId, committed, answeredAt };
      records.push(record);
      options.onCycle?.(record);
    }
  };

  await Promise.all(
    options.persons.map((personId) =>
      runWorker(personId).catch((error: unknown) => {
        failed.abort();
        throw error;
      }),
    ),
  );
  return records;
}

/** Returns a one-line account of a load, for the test output. */
export function describeLoad(records: CycleRecord[], errors: ErrorTally): string {
  const allowed = records.filter((record) => record.allowed).length;
  const retried = JSON.stringify(Object.fromEntries(errors.counts));
  return `${records.length} cycles, ${allowed} allowed and committed, ${records.length - allowed} denied, retriable errors ${retried}`;
}
