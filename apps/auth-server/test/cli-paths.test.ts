import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { CLI } from './processes.js';
import { tempDir } from './helpers.js';

/**
 * The class "a data directory smart-auth cannot use": every command that takes one (`--data-dir`
 * or `DATA_DIR`), with every kind of unusable path, ends with exit 2 and one line on stderr naming
 * the path. A hang fails: each process is killed after 20 s and then counts as exit -1. The CLI
 * never creates a key store, so nothing is created anywhere either.
 *
 * The commands run as an unprivileged user (nobody when the tests run as root), so permission bits
 * refuse as they would for a real operator account.
 */

const HANG_LIMIT_MS = 20_000;
const user = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;

let root: string;

const DATA_DIRS: Array<{ name: string; path: () => string }> = [
  { name: '/proc/x: nothing there', path: () => '/proc/x' },
  { name: '/dev/null/x: below a device', path: () => '/dev/null/x' },
  { name: 'below a regular file', path: () => path.join(root, 'file', 'x') },
  { name: 'a regular file where a directory is expected', path: () => path.join(root, 'file') },
  { name: '/dev/null: a device where a directory is expected', path: () => '/dev/null' },
  { name: 'the parent does not exist', path: () => path.join(root, 'missing', 'x') },
  { name: 'a directory without a key store (a typo)', path: () => path.join(root, 'empty') },
  { name: 'keys.db is a directory', path: () => path.join(root, 'keys-dir') },
  { name: 'keys.db is a FIFO (SQLite would block opening it)', path: () => path.join(root, 'keys-fifo') },
  { name: 'keys.db is not a database', path: () => path.join(root, 'keys-garbage') },
  { name: 'keys.db nobody may open (mode 000)', path: () => path.join(root, 'keys-locked') },
  { name: 'a directory nobody may enter', path: () => path.join(root, 'sealed') },
  { name: 'a dangling symbolic link', path: () => path.join(root, 'dangling') },
  { name: 'a symbolic link loop', path: () => path.join(root, 'loop') },
  { name: 'a name longer than the file system allows', path: () => path.join(root, 'n'.repeat(300)) },
];

/** Both commands, and both ways of naming the directory (the flag and the environment). */
const COMMANDS: Array<{
  command: string;
  run: (dir: string) => { args: string[]; env: Record<string, string> };
}> = [
  {
    command: 'keys list --data-dir DIR',
    run: (dir) => ({ args: ['keys', 'list', '--data-dir', dir], env: {} }),
  },
  {
    command: 'DATA_DIR=DIR keys rotate',
    run: (dir) => ({ args: ['keys', 'rotate', '--json'], env: { DATA_DIR: dir } }),
  },
];

beforeAll(async () => {
  root = tempDir('smart-auth-paths-');
  fs.chmodSync(root, 0o755); // the unprivileged user must reach what it may use
  fs.writeFileSync(path.join(root, 'file'), 'a regular file\n');
  fs.mkdirSync(path.join(root, 'empty'));
  fs.mkdirSync(path.join(root, 'keys-dir', 'keys.db'), { recursive: true });
  fs.mkdirSync(path.join(root, 'keys-fifo'));
  await promisify(execFile)('mkfifo', [path.join(root, 'keys-fifo', 'keys.db')]);
  fs.mkdirSync(path.join(root, 'keys-garbage'));
  fs.writeFileSync(path.join(root, 'keys-garbage', 'keys.db'), 'not a database, not even close\n'.repeat(10));
  fs.mkdirSync(path.join(root, 'keys-locked'));
  fs.writeFileSync(path.join(root, 'keys-locked', 'keys.db'), '', { mode: 0o000 });
  // Empty, so it can be removed whatever its mode: what is behind it cannot even be looked up.
  fs.mkdirSync(path.join(root, 'sealed'), { mode: 0o700 });
  fs.symlinkSync(path.join(root, 'nowhere', 'x'), path.join(root, 'dangling'));
  fs.symlinkSync(path.join(root, 'loop'), path.join(root, 'loop'));
  if (user) {
    // Everything the user may use is theirs; "keys-locked" and "sealed" stay root's.
    for (const dir of ['empty', 'keys-dir', 'keys-fifo', 'keys-garbage']) {
      fs.chownSync(path.join(root, dir), user.uid, user.gid);
    }
    fs.chownSync(path.join(root, 'keys-fifo', 'keys.db'), user.uid, user.gid);
    fs.chownSync(path.join(root, 'keys-garbage', 'keys.db'), user.uid, user.gid);
  } else {
    fs.chmodSync(path.join(root, 'sealed'), 0o000);
  }
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: HANG_LIMIT_MS, ...user },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function verdict(result: Result, dir: string): string {
  const lines = result.stderr.trimEnd().split('\n');
  if (result.code !== 2) return `exit ${result.code}: ${result.stderr.trim() || '(no message)'}`;
  if (lines.length !== 1) return `${lines.length} lines on stderr`;
  if (!lines[0]!.startsWith('smart-auth: ')) return `not a smart-auth message: ${lines[0]}`;
  if (!lines[0]!.includes(dir)) return `the message does not name the path: ${lines[0]}`;
  if (result.stdout !== '') return 'output on stdout';
  return 'exit 2, one line naming the path';
}

describe('smart-auth: a data directory it cannot use is exit 2 with a one-line error naming it, never a hang', () => {
  it.each(COMMANDS.map((c) => [c.command, c] as const))(
    '%s',
    async (_, { run }) => {
      const outcomes: Array<{ row: string; outcome: string }> = [];
      // Three at a time: the machine has 2 cores, shared with other tests.
      for (let i = 0; i < DATA_DIRS.length; i += 3) {
        const batch = DATA_DIRS.slice(i, i + 3);
        const results = await Promise.all(
          batch.map(async (row) => {
            const dir = row.path();
            const { args, env } = run(dir);
            return { row: row.name, outcome: verdict(await runCli(args, env), dir) };
          }),
        );
        outcomes.push(...results);
      }
      expect(outcomes).toEqual(
        DATA_DIRS.map((row) => ({ row: row.name, outcome: 'exit 2, one line naming the path' })),
      );
      // Nothing was created: not a key store, not a directory.
      expect(fs.readdirSync(path.join(root, 'empty'))).toEqual([]);
      expect(fs.existsSync(path.join(root, 'missing'))).toBe(false);
    },
    4 * HANG_LIMIT_MS,
  );
});
