import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import pg from 'pg';

import { Vevee } from '@vevee/sdk';
import { waitFor } from '@vevee/testing';

import { summarizeProfile, InspectorProfiler, type CpuProfile } from './cpu-profile';
import { bestOpenLoopRate, runClosedPhase, runOpenPhase, warmUp, type PhaseContext } from './phases';
import { probeAppendLatency } from './kafka-probe';
import { emptyDiagnostics, type MaxRunDiagnostics } from './report';
import type { PhaseResult } from './results';
import { deciderActivity, eventLoopLag, projectionProgress, scrapeMetrics, type MetricSamples } from './server-metrics';
import { BENCH_API_KEY, BENCH_METER, startVeveeServer } from './vevee-server';
import { VeveeSystem } from './vevee-system';

/** Load that warms a fresh server up before the first measured phase. */
const SERVER_WARMUP = { rate: 500, seconds: 5 };

/** How long the bench waits, after a phase, for the decider and the projectors to finish its events. */
const PROJECTION_WAIT_MS = 60_000;

export interface VeveeBenchInput {
  context: PhaseContext;
  databaseUrl: string;
  runId: string;
  /** Destination of the maximum run's CPU profile, outside the run folder that bench.sh deletes. */
  profileCopy: string;
  /** Destination of the server's log. */
  logCopy: string;
  /** Registers a cleanup step that runs even when the bench fails or is interrupted. */
  onCleanup: (step: () => Promise<void>) => void;
}

/**
 * Starts Vevee, runs the open-loop rates and the closed loop through the SDK, and stops
 * it. During the closed loop it samples CPU and /metrics, and takes a CPU profile of
 * the server when profiling is on. Between phases it waits for the decider and the
 * projectors, so a backlog of one phase does not take CPU from the next.
 */
export async function benchVevee(input: VeveeBenchInput): Promise<{ results: PhaseResult[]; diagnostics: MaxRunDiagnostics }> {
  const { context } = input;
  const { settings } = context;
  context.progress('starting Vevee (standalone process)');
  const server = await startVeveeServer({
    root: settings.root,
    runDir: settings.runDir,
    kafkaBrokers: settings.kafkaBrokers,
    databaseUrl: input.databaseUrl,
    limits: { day: settings.dayLimit, month: settings.monthLimit },
    inspect: settings.profile,
  });
  input.onCleanup(() => server.stop());
  await waitUntilServing(server.url);
  const system = new VeveeSystem({ url: server.url, clients: settings.clients, runId: input.runId });
  const phaseContext: PhaseContext = {
    ...context,
    cpuGroups: [{ label: 'Vevee server', pid: server.pid }, ...context.cpuGroups, { label: 'PostgreSQL (all backends)', command: 'postgres' }],
  };
  const diagnostics: MaxRunDiagnostics = { ...emptyDiagnostics(), appendProbe: await probeAppendLatency(settings.kafkaBrokers) };
  const results: PhaseResult[] = [];

  await warmUp(phaseContext, system, 'vevee', SERVER_WARMUP.rate, SERVER_WARMUP.seconds);
  diagnostics.projectionCatchUp.push(await waitForProjection(server.url, 'the warm-up', context));
  for (const rate of settings.rates) {
    results.push(await runOpenPhase(phaseContext, system, 'vevee', rate));
    diagnostics.projectionCatchUp.push(await waitForProjection(server.url, `open ${rate}/s`, context));
  }

  // Starting V8's profiler stops the server's main thread while it logs every compiled
  // function, which took seconds once on a loaded machine, so it starts before the warm-up.
  const profiler = server.inspectPort === undefined ? undefined : await InspectorProfiler.connect(server.inspectPort);
  let before: MetricSamples | undefined;
  let profile: CpuProfile | undefined;
  try {
    results.push(
      await runClosedPhase(phaseContext, system, 'vevee', bestOpenLoopRate(results), {
        beforeLoad: async () => {
          await profiler?.start();
        },
        onWindowStart: async () => {
          before = await scrapeMetrics(server.url);
        },
        onWindowEnd: async () => {
          const after = await scrapeMetrics(server.url);
          if (before !== undefined) diagnostics.decider = deciderActivity(before, after);
          diagnostics.eventLoopLag = eventLoopLag(after);
          profile = await profiler?.stop();
        },
      }),
    );
  } finally {
    profiler?.close();
  }
  diagnostics.projectionCatchUp.push(await waitForProjection(server.url, 'the closed loop', context));
  diagnostics.snapshots = await snapshotSize(input.databaseUrl);

  if (profile !== undefined) {
    const file = path.join(settings.runDir, 'vevee-max.cpuprofile');
    writeFileSync(file, JSON.stringify(profile));
    mkdirSync(path.dirname(input.profileCopy), { recursive: true });
    copyFileSync(file, input.profileCopy);
    diagnostics.profile = summarizeProfile(profile, settings.root);
    diagnostics.profileFile = path.relative(settings.root, input.profileCopy);
  }

  await system.close();
  context.progress('stopping Vevee');
  await server.stop();
  mkdirSync(path.dirname(input.logCopy), { recursive: true });
  copyFileSync(server.logFile, input.logCopy);
  diagnostics.serverLog = summarizeServerLog(readFileSync(server.logFile, 'utf8'));
  diagnostics.serverLogFile = path.relative(settings.root, input.logCopy);
  return { results, diagnostics };
}

/**
 * Measures the decider's latest snapshots in Vevee's database: one row per partition,
 * and one per person in `decider_person_snapshots` where that table exists (before it,
 * the partition's row held every person). Returns undefined when this version of
 * Vevee keeps no `decider_snapshots` table.
 */
async function snapshotSize(databaseUrl: string): Promise<MaxRunDiagnostics['snapshots']> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const personTable = await client.query<{ exists: boolean }>(`SELECT to_regclass('decider_person_snapshots') IS NOT NULL AS exists`);
    const personRows = personTable.rows[0]!.exists
      ? `+ (SELECT coalesce(sum(octet_length(state::text)), 0) FROM decider_person_snapshots)`
      : '';
    const personCount = personTable.rows[0]!.exists ? `+ (SELECT count(*) FROM decider_person_snapshots)` : '';
    const result = await client.query<{ partitions: string; bytes: string; persons: string }>(
      `SELECT count(*) AS partitions, coalesce(sum(octet_length(state::text)), 0) ${personRows} AS bytes,
              coalesce(sum((SELECT count(*) FROM jsonb_object_keys(state))), 0) ${personCount} AS persons
         FROM decider_snapshots`,
    );
    const row = result.rows[0]!;
    return { partitions: Number(row.partitions), bytes: Number(row.bytes), persons: Number(row.persons) };
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return undefined;
    throw error;
  } finally {
    await client.end();
  }
}

/**
 * Counts the server's pino log lines (warnings and errors at LOG_LEVEL=warn) by message,
 * most frequent first. Lines that are not JSON (Node's warnings, the inspector's banner)
 * count as one entry.
 */
function summarizeServerLog(log: string): { message: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const line of log.split('\n')) {
    if (line.trim() === '') continue;
    let message = 'lines that are not JSON (Node warnings, inspector banner)';
    try {
      const entry = JSON.parse(line) as { msg?: unknown };
      if (typeof entry.msg === 'string') message = entry.msg;
    } catch {
      // Not a pino line: counted under the entry above.
    }
    counts.set(message, (counts.get(message) ?? 0) + 1);
  }
  return [...counts].sort((left, right) => right[1] - left[1]).slice(0, 8).map(([message, count]) => ({ message, count }));
}

/** Persons the readiness probe reserves for; with 12 ledger partitions, 64 persons reach every one with near certainty. */
const PROBE_PERSONS = 64;

/**
 * Waits until the decider serves. /healthz replies before the command group has
 * assigned the partitions, and a partition returns `unavailable` until its replay is
 * done. Reserves one token for each probe person, with the SDK's retries, then
 * releases it.
 */
async function waitUntilServing(url: string): Promise<void> {
  const sdk = new Vevee({ apiKey: BENCH_API_KEY, baseUrl: url, maxRetries: 10 });
  await Promise.all(
    Array.from({ length: PROBE_PERSONS }, async (_, index) => {
      const hold = await sdk.reserve({ personId: `probe-${index}`, meter: BENCH_METER, quantity: 1 });
      if (hold.allowed) await sdk.release({ reservationId: hold.reservationId });
    }),
  );
  sdk.close();
}

/**
 * Waits until the decider has no undurable events and both projectors have written every
 * event appended so far, for at most PROJECTION_WAIT_MS, so the next phase starts on an
 * idle server.
 */
async function waitForProjection(url: string, phase: string, context: PhaseContext): Promise<{ phase: string; seconds: number; caughtUp: boolean }> {
  const started = performance.now();
  let caughtUp = true;
  try {
    await waitFor(
      'the decider and the projectors to finish the appended events',
      async () => {
        const progress = projectionProgress(await scrapeMetrics(url));
        return progress.pending === 0 && progress.postgres >= progress.appended && progress.clickhouse >= progress.appended;
      },
      { timeoutMs: PROJECTION_WAIT_MS, intervalMs: 250 },
    );
  } catch {
    // A projector that cannot keep up is a result, not a failure: the report shows it.
    caughtUp = false;
  }
  const seconds = (performance.now() - started) / 1000;
  context.progress(`  decider and projectors ${caughtUp ? 'done' : 'still behind'} ${seconds.toFixed(1)} s after the phase`);
  return { phase, seconds, caughtUp };
}
