import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeProtectedHeader } from 'jose';
import pg from 'pg';
import {
  REDIS_URL,
  createTestDatabase,
  freePort,
  removeRedisPrefix,
  testRedisPrefix,
  waitFor,
  type TestDatabase,
} from './backends.js';
import {
  ADMIN_TOKEN,
  jwksOf,
  makeAssertion,
  makeClientKey,
  startJwksHost,
  tempDir,
  type JwksHost,
} from './helpers.js';
import { MAIN, cli, killChildren, registerOver, run, startMain, tokenOver } from './processes.js';

/**
 * `node dist/main.js` and `smart-auth` with DATABASE_URL and REDIS_URL: start-up, the passwords in
 * the connection strings never printed, refusal to start when a service is missing, SIGTERM drain,
 * key rotation on the shared database.
 */

const PASSWORD = 'S3cret-Passw0rd-never-logged';

const hosts: JwksHost[] = [];
let db: TestDatabase;
let databaseUrl: string;
const prefix = testRedisPrefix('process');

beforeAll(async () => {
  db = await createTestDatabase();
  // Trust authentication ignores the password, but it is in the URL the process is given.
  const url = new URL(db.url);
  url.password = PASSWORD;
  databaseUrl = url.toString();
});
afterEach(async () => {
  killChildren();
  for (const host of hosts.splice(0)) await host.close();
});
afterAll(async () => {
  await db?.drop();
  await removeRedisPrefix(prefix);
});

const sharedEnv = () => ({
  PORT: '0',
  ADMIN_TOKEN,
  DATA_DIR: tempDir(),
  DATABASE_URL: databaseUrl,
  REDIS_URL,
  REDIS_KEY_PREFIX: prefix,
});

describe('node dist/main.js on PostgreSQL and Redis', () => {
  it('starts (listening first, then the stores with the password redacted), serves, drains an in-flight request on SIGTERM and exits 0', async () => {
    const host = await startJwksHost();
    hosts.push(host);
    const key = await makeClientKey('ES384');
    let release: () => void = () => undefined;
    const requested = new Promise<void>((resolve) => {
      host.handle('/jwks.json', (_req, res) => {
        resolve();
        release = () =>
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(jwksOf(key)));
      });
    });
    const server = await startMain({ ...sharedEnv(), LOG_LEVEL: 'debug' });
    expect(server.first).toMatchObject({ msg: 'listening' });
    await waitFor(() => server.lines.length > 1); // the lines arrive one by one
    const stores = JSON.parse(server.lines[1] as string) as Record<string, unknown>;
    expect(stores).toMatchObject({
      msg: 'stores opened',
      clients: 'postgres',
      keys: 'postgres',
      replay: 'redis',
      database: `postgres://postgres:***@${new URL(db.url).host}/${db.name}`,
      redis_key_prefix: prefix,
    });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);

    const id = await registerOver(server.url, { jwks_uri: host.url, scope: 'system/Patient.rs' });
    const inFlight = tokenOver(
      server.url,
      await makeAssertion(id, key, { claims: { aud: `${server.url}/token` } }),
    );
    await requested; // the request now waits on the client's JWKS
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.child.exitCode).toBeNull();
    release();
    expect((await inFlight).status).toBe(200);
    expect(await server.exited).toBe(0);
    const output = [...server.lines, ...server.stderr].join('\n');
    expect(output).toContain('"msg":"stopped"');
    expect(output).not.toContain(PASSWORD);
  });

  it.each([
    ['DATABASE_URL', `mysql://root:${PASSWORD}@127.0.0.1/db`],
    ['DATABASE_URL', `not a url ${PASSWORD}`],
    ['REDIS_URL', `http://:${PASSWORD}@127.0.0.1:6379`],
    ['REDIS_KEY_PREFIX', 'has space'],
  ])(
    'refuses to start with a malformed %s, naming it without repeating the value',
    async (variable, value) => {
      const proc = run(MAIN, [], { PORT: '0', DATA_DIR: tempDir(), [variable]: value });
      expect(await proc.exited).toBe(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(proc.stderr).toHaveLength(1);
      expect(proc.stderr[0]).toMatch(new RegExp(`^auth-server: invalid configuration: ${variable}: `));
      expect(proc.stderr[0]).not.toContain(PASSWORD);
      expect(proc.lines).toEqual([]);
    },
  );

  it.each([
    [
      'PostgreSQL',
      'DATABASE_URL',
      (port: number) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/smart`,
    ],
    ['Redis', 'REDIS_URL', (port: number) => `redis://:${PASSWORD}@127.0.0.1:${port}`],
  ])(
    'refuses to start when %s does not answer, naming it with the password redacted',
    async (service, variable, url) => {
      const port = await freePort();
      const proc = run(MAIN, [], { PORT: '0', DATA_DIR: tempDir(), [variable]: url(port) });
      expect(await proc.exited).toBe(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(proc.stderr.join('\n')).toMatch(
        new RegExp(`^auth-server: cannot start: ${service} at \\S+:\\*\\*\\*@127\\.0\\.0\\.1:${port}`),
      );
      expect([...proc.stderr, ...proc.lines].join('\n')).not.toContain(PASSWORD);
    },
  );
});

describe('smart-auth with DATABASE_URL', () => {
  it('rotates the key in the shared database: a running server publishes it at once and signs with it from activates_at (KEY_ACTIVATION_DELAY)', async () => {
    const env = { ...sharedEnv(), KEY_ACTIVATION_DELAY: '2' };
    const server = await startMain(env);
    const key = await makeClientKey('ES384');
    const id = await registerOver(server.url, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    const aud = `${server.url}/token`;
    const before = await tokenOver(server.url, await makeAssertion(id, key, { claims: { aud } }));
    const oldKid = decodeProtectedHeader(before.body.access_token as string).kid;

    const rotated = await cli(['keys', 'rotate', '--json'], {
      DATABASE_URL: databaseUrl,
      KEY_ACTIVATION_DELAY: '2',
    });
    expect(rotated.code).toBe(0);
    const result = JSON.parse(rotated.stdout) as { kid: string; retired: string[]; activates_at: string };
    expect(result.retired).toEqual([oldKid]);
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(jwks.keys.map((k) => k.kid)).toEqual([oldKid, result.kid]);
    const listedBefore = await cli(['keys', 'list', '--json'], {
      DATABASE_URL: databaseUrl,
      KEY_ACTIVATION_DELAY: '2',
    });
    expect(JSON.parse(listedBefore.stdout)).toEqual([
      expect.objectContaining({ kid: oldKid, status: 'signing' }),
      expect.objectContaining({ kid: result.kid, status: 'published', activates_at: result.activates_at }),
    ]);
    // Activation is a moment, not a state change: wait until it has passed, then new tokens carry the new kid.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, Date.parse(result.activates_at) - Date.now() + 1000)),
    );
    const after = await tokenOver(server.url, await makeAssertion(id, key, { claims: { aud } }));
    expect(decodeProtectedHeader(after.body.access_token as string).kid).toBe(result.kid);

    const listed = await cli(['keys', 'list', '--json'], {
      DATABASE_URL: databaseUrl,
      KEY_ACTIVATION_DELAY: '2',
    });
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ kid: oldKid, status: 'retiring' }),
      expect.objectContaining({ kid: result.kid, status: 'signing' }),
    ]);
    expect(listed.stdout + listed.stderr).not.toContain(PASSWORD);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('--data-dir with DATABASE_URL is a usage error; a database without the schema is refused (exit 1)', async () => {
    const usage = await cli(['keys', 'list', '--data-dir', tempDir()], { DATABASE_URL: databaseUrl });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--data-dir does not apply when DATABASE_URL is set/);
    const empty = await createTestDatabase();
    try {
      const missing = await cli(['keys', 'rotate'], { DATABASE_URL: empty.url });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/no usable key store in PostgreSQL at .*no smart-auth schema/);
    } finally {
      await empty.drop();
    }
  });

  it('smart-auth db migrate prepares the schema, so servers can run as a role that may not create tables', async () => {
    const target = await createTestDatabase();
    const role = `smart_app_${target.name.slice(-12)}`;
    const owner = new pg.Client({ connectionString: target.url });
    await owner.connect();
    try {
      const first = await cli(['db', 'migrate', '--json'], { DATABASE_URL: target.url });
      expect(first.code).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ event: 'migrate', applied: [1], version: 1 });
      const again = await cli(['db', 'migrate'], { DATABASE_URL: target.url });
      expect([again.code, again.stdout]).toEqual([0, 'schema at version 1 (nothing to do)']);

      await owner.query(`CREATE ROLE ${role} LOGIN`);
      await owner.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
      await owner.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
      await owner.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
      const url = new URL(target.url);
      url.username = role;
      const server = await startMain({ ...sharedEnv(), DATABASE_URL: url.toString() });
      const key = await makeClientKey('ES384');
      const id = await registerOver(server.url, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
      const granted = await tokenOver(
        server.url,
        await makeAssertion(id, key, { claims: { aud: `${server.url}/token` } }),
      );
      expect(granted.status).toBe(200);
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      // The role really cannot create tables: migrations could not have run as it.
      const restricted = new pg.Client({ connectionString: url.toString() });
      await restricted.connect();
      try {
        await expect(restricted.query('CREATE TABLE nope (x int)')).rejects.toThrow(/permission denied/);
      } finally {
        await restricted.end();
      }
    } finally {
      await owner.end();
      await target.drop();
      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      await admin.query(`DROP ROLE IF EXISTS ${role}`).finally(() => admin.end());
    }
  });
});
