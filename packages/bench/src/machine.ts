import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';

/** Where the figures were measured: they only mean something next to this. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly ramGiB: number;
  readonly os: string;
  readonly node: string;
  readonly date: string;
  /** 1-minute load average when the run started and when it ended (others share the machine). */
  readonly loadAverageStart: number;
  loadAverageEnd?: number;
  /** The commit measured, and whether the apps' sources differed from it. */
  readonly commit: string;
  readonly dirty: boolean;
}

export function machineInfo(repoRoot: string): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    date: new Date().toISOString(),
    loadAverageStart: round2(loadavg()[0] ?? 0),
    commit: git(repoRoot, ['rev-parse', '--short', 'HEAD']) ?? 'unknown',
    dirty:
      (git(repoRoot, ['status', '--porcelain', '--', 'apps', 'packages/protocol', 'packages/client']) ??
        '') !== '',
  };
}

export function currentLoadAverage(): number {
  return round2(loadavg()[0] ?? 0);
}

function git(cwd: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
