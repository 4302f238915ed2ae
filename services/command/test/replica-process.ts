import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { waitFor } from '@vevee/testing';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MAIN = 'services/command/src/main.ts';

/** One JSON log line of a replica, as pino writes it. */
export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** Every live replica of this test process, so an exit hook can kill what a failed test left behind. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * One command replica running `services/command/src/main.ts` as a child
 * process. Its stdout and stderr go to files, and its JSON log lines are also
 * kept in memory so a test can wait for a message.
 */
export class ReplicaProcess {
  readonly lines: LogLine[] = [];
  /** The replica's base URL, from its "command service ready" line. */
  url: string | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;
  private partial = '';

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly logFile: string,
    stdout: WriteStream,
    stderr: WriteStream,
  ) {
    live.add(child);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout.write(chunk);
      this.collect(chunk.toString('utf8'));
    });
    child.stderr!.pipe(stderr);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(child);
        stdout.end();
        resolve();
      });
    });
  }

  /** Spawns a replica with `env` added to this process's environment. Its output goes to `<logDir>/<name>.log` and `<name>.stderr.log`. */
  static spawn(name: string, env: Record<string, string>, logDir: string): ReplicaProcess {
    const logFile = path.join(logDir, `${name}.log`);
    const stdout = createWriteStream(logFile);
    const stderr = createWriteStream(path.join(logDir, `${name}.stderr.log`));
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
    });
    return new ReplicaProcess(name, child, logFile, stdout, stderr);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits for the "command service ready" line and returns the URL it carries. */
  async ready(timeoutMs = 60_000): Promise<string> {
    const outcome = await waitFor(
      `replica ${this.name} to log "command service ready" (log: ${this.logFile})`,
      () => this.url ?? (this.exit === undefined ? undefined : { exit: this.exit }),
      { timeoutMs },
    );
    if (typeof outcome !== 'string') {
      throw new Error(`replica ${this.name} exited before it was ready (${JSON.stringify(outcome.exit)}): see ${this.logFile} and its .stderr.log`);
    }
    return outcome;
  }

  /** Sends a signal to the replica's process. */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Returns the log lines with message `msg`. */
  logged(msg: string): LogLine[] {
    return this.lines.filter((line) => line.msg === msg);
  }

  /** Returns the partitions of the replica's latest group assignment, from its log. */
  assignedPartitions(): number[] {
    const last = this.logged('partitions assigned').at(-1);
    return (last?.partitions as number[] | undefined) ?? [];
  }

  /** Returns the partitions the replica serves now, from its "partition serving" and "partition released" lines. */
  servingPartitions(): number[] {
    const serving = new Set<number>();
    for (const line of this.lines) {
      if (line.msg === 'partition serving') serving.add(line.partition as number);
      if (line.msg === 'partition released') serving.delete(line.partition as number);
    }
    return [...serving].sort((a, b) => a - b);
  }

  /** Sums the samples of a Prometheus metric at /metrics whose labels include `labels`. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const response = await fetch(`${this.requireUrl()}/metrics`, { signal: AbortSignal.timeout(2_000) });
    return sumSamples(await response.text(), name, labels);
  }

  /** Stops the replica: SIGTERM (after SIGCONT, in case it is stopped), then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exit !== undefined) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kills the replica with SIGKILL and waits for it to exit. */
  async kill(): Promise<void> {
    if (this.exit !== undefined) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  private requireUrl(): string {
    if (this.url === undefined) throw new Error(`replica ${this.name} has no URL yet: await ready() first`);
    return this.url;
  }

  private collect(text: string): void {
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const part of parts) {
      if (part.trim() === '') continue;
      let line: LogLine;
      try {
        line = JSON.parse(part) as LogLine;
      } catch {
        // A line that is not JSON stays in the log file only.
        continue;
      }
      this.lines.push(line);
      if (line.msg === 'command service ready' && typeof line.url === 'string') this.url = line.url;
    }
  }
}

/** Sums the samples of metric `name` in Prometheus text format whose labels include `labels`. */
export function sumSamples(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match === null || match[1] !== name) continue;
    const sampleLabels = new Map<string, string>();
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) {
      sampleLabels.set(pair[1]!, pair[2]!);
    }
    if (Object.entries(labels).every(([key, value]) => sampleLabels.get(key) === value)) {
      sum += Number(match[3]);
    }
  }
  return sum;
}
