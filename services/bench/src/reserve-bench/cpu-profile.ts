import path from 'node:path';

/**
 * A V8 CPU profile taken through the inspector of a process started with
 * `--inspect=127.0.0.1:<port>`, over the Chrome DevTools Protocol. Unlike `--cpu-prof`,
 * which records from start to exit (startup and every phase), this records exactly the
 * window between start() and stop().
 */
export class InspectorProfiler {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
      if (message.id === undefined) return;
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error !== undefined) waiter?.reject(new Error(`inspector: ${message.error.message}`));
      else waiter?.resolve(message.result);
    });
  }

  /** Connects to the inspector listening on 127.0.0.1:`port`. */
  static async connect(port: number): Promise<InspectorProfiler> {
    const response = await fetch(`http://127.0.0.1:${port}/json/list`);
    const targets = (await response.json()) as { webSocketDebuggerUrl?: string }[];
    const target = targets.find((candidate) => candidate.webSocketDebuggerUrl !== undefined);
    if (target?.webSocketDebuggerUrl === undefined) throw new Error(`no inspector target on 127.0.0.1:${port}`);
    const socket = new WebSocket(target.webSocketDebuggerUrl);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new Error(`cannot open the inspector socket ${target.webSocketDebuggerUrl}`)), { once: true });
    });
    return new InspectorProfiler(socket);
  }

  /** Starts sampling every `intervalMicroseconds` (V8's default is 1,000). */
  async start(intervalMicroseconds = 1_000): Promise<void> {
    await this.send('Profiler.enable');
    await this.send('Profiler.setSamplingInterval', { interval: intervalMicroseconds });
    await this.send('Profiler.start');
  }

  async stop(): Promise<CpuProfile> {
    const result = (await this.send('Profiler.stop')) as { profile: CpuProfile };
    return result.profile;
  }

  close(): void {
    this.socket.close();
  }

  private send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }
}

/** The `.cpuprofile` format of V8 and Chrome DevTools. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  /** Microseconds between consecutive samples. */
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  milliseconds: number;
  percent: number;
}

/** Self time by function and by where its code comes from (an npm package, Node's internals, the repository). */
export interface ProfileSummary {
  totalMs: number;
  functions: SelfTime[];
  origins: SelfTime[];
}

/** Sums each node's self time from the samples and groups it by function and by origin. */
export function summarizeProfile(profile: CpuProfile, root: string, top = 15): ProfileSummary {
  const selfMicroseconds = new Map<number, number>();
  for (let index = 0; index < profile.samples.length; index++) {
    // The delta before sample i+1 is the time spent in sample i.
    const micros = profile.timeDeltas[index + 1] ?? 0;
    const node = profile.samples[index]!;
    selfMicroseconds.set(node, (selfMicroseconds.get(node) ?? 0) + micros);
  }

  const byFunction = new Map<string, number>();
  const byOrigin = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const micros = selfMicroseconds.get(node.id) ?? 0;
    if (micros === 0) continue;
    total += micros;
    const frame = node.callFrame;
    const functionKey = `${frame.functionName || '(anonymous)'} ${describeLocation(frame.url, frame.lineNumber, root)}`.trim();
    byFunction.set(functionKey, (byFunction.get(functionKey) ?? 0) + micros);
    const origin = originOf(frame.url, frame.functionName, root);
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + micros);
  }

  const rank = (entries: Map<string, number>): SelfTime[] =>
    [...entries]
      .sort((left, right) => right[1] - left[1])
      .slice(0, top)
      .map(([name, micros]) => ({ name, milliseconds: micros / 1000, percent: (100 * micros) / total }));
  return { totalMs: total / 1000, functions: rank(byFunction), origins: rank(byOrigin) };
}

function describeLocation(url: string, lineNumber: number, root: string): string {
  if (url === '') return '';
  const file = url.startsWith('file://') ? path.relative(root, new URL(url).pathname) : url;
  // V8 reports line 1 (with a column) for every function that tsx transpiled, so the line is left out.
  return lineNumber === 0 ? file : `${file}:${lineNumber + 1}`;
}

/** Returns the npm package, `node: built-ins`, the repository folder, or V8's own entries such as (garbage collector). */
function originOf(url: string, functionName: string, root: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: built-ins';
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (packageMatch !== null) return packageMatch[1]!;
  const relative = path.relative(root, file);
  const parts = relative.split(path.sep);
  return parts.length >= 2 ? `${parts[0]}/${parts[1]}` : relative;
}
