import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

/**
 * The built server as a real process whose stdout and stderr the test controls, to check what
 * happens to a server whose log collector is gone (a closed pipe) or stuck (a pipe nobody reads).
 */

export interface ServerProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** The first stdout line (`listening`), parsed. */
  readonly first: { readonly msg: string; readonly address: string; readonly [field: string]: unknown };
  readonly exited: Promise<Exit>;
}

export interface Exit {
  readonly code: number | null;
  /** The signal that ended the process, if one did (its default action, no handler). */
  readonly signal: NodeJS.Signals | null;
}

const started: Array<ServerProcess['child']> = [];

/**
 * SIGKILLs every process started here that is still running and closes the test's ends of their
 * pipes, so nothing is left open when the test file ends (call it after each test).
 */
export function killServers(): void {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child.stdout.destroy();
    child.stderr.destroy();
  }
}

/**
 * Starts `node main` with `env` (and PATH) and resolves with its first stdout line. After that
 * line the test reads nothing more from stdout: it stays paused until the test resumes, closes
 * or leaves it.
 */
export function spawnServer(main: string, env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  const exited = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      child.stdout.off('data', onData);
      child.stdout.pause();
      resolve({ child, first: JSON.parse(text.slice(0, newline)) as ServerProcess['first'], exited });
    };
    child.stdout.on('data', onData);
    void exited.then((exit) =>
      reject(new Error(`exited (${JSON.stringify(exit)}) before listening: ${stderr}`)),
    );
  });
}

/**
 * Sends SIGTERM and waits for the process to exit, at most `withinMs`. Resolves with how it exited
 * and how long that took, or with `undefined` if the process is still running then.
 */
export async function terminate(
  server: ServerProcess,
  withinMs: number,
): Promise<(Exit & { readonly ms: number }) | undefined> {
  const sent = Date.now();
  server.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), withinMs)));
  const result = await Promise.race([
    server.exited.then((exit) => ({ ...exit, ms: Date.now() - sent })),
    late,
  ]);
  clearTimeout(timer);
  return result;
}
