import type { BenchRequest } from './workload';

export interface ReserveOutcome {
  allowed: boolean;
  /** Empty when denied. */
  reservationId: string;
}

/** The facts of a phase that a system needs before the load starts. */
export interface PhaseSetup {
  /** Unique per phase and per run; part of idempotency keys. */
  name: string;
  /** Every person the phase's requests can name. */
  personIds: string[];
}

/** A quota backend under test: Vevee through its SDK, or a baseline. Each call settles when its effect is stored. */
export interface QuotaSystem {
  readonly name: string;
  /** Prepares for a phase, for example inserting the counter rows of its persons. */
  preparePhase(phase: PhaseSetup): Promise<void>;
  reserve(request: BenchRequest): Promise<ReserveOutcome>;
  commit(request: BenchRequest, reservationId: string): Promise<void>;
  release(request: BenchRequest, reservationId: string): Promise<void>;
  /** Makes calls that have not reached the store yet fail at once with the code `cancelled`, until `resume`. */
  cancelPending(): void;
  resume(): void;
  close(): Promise<void>;
}

/** A failed baseline call, with a code counted in the results like the SDK's error codes. */
export class BenchCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BenchCallError';
  }
}

export const cancelled = (): BenchCallError => new BenchCallError('cancelled', 'the phase ended before this call reached the store');

/**
 * Returns the error code and message of a failed call: the SDK's code (a VeveeError) or a
 * baseline's BenchCallError code. Rethrows anything else, because that is a bug in the
 * benchmark.
 */
export function describeCallError(error: unknown): { code: string; message: string } {
  const code: unknown = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  if (typeof code !== 'string') throw error;
  const cause = (error as Error).cause;
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return { code, message: `${(error as Error).message}${detail}` };
}
