import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Every server under test runs as its own `node` process, started the way an operator starts it
 * (`node dist/main.js` with environment variables). Its stdout and stderr go to a log file, as
 * under a process supervisor: the bench never reads a pipe while it measures, so log volume costs
 * the server what it costs in production and costs the load generator nothing.
 */

const require = createRequire(import.meta.url);

/** The directory of a workspace package (its built entry points are under dist/). */
export function packageDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

export const AUTH_SERVER_MAIN = join(packageDir('@smart-backend/auth-server'), 'dist', 'main.js');
export const FHIR_API_MAIN = join(packageDir('@smart-backend/fhir-api'), 'dist', 'main.js');

/** Entry points of this package's own processes (peers and the bench-only FHIR API). */
export function benchEntry(file: string): string {
  return fileURLToPath(new URL(`./peers/${file}`, import.meta.url));
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Temporary directories made by this run, removed by {@link removeTempDirs}. */
const tempDirs: string[] = [];

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `smart-bench-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface Service {
  readonly name: string;
  /** The URL from the first `{"msg":"listening"}` line (PUBLIC_URL, or the FHIR base). */
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resident set size now, from /proc/<pid>/status (bytes). */
  rssBytes(): number;
  /** Current size of the log file: pass it to {@link Service.logSince} later. */
  logOffset(): number;
  /** Log lines written since `offset`. */
  logSince(offset: number): string[];
  /** SIGTERM, then wait for the exit (SIGKILL after 15 s). */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  readonly name: string;
  readonly script: string;
  readonly env: Record<string, string>;
  /** Extra arguments for node itself (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  readonly args?: readonly string[];
  readonly startTimeoutMs?: number;
}

/** Live children, so that an interrupted run leaves nothing behind. */
const running = new Set<ChildProcess>();

/** Starts `node <script>` and resolves once its output says `{"msg":"listening","url":…}`. */
export async function startService(options: SpawnOptions): Promise<Service> {
  const logDir = tempDir(`${options.name}-log`);
  const logFile = join(logDir, 'out.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), options.script, ...(options.args ?? [])],
    {
      env: { PATH: process.env.PATH ?? '', ...options.env },
      stdio: ['ignore', fd, fd],
    },
  );
  closeSync(fd);
  running.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );

  const url = await waitForListening(options, child, logFile);
  const pid = child.pid as number;
  return {
    name: options.name,
    url,
    pid,
    logFile,
    rssBytes: () => rssOf(pid),
    logOffset: () => statSync(logFile).size,
    logSince: (offset) => readFileSync(logFile).subarray(offset).toString('utf8').split('\n').filter(Boolean),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(kill);
      }
    },
  };
}

async function waitForListening(
  options: SpawnOptions,
  child: ChildProcess,
  logFile: string,
): Promise<string> {
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    const text = readFileSync(logFile, 'utf8');
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
        if (entry.msg === 'listening' && typeof entry.url === 'string') return entry.url;
      } catch {
        // a partial line: read again
      }
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${options.name} exited before listening:\n${text.slice(-2000)}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} did not start in time:\n${text.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** VmRSS of a live process, in bytes. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** Kills whatever is still running (after an error or Ctrl-C). */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}
