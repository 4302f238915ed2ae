import type { CpuUsage } from './cpu';
import type { LoopResult } from './load';
import type { PhaseRecorder } from './recorder';

/** The measurements of one phase: one system under one load. */
export interface PhaseResult {
  system: string;
  /** `open` at a fixed arrival rate, or `closed` with a fixed number of requests in flight. */
  mode: 'open' | 'closed';
  /** Requests per second for an open loop, requests in flight for a closed one. */
  load: number;
  windowSeconds: number;
  /** Reserve replies per second inside the window, one per trace request the system decided. */
  requestsPerSecond: number;
  /** Reserve, commit and release replies per second inside the window. */
  callsPerSecond: number;
  /** Reserve latency percentiles in milliseconds: p50, p99, p99.9. */
  latencyMs: [number, number, number];
  samples: number;
  deniedPercent: number;
  errors: Map<string, number>;
  /** The first message of each error code. */
  errorMessages: Map<string, string>;
  errorCount: number;
  oversoldReservations: number;
  oversoldTokens: number;
  loop: LoopResult;
  cpu: CpuUsage | undefined;
  /** Facts the table has no column for, printed under it. */
  notes: string[];
}

export function phaseResult(
  system: string,
  mode: PhaseResult['mode'],
  load: number,
  recorder: PhaseRecorder,
  loop: LoopResult,
  cpu: CpuUsage | undefined,
): PhaseResult {
  const windowSeconds = (recorder.windowEnd - recorder.windowStart) / 1000;
  const [p50, p99, p999] = recorder.reserveLatency.percentiles([0.5, 0.99, 0.999]);
  const decided = recorder.allowed + recorder.denied;
  const notes: string[] = [];
  if (!loop.completedWindow) notes.push('the closed loop sent BENCH_MAX_REQUESTS requests before its window ended; raise it');
  if (loop.cancelledAfterDrain > 0) notes.push(`${loop.cancelledAfterDrain} calls were still in flight when the drain time ran out, and were cancelled or timed out`);
  return {
    system,
    mode,
    load,
    windowSeconds,
    requestsPerSecond: recorder.reservesInWindow / windowSeconds,
    callsPerSecond: recorder.callsInWindow / windowSeconds,
    latencyMs: [p50!, p99!, p999!],
    samples: recorder.reserveLatency.size,
    deniedPercent: decided > 0 ? (100 * recorder.denied) / decided : Number.NaN,
    errors: recorder.errors,
    errorMessages: recorder.errorMessages,
    errorCount: recorder.errorCount(),
    oversoldReservations: recorder.oversell.oversoldReservations,
    oversoldTokens: recorder.oversell.oversoldTokens(),
    loop,
    cpu,
    notes,
  };
}
