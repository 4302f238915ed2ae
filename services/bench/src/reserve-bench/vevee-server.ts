import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { waitFor } from '@vevee/testing';

export const BENCH_WORKSPACE = 'ws_bench';
export const BENCH_API_KEY = 'vv_bench_0123456789abcdef';
export const BENCH_METER = 'tokens';

export interface VeveeServerOptions {
  /** The repository root, where `services/standalone/src/main.ts` is. */
  root: string;
  /** Temporary folder for the seed, the embedded ClickHouse data, the log and the pid file. */
  runDir: string;
  kafkaBrokers: string;
  databaseUrl: string;
  /** The `tokens` limits of the workspace's plan. */
  limits: { day: number; month: number };
  /** Opens the V8 inspector on a loopback port, so the bench can take a CPU profile. */
  inspect: boolean;
}

export interface VeveeServer {
  url: string;
  pid: number;
  /** The inspector's port when `inspect` was set. */
  inspectPort: number | undefined;
  logFile: string;
  /** Stops the process: SIGTERM, then SIGKILL after 30 s. */
  stop(): Promise<void>;
}

/** Returns a free TCP port on 127.0.0.1. Another process may take it before the caller binds it. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Starts Vevee's standalone process (every service in one process, as `start.sh` runs
 * it) as a child of the bench, so the load generator and the server do not share an
 * event loop, and waits until `/healthz` replies.
 */
export async function startVeveeServer(options: VeveeServerOptions): Promise<VeveeServer> {
  const seedFile = path.join(options.runDir, 'bench-seed.json');
  writeFileSync(
    seedFile,
    JSON.stringify({
      workspaces: [
        { id: BENCH_WORKSPACE, name: 'Benchmark', timeZone: 'UTC', apiKeys: [BENCH_API_KEY], plan: { version: 1, meters: { [BENCH_METER]: options.limits } } },
      ],
    }),
  );
  const httpPort = await freePort();
  const inspectPort = options.inspect ? await freePort() : undefined;
  const logFile = path.join(options.runDir, 'vevee.log');
  const logFd = openSync(logFile, 'a');

  const args = ['--import', 'tsx'];
  if (inspectPort !== undefined) args.push(`--inspect=127.0.0.1:${inspectPort}`);
  args.push('services/standalone/src/main.ts');
  const child = spawn(process.execPath, args, {
    cwd: options.root,
    env: {
      ...process.env,
      KAFKA_BROKERS: options.kafkaBrokers,
      DATABASE_URL: options.databaseUrl,
      CLICKHOUSE_DATA_DIR: path.join(options.runDir, 'chdb'),
      VEVEE_STATE: path.join(options.runDir, 'vevee-state'),
      HTTP_PORT: String(httpPort),
      HOST: '127.0.0.1',
      VEVEE_SEED_FILE: seedFile,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start the Vevee process (${process.execPath} ${args.join(' ')})`);
  // bench.sh stops this pid if the bench itself dies without cleaning up.
  writeFileSync(path.join(options.runDir, 'vevee.pid'), String(pid));

  let exitCode: number | null | undefined;
  child.once('exit', (code, signal) => (exitCode = code ?? (signal === null ? null : -1)));
  const url = `http://127.0.0.1:${httpPort}`;
  const server: VeveeServer = { url, pid, inspectPort, logFile, stop: () => stopChild(child) };

  try {
    // The check returns 'exited' rather than throwing, because waitFor retries a check that throws.
    const state = await waitFor(
      `Vevee to reply on ${url}/healthz`,
      async () => {
        if (exitCode !== undefined) return 'exited';
        const response = await fetch(`${url}/healthz`).catch(() => undefined);
        return response?.ok === true ? 'healthy' : false;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    if (state === 'exited') throw new Error(`the Vevee process exited with status ${exitCode} before it served; log ${logFile}:\n${tail(logFile)}`);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
