import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built binary (turbo builds the package before its tests). */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli/main.js …args` and resolves with its exit code and output. */
export function runCli(
  args: string[],
  options: {
    cwd?: string;
    env?: Record<string, string>;
    input?: string;
    /** Run as this user (see {@link unprivilegedUser}). */
    user?: { uid: number; gid: number };
    /** Kill the process after this long (exit code -1): a hang becomes a failure. Default 30 s. */
    timeoutMs?: number;
  } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd: options.cwd,
        env: { PATH: process.env.PATH ?? '', ...options.env },
        timeout: options.timeoutMs ?? 30_000,
        ...options.user,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** stdout parsed as JSON (the CLI's contract). */
export function json(result: CliResult): unknown {
  return JSON.parse(result.stdout) as unknown;
}

/**
 * An identity file permissions apply to: the current user, or `nobody` (65534) when the tests run
 * as root, for whom no permission bit is ever a refusal.
 */
export function unprivilegedUser(): { uid: number; gid: number } | undefined {
  return process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
}
