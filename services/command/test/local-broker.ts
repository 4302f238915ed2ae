import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { waitFor } from '@vevee/testing';

const KAFKA_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../deploy/local/kafka.sh');
const run = promisify(execFile);

/** Returns `count` distinct TCP ports that were free on 127.0.0.1 a moment ago. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => net.createServer());
  const listen = (server: net.Server) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
  // All servers listen at once, so the ports differ.
  await Promise.all(servers.map(listen));
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/**
 * A Kafka broker of one test, run by deploy/local/kafka.sh on free ports with
 * its data, pid file and log in `dir`, so the test can stop and restart it
 * without disturbing the run's shared broker.
 */
export class LocalBroker {
  private constructor(
    private readonly env: Record<string, string>,
    /** The bootstrap address, `127.0.0.1:<port>`. */
    readonly address: string,
    readonly logFile: string,
  ) {}

  static async create(dir: string): Promise<LocalBroker> {
    mkdirSync(dir, { recursive: true });
    const [port, controllerPort] = await freePorts(2);
    const logFile = path.join(dir, 'kafka.log');
    const env = {
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(controllerPort),
      KAFKA_DATA_DIR: path.join(dir, 'data'),
      KAFKA_PID_FILE: path.join(dir, 'kafka.pid'),
      KAFKA_LOG: logFile,
    };
    return new LocalBroker(env, `127.0.0.1:${port}`, logFile);
  }

  /** Starts the broker and waits until it accepts clients. A restart reuses the data directory. */
  async start(): Promise<void> {
    await this.script('start');
  }

  /** Stops the broker (SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT) and waits for it to exit. */
  async stop(): Promise<void> {
    await this.script('stop');
  }

  /** Kills the broker with SIGKILL, as a crash would, and waits for it to exit. */
  async crash(): Promise<void> {
    const pid = Number(readFileSync(this.env.KAFKA_PID_FILE!, 'utf8').trim());
    process.kill(pid, 'SIGKILL');
    await waitFor(`broker pid ${pid} to exit`, () => !isAlive(pid), { timeoutMs: 30_000 });
  }

  private async script(command: 'start' | 'stop'): Promise<void> {
    try {
      await run('bash', [KAFKA_SCRIPT, command], { env: { ...process.env, ...this.env }, timeout: 120_000 });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`kafka.sh ${command} failed for the broker at ${this.address}: ${stderr ?? ''}${stdout ?? ''} (log: ${this.logFile})`, { cause: error });
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    // A zombie has exited but keeps its pid until it is reaped.
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2]?.startsWith('Z');
  } catch {
    return false;
  }
}
