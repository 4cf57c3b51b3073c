import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);

/** Where a workspace package lives (its built entry points are under dist/). */
export function packageDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

export const AUTH_MAIN = join(packageDir('@smart-backend/auth-server'), 'dist', 'main.js');
export const AUTH_CLI = join(packageDir('@smart-backend/auth-server'), 'dist', 'cli.js');
export const FHIR_MAIN = join(packageDir('@smart-backend/fhir-api'), 'dist', 'main.js');
export const CLIENT_CLI = join(packageDir('@smart-backend/client'), 'dist', 'cli', 'main.js');

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
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

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `smart-e2e-${prefix}-`));
}

export interface RunningApp {
  readonly url: string;
  readonly process: ChildProcess;
  readonly logs: string[];
  stop(): Promise<number | null>;
}

const MAX_KEPT_LOG_LINES = 500;

/**
 * Spawns `node <main>` with exactly `env` (plus PATH) and resolves once its first log line says it
 * is listening. The last lines of output are kept for error messages; `onLine` sees every line.
 * `options.cwd` runs it from another directory (deployment bundles run outside the workspace).
 */
export async function startApp(
  main: string,
  env: Record<string, string>,
  name = 'app',
  onLine?: (line: string) => void,
  options: { cwd?: string } = {},
): Promise<RunningApp> {
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd !== undefined && { cwd: options.cwd }),
  });
  const logs: string[] = [];
  const keep = (line: string) => {
    logs.push(line);
    if (logs.length > MAX_KEPT_LOG_LINES) logs.shift();
    onLine?.(line);
  };
  createInterface({ input: child.stderr! }).on('line', keep);
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start within 20 s:\n${logs.join('\n')}`)),
      20_000,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${logs.join('\n')}`));
    });
    lines.on('line', (line) => {
      keep(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'listening' && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        // not a JSON log line
      }
    });
  });
  return {
    url,
    process: child,
    logs,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

export interface Stack {
  readonly authUrl: string;
  readonly fhirBase: string;
  readonly adminToken: string;
  readonly auth: RunningApp;
  readonly fhir: RunningApp;
  readonly authDataDir: string;
  readonly fhirDataDir: string;
  readonly authEnv: Record<string, string>;
  readonly fhirEnv: Record<string, string>;
  restartAuth(): Promise<void>;
  restartFhir(): Promise<void>;
  stop(): Promise<void>;
}

/** Both apps as real processes on free ports with temporary DATA_DIRs, wired to each other. */
export async function startStack(
  options: { authEnv?: Record<string, string>; fhirEnv?: Record<string, string> } = {},
): Promise<Stack> {
  const [authPort, fhirPort] = [await freePort(), await freePort()];
  const authUrl = `http://127.0.0.1:${authPort}`;
  const fhirBase = `http://127.0.0.1:${fhirPort}/fhir`;
  const adminToken = randomBytes(24).toString('base64url');
  const authDataDir = tempDir('auth');
  const fhirDataDir = tempDir('fhir');
  const authEnv = {
    PORT: String(authPort),
    HOST: '127.0.0.1',
    PUBLIC_URL: authUrl,
    FHIR_BASE_URL: fhirBase,
    ADMIN_TOKEN: adminToken,
    DATA_DIR: authDataDir,
    ...options.authEnv,
  };
  const fhirEnv = {
    PORT: String(fhirPort),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${fhirPort}`,
    AUTH_URL: authUrl,
    DATA_DIR: fhirDataDir,
    SEED: 'true',
    ...options.fhirEnv,
  };
  let auth = await startApp(AUTH_MAIN, authEnv, 'auth-server');
  let fhir = await startApp(FHIR_MAIN, fhirEnv, 'fhir-api');
  return {
    authUrl,
    fhirBase,
    adminToken,
    authDataDir,
    fhirDataDir,
    authEnv,
    fhirEnv,
    get auth() {
      return auth;
    },
    get fhir() {
      return fhir;
    },
    async restartAuth() {
      await auth.stop();
      auth = await startApp(AUTH_MAIN, authEnv, 'auth-server');
    },
    async restartFhir() {
      await fhir.stop();
      fhir = await startApp(FHIR_MAIN, fhirEnv, 'fhir-api');
    },
    async stop() {
      await Promise.all([auth.stop(), fhir.stop()]);
      rmSync(authDataDir, { recursive: true, force: true });
      rmSync(fhirDataDir, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `smart-backend` CLI. */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT_CLI, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
