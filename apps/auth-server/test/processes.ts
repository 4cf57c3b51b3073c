import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN, tokenForm } from './helpers.js';

/**
 * The built app and CLI as real processes (turbo builds before testing), for the tests that start
 * `node dist/main.js` and `node dist/cli.js`. Call {@link killChildren} after each test.
 */

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist');
export const MAIN = path.join(DIST, 'main.js');
export const CLI = path.join(DIST, 'cli.js');

export interface Spawned {
  readonly child: ChildProcess;
  /** stdout and stderr, line by line, as they arrive. */
  readonly lines: string[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

/** SIGKILLs every process a test started that is still running. */
export function killChildren(): void {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
}

/** Starts `node file args…` with only PATH and `env` in its environment. */
export function run(file: string, args: string[], env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, [file, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: string[] = [];
  const stderr: string[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  readline.createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, stderr, exited };
}

/** Starts dist/main.js and waits for its first stdout line (`listening`, with the URL). */
export async function startMain(env: Record<string, string>) {
  const proc = run(MAIN, [], env);
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setInterval(() => {
      if (proc.lines.length > 0) {
        clearInterval(timer);
        resolve(JSON.parse(proc.lines[0] as string) as Record<string, unknown>);
      }
    }, 20);
    void proc.exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`exited with ${code}: ${proc.stderr.join('\n')}`));
    });
  });
  return { ...proc, first, url: first.url as string, env };
}

/** Runs dist/cli.js to completion. */
export async function cli(args: string[], env: Record<string, string> = {}) {
  const proc = run(CLI, args, env);
  const code = await proc.exited;
  await new Promise((resolve) => setImmediate(resolve)); // the last lines
  return { code, stdout: proc.lines.join('\n'), stderr: proc.stderr.join('\n') };
}

export async function registerOver(url: string, body: object): Promise<string> {
  const res = await fetch(`${url}/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return ((await res.json()) as { client_id: string }).client_id;
}

export async function tokenOver(url: string, assertion: string) {
  const res = await fetch(`${url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(tokenForm(assertion)).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/**
 * POST /token with half of its body held back: resolves once the server has the request in flight
 * (it answers `100 Continue` as its handler receives the request, RFC 9110 §10.1.1) and half of the
 * body is sent. `finish()` sends the rest and resolves with the answer. A request held this way
 * depends on no deadline but the server's own request timeout.
 */
export async function heldTokenRequest(url: string, assertion: string) {
  const body = Buffer.from(new URLSearchParams(tokenForm(assertion)).toString());
  const req = http.request(`${url}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(body.length),
      connection: 'close',
      expect: '100-continue',
    },
  });
  const answered = new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>,
        }),
      );
    });
    req.on('error', reject);
  });
  answered.catch(() => undefined); // awaited by finish(); an early failure is reported there
  req.flushHeaders();
  await once(req, 'continue');
  const half = Math.floor(body.length / 2);
  await new Promise<void>((resolve) => req.write(body.subarray(0, half), () => resolve()));
  return {
    finish: () => {
      req.end(body.subarray(half));
      return answered;
    },
  };
}
