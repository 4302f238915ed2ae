import type { TraceRequest } from '@vevee/demo';

import { startCpuSample, type CpuUsage, type ProcessGroup } from './cpu';
import { runClosedLoop, runOpenLoop, type WindowHooks } from './load';
import type { QuotaSystem } from './quota-system';
import { PhaseRecorder } from './recorder';
import { phaseResult, type PhaseResult } from './results';
import type { BenchSettings } from './settings';
import { COHORT_REQUESTS, cohortPersonIds, cohortsFor, takeRequests, workloadStream, type BenchRequest } from './workload';

/** The closed loop's expected throughput when no open-loop result gives one. */
const DEFAULT_EXPECTED_PER_SECOND = 5_000;

/** Cohorts that interleave in the closed loop: 6,000 persons at a time, the mix of a 5,000/s open loop of 12 s. */
const CLOSED_LOOP_COHORTS_PER_ROUND = 20;

/** Hooks of a closed-loop phase: `beforeLoad` runs once its requests are ready, right before the warm-up. */
export interface ClosedPhaseHooks extends WindowHooks {
  beforeLoad?: () => Promise<void>;
}

export interface PhaseContext {
  settings: BenchSettings;
  trace: readonly TraceRequest[];
  /** Processes whose CPU time each phase samples over its window. */
  cpuGroups: ProcessGroup[];
  /** Prints a progress line. */
  progress: (line: string) => void;
}

/**
 * Sends `seconds` of open-loop load at `rate` on persons of their own and discards the
 * results, so the first measured phase does not pay for a fresh server's JIT compilation
 * and first connections.
 */
export async function warmUp(context: PhaseContext, system: QuotaSystem, systemId: string, rate: number, seconds: number): Promise<void> {
  const name = `${systemId}-warmup`;
  const personPrefix = `${name}-`;
  const total = rate * seconds;
  const cohortsPerRound = Math.max(1, Math.round(total / COHORT_REQUESTS));
  const requests = takeRequests(workloadStream({ trace: context.trace, personPrefix, cohortsPerRound }), total);
  await system.preparePhase({ name, personIds: cohortPersonIds(personPrefix, cohortsFor(total, cohortsPerRound)) });
  context.progress(`${system.name}: warming up at ${rate} requests/s for ${seconds} s, not measured`);
  await runOpenLoop(system, requests, { ratePerSecond: rate, warmupMs: 0, durationMs: seconds * 1000, drainMs: context.settings.drainMs }, new PhaseRecorder(context.settings.dayLimit));
}

/** Runs the open-loop phase at `rate` requests per second on fresh persons. */
export async function runOpenPhase(context: PhaseContext, system: QuotaSystem, systemId: string, rate: number): Promise<PhaseResult> {
  const { settings } = context;
  const total = Math.round((rate * (settings.warmupMs + settings.durationMs)) / 1000);
  // Enough cohorts that each one completes within the phase and reaches the demo's share of denials.
  const cohortsPerRound = Math.max(1, Math.round(total / COHORT_REQUESTS));
  const name = `${systemId}-open${rate}`;
  const personPrefix = `${name}-`;
  const requests = takeRequests(workloadStream({ trace: context.trace, personPrefix, cohortsPerRound }), total);
  await system.preparePhase({ name, personIds: cohortPersonIds(personPrefix, cohortsFor(total, cohortsPerRound)) });

  context.progress(`${system.name}: open loop at ${rate} requests/s for ${(settings.warmupMs + settings.durationMs) / 1000} s`);
  const recorder = new PhaseRecorder(settings.dayLimit);
  const cpu = cpuWindow(context.cpuGroups);
  const loop = await runOpenLoop(
    system,
    requests,
    { ratePerSecond: rate, warmupMs: settings.warmupMs, durationMs: settings.durationMs, drainMs: settings.drainMs, ...cpu.hooks },
    recorder,
  );
  return report(context, phaseResult(system.name, 'open', rate, recorder, loop, cpu.usage()));
}

/**
 * Runs the closed-loop phase for the maximum sustained throughput. `hooks` run after the
 * CPU sampling starts and before it stops. Every system gets the same request sequence,
 * so a slower system gets less far into it and gets fewer denials. `expectedPerSecond`,
 * the best rate the system reached in the open loop, sizes the requests generated before
 * the phase. A faster system takes more from the generator during the phase, which
 * costs the bench about 4 microseconds per request.
 */
export async function runClosedPhase(context: PhaseContext, system: QuotaSystem, systemId: string, expectedPerSecond: number | undefined, hooks: ClosedPhaseHooks = {}): Promise<PhaseResult> {
  const { settings } = context;
  const name = `${systemId}-closed`;
  const personPrefix = `${name}-`;
  const phaseSeconds = (settings.warmupMs + settings.maxDurationMs) / 1000;
  const expectedRequests = (expectedPerSecond ?? DEFAULT_EXPECTED_PER_SECOND) * phaseSeconds;
  const cohortsPerRound = CLOSED_LOOP_COHORTS_PER_ROUND;
  const stream = workloadStream({ trace: context.trace, personPrefix, cohortsPerRound });
  const pregenerated = takeRequests(stream, Math.min(settings.maxRequests, Math.ceil(2 * expectedRequests)));
  let sent = 0;
  const nextRequest = (): BenchRequest | undefined => {
    if (sent >= settings.maxRequests) return undefined;
    const request = pregenerated[sent] ?? stream.next().value;
    sent++;
    return request;
  };
  await system.preparePhase({ name, personIds: cohortPersonIds(personPrefix, cohortsFor(settings.maxRequests, cohortsPerRound)) });

  context.progress(`${system.name}: closed loop with ${settings.concurrency} requests in flight for ${(settings.warmupMs + settings.maxDurationMs) / 1000} s`);
  const recorder = new PhaseRecorder(settings.dayLimit);
  const cpu = cpuWindow(context.cpuGroups);
  await hooks.beforeLoad?.();
  const loop = await runClosedLoop(
    system,
    nextRequest,
    {
      concurrency: settings.concurrency,
      warmupMs: settings.warmupMs,
      durationMs: settings.maxDurationMs,
      onWindowStart: async () => {
        await cpu.hooks.onWindowStart();
        await hooks.onWindowStart?.();
      },
      onWindowEnd: async () => {
        await cpu.hooks.onWindowEnd();
        await hooks.onWindowEnd?.();
      },
    },
    recorder,
  );
  return report(context, phaseResult(system.name, 'closed', settings.concurrency, recorder, loop, cpu.usage()));
}

function cpuWindow(groups: ProcessGroup[]): { hooks: { onWindowStart: () => void; onWindowEnd: () => void }; usage: () => CpuUsage | undefined } {
  let stop: (() => CpuUsage) | undefined;
  let usage: CpuUsage | undefined;
  return {
    hooks: {
      onWindowStart: () => {
        stop = startCpuSample(groups);
      },
      onWindowEnd: () => {
        usage = stop?.();
      },
    },
    usage: () => usage,
  };
}

/** Returns the highest throughput among open-loop results: the closed loop's expected rate. */
export function bestOpenLoopRate(results: readonly PhaseResult[]): number | undefined {
  const rates = results.filter((result) => result.mode === 'open').map((result) => result.requestsPerSecond);
  return rates.length === 0 ? undefined : Math.max(...rates);
}

function report(context: PhaseContext, result: PhaseResult): PhaseResult {
  const [p50, p99] = result.latencyMs;
  context.progress(
    `  ${Math.round(result.requestsPerSecond)} requests/s, p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, ${result.deniedPercent.toFixed(1)}% denied, ${result.errorCount} errors, ${result.oversoldReservations} oversold`,
  );
  return result;
}
