import type { ProfileSummary } from './cpu-profile';
import type { AppendLatency } from './kafka-probe';
import type { MachineInfo } from './machine';
import type { PhaseResult } from './results';
import type { DeciderActivity } from './server-metrics';
import type { BenchSettings } from './settings';

/** Findings about Vevee's maximum-throughput phase beyond its table row. */
export interface MaxRunDiagnostics {
  decider: DeciderActivity | undefined;
  eventLoopLag: { meanMs: number; p99Ms: number } | undefined;
  profile: ProfileSummary | undefined;
  profileFile: string | undefined;
  /** Seconds after each Vevee phase until no event was pending and both projectors had written every appended event. */
  projectionCatchUp: { phase: string; seconds: number; caughtUp: boolean }[];
  /** The broker's own append latency, measured before Vevee starts. */
  appendProbe: AppendLatency[];
  /** The most frequent messages of the server's log. */
  serverLog: { message: string; count: number }[];
  serverLogFile: string | undefined;
  /** The decider's latest snapshots in PostgreSQL at the end of the Vevee phases. */
  snapshots: { partitions: number; bytes: number; persons: number } | undefined;
}

export function emptyDiagnostics(): MaxRunDiagnostics {
  return { decider: undefined, eventLoopLag: undefined, profile: undefined, profileFile: undefined, projectionCatchUp: [], appendProbe: [], serverLog: [], serverLogFile: undefined, snapshots: undefined };
}

export interface ReportInput {
  startedAt: Date;
  machine: MachineInfo;
  /** Share of all cores busy during 3 s before the benchmark started anything. */
  busyBefore: number;
  versions: { kafka: string; postgres: string; redis: string };
  settings: BenchSettings;
  results: PhaseResult[];
  diagnostics: MaxRunDiagnostics;
  loadAverageAtEnd: number[];
}

/** Above this share of busy CPU before the run, the report warns that the numbers include other work. */
const BUSY_WARNING_PERCENT = 10;

const count = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function milliseconds(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (value >= 100) return count.format(value);
  return value.toFixed(value >= 10 ? 1 : 2);
}

function loadLabel(result: PhaseResult): string {
  return result.mode === 'open' ? `open ${count.format(result.load)}/s` : `closed ${result.load} in flight`;
}

/** Formats rows as a Markdown table with padded columns, numeric columns aligned right. */
export function formatTable(headers: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => row[column]!.length)));
  const pad = (cell: string, column: number): string => (rightAligned[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!));
  const line = (cells: string[]): string => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (rightAligned[column] ? `${'-'.repeat(width + 1)}:` : `:${'-'.repeat(width + 1)}`)).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

function resultsTable(results: PhaseResult[]): string {
  const headers = ['system', 'load', 'req/s', 'calls/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'denied', 'errors', 'oversold'];
  const rows = results.map((result) => [
    result.system,
    loadLabel(result),
    count.format(result.requestsPerSecond),
    count.format(result.callsPerSecond),
    ...result.latencyMs.map(milliseconds),
    Number.isFinite(result.deniedPercent) ? `${result.deniedPercent.toFixed(1)}%` : '-',
    count.format(result.errorCount),
    count.format(result.oversoldReservations),
  ]);
  return formatTable(headers, rows, [false, false, true, true, true, true, true, true, true, true]);
}

function detailLines(results: PhaseResult[]): string[] {
  const lines: string[] = [];
  for (const result of results) {
    const label = `${result.system}, ${loadLabel(result)}`;
    if (result.errorCount > 0) {
      const codes = [...result.errors]
        .sort((left, right) => right[1] - left[1])
        .map(([code, errors]) => `${code} ${count.format(errors)} (first: "${(result.errorMessages.get(code) ?? '').slice(0, 160)}")`);
      lines.push(`- ${label}: errors by code: ${codes.join(', ')}`);
    }
    if (result.oversoldReservations > 0) {
      lines.push(`- ${label}: ${count.format(result.oversoldReservations)} committed reservations over a limit, ${count.format(result.oversoldTokens)} tokens over in total`);
    }
    for (const note of result.notes) lines.push(`- ${label}: ${note}`);
  }
  return lines;
}

function maxResult(results: PhaseResult[], system: string): PhaseResult | undefined {
  return results.find((result) => result.system === system && result.mode === 'closed');
}

function comparisonLines(results: PhaseResult[], veveeName: string, baselineNames: string[]): string[] {
  const vevee = maxResult(results, veveeName);
  if (vevee === undefined) return ['(Vevee did not run, so there is no ratio.)'];
  const lines = [`Vevee's maximum: ${count.format(vevee.requestsPerSecond)} requests/s (${count.format(vevee.callsPerSecond)} calls/s).`];
  for (const name of baselineNames) {
    const baseline = maxResult(results, name);
    if (baseline === undefined || baseline.requestsPerSecond === 0) continue;
    lines.push(`- Vevee / ${name}: ${(vevee.requestsPerSecond / baseline.requestsPerSecond).toFixed(2)}x (${count.format(baseline.requestsPerSecond)} requests/s)`);
  }
  return lines;
}

function targetLines(results: PhaseResult[], veveeName: string, rowLockName: string, redisName: string): string[] {
  const lines: string[] = [];
  const verdict = (met: boolean): string => (met ? 'met' : 'NOT met');
  const at1000 = results.find((result) => result.system === veveeName && result.mode === 'open' && result.load === 1_000);
  if (at1000 !== undefined) lines.push(`- p99 <= 5 ms at 1,000 req/s: ${milliseconds(at1000.latencyMs[1])} ms, ${verdict(at1000.latencyMs[1] <= 5)}`);
  const vevee = maxResult(results, veveeName);
  if (vevee === undefined) return lines;
  lines.push(`- >= 20,000 decisions/s (reserve, commit and release calls): ${count.format(vevee.callsPerSecond)}/s, ${verdict(vevee.callsPerSecond >= 20_000)}`);
  const rowLock = maxResult(results, rowLockName);
  if (rowLock !== undefined && rowLock.requestsPerSecond > 0) {
    const ratio = vevee.requestsPerSecond / rowLock.requestsPerSecond;
    lines.push(`- >= 5x the row-lock baseline: ${ratio.toFixed(2)}x, ${verdict(ratio >= 5)}`);
  }
  const redis = maxResult(results, redisName);
  if (redis !== undefined && vevee.requestsPerSecond > 0) {
    const ratio = redis.requestsPerSecond / vevee.requestsPerSecond;
    lines.push(`- within 2x of the Redis limiter: Redis does ${ratio.toFixed(2)}x Vevee's requests/s, ${verdict(ratio <= 2)}`);
  }
  return lines;
}

function cpuLines(results: PhaseResult[]): string[] {
  return results
    .filter((result) => result.mode === 'closed' && result.cpu !== undefined)
    .map((result) => {
      const groups = result.cpu!.groups.map((group) => `${group.label} ${group.percentOfCore.toFixed(0)}%`).join(', ');
      return `- ${result.system}: ${groups}; whole machine ${result.cpu!.machinePercent.toFixed(0)}% busy`;
    });
}

function serverLines(diagnostics: MaxRunDiagnostics): string[] {
  const lines: string[] = [];
  const decider = diagnostics.decider;
  if (decider !== undefined) {
    lines.push(
      `- group commit: ${count.format(decider.appends)} appends (one Kafka transaction each) of ${decider.averageBatchRecords.toFixed(1)} records on average, ${decider.averageAppendMs.toFixed(1)} ms per append`,
    );
    const decisions = ['reserve', 'commit', 'release']
      .filter((command) => (decider.decisions.get(command) ?? 0) > 0)
      .map((command) => `${command} ${decider.averageDecisionMs.get(command)!.toFixed(1)} ms (${count.format(decider.decisions.get(command)!)} decisions)`);
    lines.push(`- average decision time inside the server, from command to durable reply: ${decisions.join(', ')}`);
  }
  if (diagnostics.eventLoopLag !== undefined) {
    lines.push(`- event loop lag: mean ${diagnostics.eventLoopLag.meanMs.toFixed(1)} ms, p99 ${diagnostics.eventLoopLag.p99Ms.toFixed(1)} ms`);
  }
  return lines;
}

function brokerLines(diagnostics: MaxRunDiagnostics): string[] {
  return diagnostics.appendProbe.map(
    (probe) =>
      `- ${probe.mode}: ${count.format(probe.appendsPerSecond)} appends/s, p50 ${milliseconds(probe.p50Ms)} ms, p99 ${milliseconds(probe.p99Ms)} ms, ${count.format(probe.retries)} sends retried by kafkajs`,
  );
}

function afterPhaseLines(diagnostics: MaxRunDiagnostics): string[] {
  const lines = diagnostics.projectionCatchUp.map((catchUp) => {
    const state = catchUp.caughtUp ? `done ${catchUp.seconds.toFixed(1)} s after the phase` : `still behind ${catchUp.seconds.toFixed(0)} s after the phase`;
    return `- pending appends and projections of ${catchUp.phase}: ${state}`;
  });
  const snapshots = diagnostics.snapshots;
  if (snapshots !== undefined) {
    lines.push(
      `- decider snapshots in PostgreSQL at the end: ${snapshots.partitions} partition rows containing ${count.format(snapshots.persons)} persons in ${(snapshots.bytes / 1024 ** 2).toFixed(1)} MiB of JSON; every SNAPSHOT_INTERVAL_MS (30 s by default) each changed partition rewrites the rows of the persons with new events`,
    );
  }
  if (diagnostics.serverLog.length > 0) {
    const messages = diagnostics.serverLog.map((entry) => `"${entry.message}" ${count.format(entry.count)}`).join(', ');
    lines.push(`- server log over the whole run (warnings and errors${diagnostics.serverLogFile === undefined ? '' : `, ${diagnostics.serverLogFile}`}): ${messages}`);
  }
  return lines;
}

function profileLines(diagnostics: MaxRunDiagnostics): string[] {
  const profile = diagnostics.profile;
  if (profile === undefined) return ['(no CPU profile: BENCH_PROFILE=0 or Vevee did not run)'];
  const lines = [`Sampled ${count.format(profile.totalMs)} ms of the server's main thread${diagnostics.profileFile === undefined ? '' : `; profile: ${diagnostics.profileFile}`}.`, '', 'Self time by origin:'];
  for (const entry of profile.origins) lines.push(`- ${entry.percent.toFixed(1)}% ${entry.name}`);
  lines.push('', 'Top functions by self time:');
  for (const entry of profile.functions) lines.push(`- ${entry.percent.toFixed(1)}% ${entry.name}`);
  return lines;
}

/** Formats the whole report as Markdown, ready for the terminal and for docs/benchmarks.md. */
export function formatReport(input: ReportInput, names: { vevee: string; naive: string; rowLock: string; redis: string }): string {
  const { machine, settings } = input;
  const sections = [
    `# Reserve benchmark, ${input.startedAt.toISOString()}`,
    '',
    `Machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB.toFixed(1)} GiB memory; Node ${machine.nodeVersion}; Kafka ${input.versions.kafka} (one local broker); ${input.versions.postgres}; Redis ${input.versions.redis}.`,
    `Before the run, other processes kept ${input.busyBefore.toFixed(0)}% of the CPU busy; load average (1, 5, 15 min) ${machine.loadAverage.map((value) => value.toFixed(2)).join(' ')} at the start, ${input.loadAverageAtEnd.map((value) => value.toFixed(2)).join(' ')} at the end.`,
    ...(input.busyBefore > BUSY_WARNING_PERCENT ? [`NOTE: the machine was not idle before the run, so every number below includes interference from other processes.`] : []),
    `Workload: Azure LLM inference trace 2023 (conversation); cohorts of 3,000 requests over 300 persons each (Zipf 1.1, as the demo), 2% of allowed calls released, the rest committed; ${count.format(settings.dayLimit)} tokens per person per day, ${count.format(settings.monthLimit)} per month.`,
    `Settings: ${settings.warmupMs / 1000} s warm-up, then ${settings.durationMs / 1000} s per open-loop rate and ${settings.maxDurationMs / 1000} s closed loop with ${settings.concurrency} requests in flight; ${settings.clients} SDK clients (binary, keep-alive, at most ${settings.maxSockets} sockets, no retries); PostgreSQL pool of ${settings.poolSize}.`,
    '',
    'Latency is reserve to durable reply, from the scheduled send time in the open loop and from the send time in the closed loop. req/s counts reserve replies in the window, and calls/s counts replies to every reserve, commit and release. denied is the share of reserves denied at the limit. oversold counts committed reservations that took a person over the limit.',
    '',
    resultsTable(input.results),
    '',
    ...detailLines(input.results),
    '',
    '## Maximum throughput',
    '',
    ...comparisonLines(input.results, names.vevee, [names.naive, names.rowLock, names.redis]),
    '',
    'Targets:',
    ...targetLines(input.results, names.vevee, names.rowLock, names.redis),
    '',
    'What Vevee does that the baselines do not: every decision, each denial included, is an event in the Kafka ledger before the reply, with its time, plan version and idempotency key. The ledger is the replayable history that the PostgreSQL and ClickHouse read models are built from. A retried call with the same idempotency key returns the first reply, and holds expire after their TTL. The check-then-update baseline oversells, and none of the baselines keeps a history or recognises a retry.',
    '',
    '## What limits the maximum run',
    '',
    'CPU over the closed-loop window (100% = one core):',
    ...cpuLines(input.results),
    '',
    "Vevee server, from its /metrics over the closed-loop window:",
    ...serverLines(input.diagnostics),
    '',
    'The broker alone, before Vevee started: one-record appends with acks=all, back to back, for 2 s each:',
    ...brokerLines(input.diagnostics),
    '',
    'Vevee between phases:',
    ...afterPhaseLines(input.diagnostics),
    '',
    '## CPU profile of the Vevee server during the closed loop',
    '',
    ...profileLines(input.diagnostics),
  ];
  return `${sections.join('\n')}\n`;
}
