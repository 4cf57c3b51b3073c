import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { SAMPLE_PATIENT_COUNT } from '../src/index.js';
import { startFakeAuthServer, type FakeAuthServer } from './support/fake-auth-server.js';

// The process contract (preamble, DESIGN.md): `node dist/main.js` prints a first stdout line
// {"msg":"listening","url":<FHIR base>,"address":…}, refuses bad configuration with a message
// naming the variable, and exits 0 on SIGTERM after draining. Runs the built output (turbo builds
// before testing).
const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js');

interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  readonly first: { msg: string; url: string; address: string };
  readonly stdout: string[];
  readonly exited: Promise<number | null>;
}

function start(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: 'pipe',
  });
  const stdout: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      stdout.push(line);
      if (stdout.length === 1) resolve({ child, first: JSON.parse(line), stdout, exited });
    });
    void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
  });
}

describe('node dist/main.js', () => {
  let auth: FakeAuthServer;
  let dataDir: string;

  beforeAll(async () => {
    auth = await startFakeAuthServer();
    dataDir = mkdtempSync(join(tmpdir(), 'fhir-api-main-'));
  });
  afterAll(async () => {
    await auth.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('announces itself, serves seeded data to a valid token, keeps data across a restart, and exits 0 on SIGTERM', async () => {
    const first = await start({ DATA_DIR: dataDir, AUTH_URL: auth.url, SEED: 'true' });
    expect(first.first.msg).toBe('listening');
    expect(first.first.url).toMatch(/^http:\/\/localhost:\d+\/fhir$/);
    expect(first.first.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const metadata = await fetch(`${first.first.address}/fhir/metadata`);
    expect(metadata.status).toBe(200);
    const token = await auth.mint(first.first.url, { scope: 'system/*.cruds' });
    const patients = await fetch(`${first.first.address}/fhir/Patient?_count=1`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(patients.status).toBe(200);
    expect(((await patients.json()) as { total: number }).total).toBeGreaterThanOrEqual(100);
    const created = await fetch(`${first.first.address}/fhir/Basic`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Basic', code: { text: 'survives restarts' } }),
    });
    const id = ((await created.json()) as { id: string }).id;

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.stdout.join('\n')).not.toContain(token);
    expect(first.stdout.some((line) => JSON.parse(line).msg === 'request')).toBe(true);

    const second = await start({ DATA_DIR: dataDir, AUTH_URL: auth.url, SEED: 'true' });
    const token2 = await auth.mint(second.first.url, { scope: 'system/*.rs' });
    const read = await fetch(`${second.first.address}/fhir/Basic/${id}`, {
      headers: { Authorization: `Bearer ${token2}` },
    });
    expect(read.status).toBe(200);
    const again = await fetch(`${second.first.address}/fhir/Patient?_count=0`, {
      headers: { Authorization: `Bearer ${token2}` },
    });
    expect(((await again.json()) as { total: number }).total).toBe(SAMPLE_PATIENT_COUNT); // seeding twice added nothing
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('refuses a bad variable with one line naming it, and exits non-zero', async () => {
    const child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH ?? '', PORT: 'eighty', DATA_DIR: dataDir },
      stdio: 'pipe',
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).not.toBe(0);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('PORT');
  });

  // A hang fails the test at Jest's timeout; the process must not outlive the test.
  const unusableDataDirChildren: ChildProcessWithoutNullStreams[] = [];
  afterEach(() => {
    for (const child of unusableDataDirChildren.splice(0)) child.kill('SIGKILL');
  });

  it.each(['/proc/x/data', '/dev/null/data'])(
    'a DATA_DIR that cannot be created (%s) stops start-up with one line naming it, never a hang',
    async (unusable) => {
      const child = spawn(process.execPath, [MAIN], {
        env: { PATH: process.env.PATH ?? '', PORT: '0', DATA_DIR: unusable, AUTH_URL: auth.url },
        stdio: 'pipe',
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      unusableDataDirChildren.push(child);
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(1);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toContain(unusable.split('/').slice(0, 3).join('/'));
    },
  );
});
