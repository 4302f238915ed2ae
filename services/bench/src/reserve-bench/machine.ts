import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  cores: number;
  memoryGiB: number;
  cpuModel: string;
  nodeVersion: string;
  /** The 1, 5 and 15 minute load averages when the run started; other work on the machine shows here. */
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  let cpuModel = 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((candidate) => candidate.startsWith('model name'));
    if (line !== undefined) cpuModel = line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // Not Linux: the model stays unknown, and the other facts come from os.
  }
  return {
    cores: os.availableParallelism(),
    memoryGiB: os.totalmem() / 1024 ** 3,
    cpuModel,
    nodeVersion: process.version,
    loadAverage: os.loadavg(),
  };
}
