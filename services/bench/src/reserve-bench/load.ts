import { setTimeout as sleep } from 'node:timers/promises';

import { describeCallError, type QuotaSystem } from './quota-system';
import type { PhaseRecorder } from './recorder';
import type { BenchRequest } from './workload';

/** Called when the measurement window opens and closes, to sample CPU, metrics or a profile. */
export interface WindowHooks {
  onWindowStart?: () => Promise<void> | void;
  onWindowEnd?: () => Promise<void> | void;
}

export interface OpenLoopOptions extends WindowHooks {
  ratePerSecond: number;
  warmupMs: number;
  durationMs: number;
  /** How long to wait for calls in flight after the last send before cancelling the rest. */
  drainMs: number;
}

export interface ClosedLoopOptions extends WindowHooks {
  /** Requests in flight at all times. */
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

export interface LoopResult {
  /** False when a closed loop ran out of requests before the window ended. */
  completedWindow: boolean;
  /** Calls still in flight when the drain time ran out, which were then cancelled or timed out. */
  cancelledAfterDrain: number;
}

/**
 * Runs one request as an app does around a model call: reserve, then commit the tokens
 * or, for a failed call, release the hold. Latency is the reserve's, from `startedAt`.
 */
async function runRequest(system: QuotaSystem, request: BenchRequest, recorder: PhaseRecorder, startedAt: number, measured: boolean): Promise<void> {
  let outcome;
  try {
    outcome = await system.reserve(request);
  } catch (error) {
    const { code, message } = describeCallError(error);
    recorder.failed(code, message, measured);
    return;
  }
  recorder.reserveReplied(startedAt, performance.now(), outcome.allowed, measured);
  if (!outcome.allowed) return;

  try {
    if (request.releases) await system.release(request, outcome.reservationId);
    else await system.commit(request, outcome.reservationId);
  } catch (error) {
    const { code, message } = describeCallError(error);
    recorder.failed(code, message, measured);
    return;
  }
  recorder.followUpDone(request, performance.now(), !request.releases);
}

/** Runs a hook at an instant of the performance clock and returns the promise of its work. */
function hookAt(at: number, hook: (() => Promise<void> | void) | undefined): Promise<void> {
  if (hook === undefined) return Promise.resolve();
  return sleep(Math.max(0, at - performance.now())).then(hook);
}

/**
 * Open loop: request i is due at start + i / rate whatever the replies do, so the
 * latency, measured from that due time, includes any queueing in the client or the
 * system (no coordinated omission). Requests due in the window after the warm-up are
 * measured. Sends follow the schedule to within the timer's 1 ms resolution.
 */
export async function runOpenLoop(system: QuotaSystem, requests: readonly BenchRequest[], options: OpenLoopOptions, recorder: PhaseRecorder): Promise<LoopResult> {
  const intervalMs = 1000 / options.ratePerSecond;
  const start = performance.now() + 20;
  const windowStart = start + options.warmupMs;
  const windowEnd = windowStart + options.durationMs;
  recorder.setWindow(windowStart, windowEnd);
  const hooks = [hookAt(windowStart, options.onWindowStart), hookAt(windowEnd, options.onWindowEnd)];

  let inFlight = 0;
  let idle: (() => void) | undefined;
  const settle = (): void => {
    inFlight--;
    if (inFlight === 0) idle?.();
  };

  let next = 0;
  while (next < requests.length) {
    const now = performance.now();
    while (next < requests.length && start + next * intervalMs <= now) {
      const due = start + next * intervalMs;
      inFlight++;
      void runRequest(system, requests[next]!, recorder, due, due >= windowStart && due < windowEnd).finally(settle);
      next++;
    }
    await sleep(1);
  }

  const drained = inFlight === 0 || (await Promise.race([new Promise<boolean>((resolve) => (idle = () => resolve(true))), sleep(options.drainMs).then(() => false)]));
  const cancelledAfterDrain = drained ? 0 : inFlight;
  if (!drained) {
    system.cancelPending();
    if (inFlight > 0) await new Promise<void>((resolve) => (idle = resolve));
    system.resume();
  }
  await Promise.all(hooks);
  return { completedWindow: true, cancelledAfterDrain };
}

/**
 * Closed loop: `concurrency` workers each send their next request as soon as the previous
 * one is done, for the maximum sustained throughput. Requests sent in the window are
 * measured, with latency from their send time. `nextRequest` returns undefined when the
 * requests run out.
 */
export async function runClosedLoop(system: QuotaSystem, nextRequest: () => BenchRequest | undefined, options: ClosedLoopOptions, recorder: PhaseRecorder): Promise<LoopResult> {
  const start = performance.now();
  const windowStart = start + options.warmupMs;
  const windowEnd = windowStart + options.durationMs;
  recorder.setWindow(windowStart, windowEnd);
  const hooks = [hookAt(windowStart, options.onWindowStart), hookAt(windowEnd, options.onWindowEnd)];

  let exhausted = false;
  const worker = async (): Promise<void> => {
    for (;;) {
      const now = performance.now();
      if (now >= windowEnd) return;
      const request = nextRequest();
      if (request === undefined) {
        exhausted = true;
        return;
      }
      await runRequest(system, request, recorder, now, now >= windowStart);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  await Promise.all(hooks);
  return { completedWindow: !exhausted, cancelledAfterDrain: 0 };
}
