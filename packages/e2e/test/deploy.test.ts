import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { existsSync, lstatSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BackendServicesClient,
  createClientAssertion,
  generateClientKeys,
  registerClient,
} from '@smart-backend/client';
import { CLIENT_ASSERTION_TYPE } from '@smart-backend/protocol';
import { freePort, packageDir, startApp, type RunningApp } from '../src/stack.js';
import {
  REDIS_URL,
  createTestDatabase,
  removeRedisPrefix,
  testRedisPrefix,
  type TestDatabase,
} from './services.js';

/**
 * Deployment bundles (DEPLOY.md): `pnpm --filter <app> deploy --prod … <dir>` gives each app a
 * self-contained directory — built output, production dependencies, better-sqlite3's native
 * build. Both bundles are built into a temporary directory outside the workspace and run from
 * there (cwd outside the repo, nothing resolvable from the repo's node_modules); a client then
 * gets a token from the deployed auth-server and calls the deployed FHIR API.
 */

const WORKSPACE = dirname(dirname(packageDir('@smart-backend/auth-server')));
let out: string;
let db: TestDatabase;
const prefix = testRedisPrefix();
const running: RunningApp[] = [];

function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

async function deploy(name: string, dir: string): Promise<void> {
  // DEPLOY.md's command: production dependencies only, and no link back to the workspace package.
  const result = await run(
    'pnpm',
    ['--filter', name, 'deploy', '--prod', '--config.hoist-workspace-packages=false', dir],
    WORKSPACE,
  );
  if (result.code !== 0) throw new Error(`pnpm deploy ${name} failed:\n${result.output}`);
}

/** Starts `node dist/main.js` from a bundle, with its cwd outside the workspace. */
async function startBundle(bundle: string, env: Record<string, string>, name: string): Promise<RunningApp> {
  const app = await startApp(join(bundle, 'dist', 'main.js'), env, name, undefined, { cwd: out });
  running.push(app);
  return app;
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'smart-deploy-'));
  db = await createTestDatabase();
  await Promise.all([
    deploy('@smart-backend/auth-server', join(out, 'auth-server')),
    deploy('@smart-backend/fhir-api', join(out, 'fhir-api')),
  ]);
}, 120_000);

afterAll(async () => {
  const codes = await Promise.all(running.map((app) => app.stop()));
  await db?.drop();
  await removeRedisPrefix(prefix);
  if (out) rmSync(out, { recursive: true, force: true });
  expect(codes.every((code) => code === 0)).toBe(true);
});

/** Every symlink under node_modules, resolved: none may leave the bundle. */
function linksLeaving(bundle: string): string[] {
  const root = realpathSync(bundle) + sep;
  const leaving: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) {
        if (!realpathSync(path).startsWith(root)) leaving.push(path);
      } else if (stat.isDirectory() && depth > 0) walk(path, depth - 1);
    }
  };
  walk(join(bundle, 'node_modules'), 3);
  return leaving;
}

describe('deployment bundles', () => {
  it('are self-contained: built output, production dependencies only, native SQLite build, no link into the workspace', () => {
    expect(out.startsWith(WORKSPACE)).toBe(false);
    for (const [app, deps] of [
      [
        'auth-server',
        ['@smart-backend/protocol', 'better-sqlite3', 'express', 'ioredis', 'jose', 'pg', 'pino', 'zod'],
      ],
      ['fhir-api', ['@smart-backend/protocol', 'better-sqlite3', 'express', 'jose', 'pino', 'zod']],
    ] as const) {
      const bundle = join(out, app);
      expect(existsSync(join(bundle, 'dist', 'main.js'))).toBe(true);
      expect(existsSync(join(bundle, 'node_modules', '@smart-backend', 'protocol', 'dist', 'index.js'))).toBe(
        true,
      );
      for (const dep of deps)
        expect([app, dep, existsSync(join(bundle, 'node_modules', dep))]).toEqual([app, dep, true]);
      for (const dev of ['jest', 'typescript', 'supertest', 'tsx'])
        expect([app, dev, existsSync(join(bundle, 'node_modules', dev))]).toEqual([app, dev, false]);
      const native = join(
        bundle,
        'node_modules',
        'better-sqlite3',
        'build',
        'Release',
        'better_sqlite3.node',
      );
      expect([app, existsSync(native)]).toEqual([app, true]);
      expect(linksLeaving(bundle)).toEqual([]);
    }
  });

  it('run from outside the workspace: a token from the deployed auth-server (PostgreSQL + Redis) opens the deployed FHIR API (SQLite, seeded)', async () => {
    const [authPort, fhirPort] = [await freePort(), await freePort()];
    const authUrl = `http://127.0.0.1:${authPort}`;
    const fhirBase = `http://127.0.0.1:${fhirPort}/fhir`;
    const adminToken = 'deploy-test-admin-token-0123456789';
    const auth = await startBundle(
      join(out, 'auth-server'),
      {
        PORT: String(authPort),
        HOST: '127.0.0.1',
        PUBLIC_URL: authUrl,
        FHIR_BASE_URL: fhirBase,
        ADMIN_TOKEN: adminToken,
        DATA_DIR: join(out, 'auth-data'),
        DATABASE_URL: db.url,
        REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
      },
      'deployed auth-server',
    );
    await startBundle(
      join(out, 'fhir-api'),
      {
        PORT: String(fhirPort),
        HOST: '127.0.0.1',
        PUBLIC_URL: `http://127.0.0.1:${fhirPort}`,
        AUTH_URL: authUrl,
        DATA_DIR: join(out, 'fhir-data'),
        SEED: 'true',
      },
      'deployed fhir-api',
    );
    expect(auth.url).toBe(authUrl);
    expect(await (await fetch(`${authUrl}/readyz`)).json()).toMatchObject({
      status: 'ready',
      checks: { clients: { backend: 'postgres' }, replay: { backend: 'redis' } },
    });

    const keys = await generateClientKeys({ alg: 'RS384' });
    const { client_id: clientId } = await registerClient({
      authUrl,
      adminToken,
      jwks: keys.jwks,
      scope: 'system/Patient.rs',
    });
    const client = new BackendServicesClient({
      fhirBaseUrl: fhirBase,
      clientId,
      privateKey: keys.privateKeyPem,
      scope: 'system/Patient.rs',
    });
    const page = await client.searchPages('Patient', { _count: '3' }).next();
    expect(page.value).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    expect((page.value as { entry: unknown[] }).entry).toHaveLength(3);
  });

  it('the deployed auth-server also runs on its embedded SQLite default', async () => {
    const port = await freePort();
    const app = await startBundle(
      join(out, 'auth-server'),
      { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(out, 'auth-sqlite') },
      'deployed auth-server (SQLite)',
    );
    const ready = await fetch(`${app.url.replace('localhost', '127.0.0.1')}/readyz`);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: { clients: { backend: 'sqlite' }, keys: { backend: 'sqlite' }, replay: { backend: 'sqlite' } },
    });
  });

  it('SIGTERM: both deployed apps finish a request still being uploaded, then exit 0', async () => {
    const [authPort, fhirPort] = [await freePort(), await freePort()];
    const authUrl = `http://127.0.0.1:${authPort}`;
    const fhirBase = `http://127.0.0.1:${fhirPort}/fhir`;
    const adminToken = 'deploy-test-admin-token-0123456789';
    const auth = await startBundle(
      join(out, 'auth-server'),
      {
        PORT: String(authPort),
        HOST: '127.0.0.1',
        PUBLIC_URL: authUrl,
        FHIR_BASE_URL: fhirBase,
        ADMIN_TOKEN: adminToken,
        DATA_DIR: join(out, 'drain-auth'),
      },
      'deployed auth-server (drain)',
    );
    const fhir = await startBundle(
      join(out, 'fhir-api'),
      {
        PORT: String(fhirPort),
        HOST: '127.0.0.1',
        PUBLIC_URL: `http://127.0.0.1:${fhirPort}`,
        AUTH_URL: authUrl,
        DATA_DIR: join(out, 'drain-fhir'),
      },
      'deployed fhir-api (drain)',
    );
    const keys = await generateClientKeys({ alg: 'ES384' });
    const { client_id: clientId } = await registerClient({
      authUrl,
      adminToken,
      jwks: keys.jwks,
      scope: 'system/Patient.cruds',
    });
    const form = (assertion: string) =>
      new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'system/Patient.cruds',
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: assertion,
      }).toString();
    const assertion = () =>
      createClientAssertion({ clientId, tokenUrl: `${authUrl}/token`, key: keys.signingKey });
    const token = (await (
      await fetch(`${authUrl}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form(await assertion()),
      })
    ).json()) as { access_token: string };

    // The FHIR API learns the auth server's keys now: during the drain below the auth server is
    // stopping too, and a JWKS fetch racing its shutdown is not what this test is about.
    const warm = await fetch(`${fhirBase}/Patient?_count=1`, {
      headers: { authorization: `Bearer ${token.access_token}` },
    });
    expect(warm.status).toBe(200);

    // Half of each body is sent, then the app gets SIGTERM, then the rest follows.
    const uploads = [
      slowUpload(auth, `${authUrl}/token`, 'application/x-www-form-urlencoded', form(await assertion())),
      slowUpload(
        fhir,
        `${fhirBase}/Patient`,
        'application/fhir+json',
        JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Drain' }] }),
        token.access_token,
      ),
    ];
    const answers = await Promise.all(uploads);
    expect(answers.map((a) => a.status)).toEqual([200, 201]);
    // No second signal: each exits by itself once its request is answered.
    expect(await Promise.all([exitOf(auth), exitOf(fhir)])).toEqual([0, 0]);
  });
});

function exitOf(app: RunningApp): Promise<number | null> {
  return new Promise((resolve) => {
    if (app.process.exitCode !== null || app.process.signalCode !== null) resolve(app.process.exitCode);
    else app.process.once('exit', (code) => resolve(code));
  });
}

/**
 * Sends half of `body`, SIGTERMs the app, checks it is still running, sends the rest. Each step
 * waits for a condition, not for a time: the headers carry `Expect: 100-continue`, and the app
 * answers 100 Continue as its handler receives the request, so the request is in flight before
 * the signal; the rest of the body follows once the app has logged that it is draining. The
 * request asks for `Connection: close`, so no idle keep-alive connection is left for the drain to
 * wait on.
 */
async function slowUpload(
  app: RunningApp,
  url: string,
  type: string,
  body: string,
  bearer?: string,
): Promise<{ status: number }> {
  const bytes = Buffer.from(body);
  const half = Math.floor(bytes.length / 2);
  const req = http.request(url, {
    method: 'POST',
    headers: {
      'content-type': type,
      'content-length': String(bytes.length),
      connection: 'close',
      expect: '100-continue',
      ...(bearer && { authorization: `Bearer ${bearer}` }),
    },
  });
  const answered = new Promise<{ status: number }>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
  });
  answered.catch(() => undefined); // awaited below; a failure before that is reported there
  req.flushHeaders();
  await once(req, 'continue');
  await new Promise<void>((resolve) => req.write(bytes.subarray(0, half), () => resolve()));
  app.process.kill('SIGTERM');
  const exited = () => app.process.exitCode !== null || app.process.signalCode !== null;
  while (!app.logs.some((line) => line.includes('"msg":"shutting down')) && !exited()) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (exited()) throw new Error('exited with a request in flight');
  req.end(bytes.subarray(half));
  return answered;
}
