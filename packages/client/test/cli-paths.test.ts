import { chmod, chown, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli, unprivilegedUser, type CliResult } from './support/cli.js';

/**
 * The class "a path the CLI cannot use": every command that takes a path, with every kind of
 * unusable path, must end with exit 2 and one line on stderr that names the path. A hang fails:
 * each process is killed after 20 s and then counts as exit -1.
 *
 * The commands run as an unprivileged user (nobody when the tests run as root), so permission bits
 * refuse as they would for a real user.
 */

const HANG_LIMIT_MS = 20_000;
/** Nothing listens there: a command that got past its path would fail with exit 1, not 2. */
const DEAD_URL = 'http://127.0.0.1:9';
const user = unprivilegedUser();

let root: string;
/** A usable private key (mode 0600, owned by the user the commands run as). */
let goodKey: string;

interface Row {
  name: string;
  path: () => string;
}

/** Paths that no command can read a file from. */
const UNREADABLE: Row[] = [
  { name: '/proc/x: nothing there', path: () => '/proc/smart-backend-nothing-here' },
  { name: '/dev/null/x: below a device', path: () => '/dev/null/x' },
  { name: 'below a regular file', path: () => join(root, 'file', 'x') },
  { name: 'the parent does not exist', path: () => join(root, 'missing', 'x') },
  { name: 'a directory where a file is expected', path: () => join(root, 'dir') },
  { name: '/dev/null: a device', path: () => '/dev/null' },
  { name: 'a FIFO (opening it would block)', path: () => join(root, 'fifo') },
  { name: '/proc/self/pagemap: claims 0 bytes, reads on and on', path: () => '/proc/self/pagemap' },
  { name: 'a dangling symbolic link', path: () => join(root, 'dangling') },
  { name: 'a symbolic link loop', path: () => join(root, 'loop') },
  { name: 'a name longer than the file system allows', path: () => join(root, 'n'.repeat(300)) },
  { name: 'a file nobody may read (mode 000)', path: () => join(root, 'locked') },
  { name: 'a file in a directory nobody may enter', path: () => join(root, 'sealed', 'key.pem') },
];

/** Paths `keys generate --out` cannot write its three files into. */
const UNWRITABLE: Row[] = [
  { name: '/proc/x: cannot be created (Node 20 recursive mkdir spins here)', path: () => '/proc/x' },
  { name: '/proc/x/y: two levels that cannot be created', path: () => '/proc/x/y' },
  { name: '/proc: a directory that holds no new files', path: () => '/proc' },
  { name: '/sys/x', path: () => '/sys/x' },
  { name: '/dev/null/x: below a device', path: () => '/dev/null/x' },
  { name: 'below a regular file', path: () => join(root, 'file', 'x') },
  { name: 'a regular file where a directory is expected', path: () => join(root, 'file') },
  { name: '/dev/null: a device where a directory is expected', path: () => '/dev/null' },
  { name: 'a dangling symbolic link', path: () => join(root, 'dangling') },
  { name: 'a symbolic link loop', path: () => join(root, 'loop') },
  { name: 'a name longer than the file system allows', path: () => join(root, 'n'.repeat(300)) },
  { name: 'an existing directory nobody may write', path: () => join(root, 'read-only') },
  { name: 'a new directory inside one nobody may write', path: () => join(root, 'read-only', 'keys') },
];

/** Every command that takes a path, with the path in its place and every other argument usable. */
const COMMANDS: Array<{ command: string; rows: Row[]; args: (path: string) => string[] }> = [
  { command: 'keys generate --out', rows: UNWRITABLE, args: (p) => ['keys', 'generate', '--out', p] },
  { command: 'jwks --key', rows: UNREADABLE, args: (p) => ['jwks', '--key', p] },
  {
    command: 'assertion --key',
    rows: UNREADABLE,
    args: (p) => ['assertion', '--client-id', 'c', '--token-url', `${DEAD_URL}/token`, '--key', p],
  },
  {
    command: 'token --key',
    rows: UNREADABLE,
    args: (p) => [
      'token',
      '--token-url',
      `${DEAD_URL}/token`,
      '--client-id',
      'c',
      '--scope',
      's',
      '--key',
      p,
    ],
  },
  {
    command: 'fhir get --key',
    rows: UNREADABLE,
    args: (p) => [
      'fhir',
      'get',
      'Patient',
      '--fhir-url',
      DEAD_URL,
      '--client-id',
      'c',
      '--scope',
      's',
      '--key',
      p,
    ],
  },
  {
    command: 'fhir post --data',
    rows: UNREADABLE,
    args: (p) => [
      'fhir',
      'post',
      'Patient',
      '--fhir-url',
      DEAD_URL,
      '--token-url',
      `${DEAD_URL}/token`,
      '--client-id',
      'c',
      '--scope',
      's',
      '--key',
      goodKey,
      '--data',
      p,
    ],
  },
  {
    command: 'register --jwks',
    rows: UNREADABLE,
    args: (p) => ['register', '--auth-url', DEAD_URL, '--admin-token', 't', '--scope', 's', '--jwks', p],
  },
];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'smart-backend-paths-'));
  await chmod(root, 0o755); // the unprivileged user must reach what it may use
  await writeFile(join(root, 'file'), 'a regular file\n');
  await mkdir(join(root, 'dir'));
  await promisify(execFile)('mkfifo', [join(root, 'fifo')]);
  await symlink(join(root, 'nowhere', 'x'), join(root, 'dangling'));
  await symlink(join(root, 'loop'), join(root, 'loop'));
  await writeFile(join(root, 'locked'), 'secret', { mode: 0o000 });
  // Empty, so it can be removed whatever its mode: what is behind it cannot even be looked up.
  await mkdir(join(root, 'sealed'), { mode: 0o700 });
  await mkdir(join(root, 'read-only'), { mode: 0o555 });
  await chmod(join(root, 'read-only'), 0o555);

  const generated = await runCli(['keys', 'generate', '--out', join(root, 'good')]);
  expect(generated.code).toBe(0);
  goodKey = join(root, 'good', 'private_key.pem');
  if (user) {
    await chown(join(root, 'good'), user.uid, user.gid);
    await chown(goodKey, user.uid, user.gid);
  } else {
    // The current user owns "sealed"; only its mode keeps the others out.
    await chmod(join(root, 'sealed'), 0o000);
  }
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** What each row must give: exit 2 and one stderr line that names the path (nothing on stdout). */
function verdict(result: CliResult, path: string): string {
  const lines = result.stderr.trimEnd().split('\n');
  if (result.code !== 2) return `exit ${result.code}: ${result.stderr.trim() || '(no message)'}`;
  if (lines.length !== 1) return `${lines.length} lines on stderr`;
  if (!lines[0]!.includes(path)) return `the message does not name the path: ${lines[0]}`;
  if (result.stdout !== '') return 'output on stdout';
  return 'exit 2, one line naming the path';
}

/** Runs the rows a few at a time (2 cores, shared with other tests). */
async function runAll<T, R>(items: T[], each: (item: T) => Promise<R>, parallel = 3): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await each(items[index]!);
      }
    }),
  );
  return results;
}

describe('a path the CLI cannot use: exit 2 with a one-line error naming it, never a hang', () => {
  it.each(COMMANDS.map((c) => [c.command, c] as const))(
    '%s',
    async (_, { command, rows, args }) => {
      const outcomes = await runAll(rows, async (row) => {
        const path = row.path();
        const result = await runCli(args(path), {
          ...(user && { user }),
          timeoutMs: HANG_LIMIT_MS,
        });
        return { row: row.name, outcome: verdict(result, path), stderr: result.stderr.trim() };
      });
      const expected = rows.map((row) => ({ row: row.name, outcome: 'exit 2, one line naming the path' }));
      expect(outcomes.map(({ row, outcome }) => ({ row, outcome }))).toEqual(expected);
      // The message starts with the command and carries no stack trace.
      const prefix = `smart-backend ${command.split(' --')[0]!.replace(/ (get|post)$/, '')}: `;
      for (const { stderr } of outcomes) expect(stderr.startsWith(prefix)).toBe(true);
    },
    4 * HANG_LIMIT_MS,
  );
});
