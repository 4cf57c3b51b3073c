import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import {
  SQLITE_FILE_NAME,
  loadConfig,
  openSqliteResourceStore,
  startFhirApi,
  type RunningFhirApi,
} from '../src/index.js';
import { capturedLogger } from './support/sockets.js';

// DATA_DIR holds health data: the directory the server creates is 0700 and every file in it
// (the SQLite database and the -wal/-shm files SQLite adds later) 0600, whatever the umask.
const roots: string[] = [];
const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const api of running.splice(0)) await api.close();
});
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});
function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'fhir-api-data-dir-'));
  roots.push(root);
  return root;
}

const modeOf = (path: string) => statSync(path).mode & 0o777;

async function startOn(dataDir: string) {
  const { logger, lines } = capturedLogger();
  const api = await startFhirApi(loadConfig({ PORT: '0', DATA_DIR: dataDir }), { logger });
  running.push(api);
  return { api, lines };
}

/** One write, so SQLite has created its -wal and -shm files (they live until the last close). */
async function writeSomething(api: RunningFhirApi): Promise<void> {
  await api.store.createIfAbsent([{ resourceType: 'Patient', id: 'p1' }]);
}

describe('files under DATA_DIR', () => {
  it.each([
    ['022', 0o022],
    ['002', 0o002],
    ['000', 0o000],
  ])(
    'under umask %s: the directory is created 0700, the database and its -wal and -shm 0600',
    async (_, umask) => {
      const dataDir = join(tempRoot(), 'nested', 'data');
      const previous = process.umask(umask);
      try {
        const { api, lines } = await startOn(dataDir);
        await writeSomething(api);
        expect(modeOf(dataDir)).toBe(0o700);
        const files = readdirSync(dataDir);
        expect(files.sort()).toEqual(
          [SQLITE_FILE_NAME, `${SQLITE_FILE_NAME}-shm`, `${SQLITE_FILE_NAME}-wal`].sort(),
        );
        for (const file of files) expect([file, modeOf(join(dataDir, file))]).toEqual([file, 0o600]);
        expect(lines.filter((line) => line.level >= 40)).toEqual([]);
      } finally {
        process.umask(previous);
      }
    },
  );

  it.each([
    ['0755', 0o755],
    ['0750', 0o750],
    ['0711', 0o711],
    ['0777', 0o777],
  ])(
    'an existing DATA_DIR with mode %s is reported at start-up (warn) and left as it is; its files are still 0600',
    async (_, mode) => {
      const dataDir = tempRoot();
      chmodSync(dataDir, mode);
      const { api, lines } = await startOn(dataDir);
      await writeSomething(api);
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 40,
          data_dir: dataDir,
          mode: `0${mode.toString(8)}`,
          msg: expect.stringContaining('DATA_DIR is open to other users'),
        }),
      );
      expect(lines[0]).toMatchObject({ msg: 'listening' });
      expect(modeOf(dataDir)).toBe(mode);
      for (const file of readdirSync(dataDir))
        expect([file, modeOf(join(dataDir, file))]).toEqual([file, 0o600]);
    },
  );

  it('an existing DATA_DIR with mode 0700 is not reported', async () => {
    const dataDir = tempRoot();
    chmodSync(dataDir, 0o700);
    const { lines } = await startOn(dataDir);
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
  });

  it('tightens a database, -wal and -shm left with mode 0644 by an earlier run (a crash leaves the -wal), keeping their data', async () => {
    // An earlier run that stopped without closing: its database with a non-empty -wal and -shm.
    const crashed = join(tempRoot(), 'crashed');
    const earlier = openSqliteResourceStore({ dataDir: crashed });
    running.push(earlier);
    await earlier.createIfAbsent([{ resourceType: 'Patient', id: 'kept' }]);
    const dataDir = tempRoot();
    for (const suffix of ['', '-wal', '-shm']) {
      copyFileSync(
        join(crashed, `${SQLITE_FILE_NAME}${suffix}`),
        join(dataDir, `${SQLITE_FILE_NAME}${suffix}`),
      );
      chmodSync(join(dataDir, `${SQLITE_FILE_NAME}${suffix}`), 0o644);
    }
    expect(statSync(join(dataDir, `${SQLITE_FILE_NAME}-wal`)).size).toBeGreaterThan(0);

    const { api } = await startOn(dataDir);
    for (const suffix of ['', '-wal', '-shm']) {
      expect([suffix, modeOf(join(dataDir, `${SQLITE_FILE_NAME}${suffix}`))]).toEqual([suffix, 0o600]);
    }
    expect(await api.store.createIfAbsent([{ resourceType: 'Patient', id: 'kept' }])).toEqual({
      created: 0,
      existing: 1,
    });
  });

  it('creates missing parents of DATA_DIR 0700 too', async () => {
    const root = tempRoot();
    mkdirSync(join(root, 'existing'), { mode: 0o755 });
    chmodSync(join(root, 'existing'), 0o755);
    const dataDir = join(root, 'existing', 'new', 'data');
    await startOn(dataDir);
    expect([modeOf(join(root, 'existing', 'new')), modeOf(dataDir)]).toEqual([0o700, 0o700]);
    expect(modeOf(join(root, 'existing'))).toBe(0o755);
  });
});
