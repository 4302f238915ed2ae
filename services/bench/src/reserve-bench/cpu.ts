import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`); bench.sh passes it, 100 on Linux x86_64 otherwise. */
const CLOCK_TICKS = Number(process.env.CLK_TCK ?? 100);

/** A group of processes whose CPU time is sampled: one pid, or every process with a given command name. */
export type ProcessGroup = { label: string; pid: number } | { label: string; command: string };

/** CPU seconds (user + system) of one process, or undefined once it has exited. */
function processSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name in field 2 may contain spaces, so fields are counted after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name, utime and stime are the 12th and 13th fields (14 and 15 in proc(5)).
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function pidsOfCommand(command: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === command) pids.push(Number(entry));
    } catch {
      // The process exited between the listing and the read.
    }
  }
  return pids;
}

/** CPU seconds of each live process of a group, by pid. */
function groupSeconds(group: ProcessGroup): Map<number, number> {
  const pids = 'pid' in group ? [group.pid] : pidsOfCommand(group.command);
  const seconds = new Map<number, number>();
  for (const pid of pids) {
    const value = processSeconds(pid);
    if (value !== undefined) seconds.set(pid, value);
  }
  return seconds;
}

/**
 * Sums the CPU seconds each process of a group spent between two samples. A process that
 * started in between counts from its start. One that exited in between is missing, so
 * connection churn (a pool closing idle PostgreSQL backends) can hide some time.
 */
function groupDelta(before: Map<number, number>, after: Map<number, number>): number {
  let delta = 0;
  for (const [pid, seconds] of after) delta += seconds - (before.get(pid) ?? 0);
  return delta;
}

/** Busy and total CPU seconds of the whole machine, summed over cores, from /proc/stat. */
function machineSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.slice(0, 8).reduce((sum, value) => sum + value, 0);
  // Fields 4 and 5 are idle and iowait.
  const busy = total - ticks[3]! - ticks[4]!;
  return { busy: busy / CLOCK_TICKS, total: total / CLOCK_TICKS };
}

export interface CpuUsage {
  /** Share of one core per group over the window: 100 means one core busy all the time. */
  groups: { label: string; percentOfCore: number }[];
  /** Share of all cores busy, 100 meaning every core. */
  machinePercent: number;
}

/** Starts sampling CPU time; the returned function ends the sample and computes the usage. */
export function startCpuSample(groups: readonly ProcessGroup[]): () => CpuUsage {
  const startedAt = performance.now();
  const before = groups.map(groupSeconds);
  const machineBefore = machineSeconds();
  return () => {
    const elapsed = (performance.now() - startedAt) / 1000;
    const machineAfter = machineSeconds();
    const totalDelta = machineAfter.total - machineBefore.total;
    return {
      groups: groups.map((group, index) => ({ label: group.label, percentOfCore: (100 * groupDelta(before[index]!, groupSeconds(group))) / elapsed })),
      machinePercent: totalDelta > 0 ? (100 * (machineAfter.busy - machineBefore.busy)) / totalDelta : Number.NaN,
    };
  };
}

/** Measures the share of all cores busy over `milliseconds`, to show other work on the machine before the run. */
export async function machineBusyPercent(milliseconds: number): Promise<number> {
  const stop = startCpuSample([]);
  await new Promise((resolve) => setTimeout(resolve, milliseconds));
  return stop().machinePercent;
}
