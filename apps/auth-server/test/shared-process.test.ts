import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt, decodeProtectedHeader } from 'jose';
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
import { ADMIN_TOKEN, jwksOf, makeAssertion, makeClientKey, tempDir } from './helpers.js';
import {
  MAIN,
  cli,
  heldTokenRequest,
  killChildren,
  registerOver,
  run,
  startMain,
  tokenOver,
} from './processes.js';

/**
 * `node dist/main.js` and `smart-auth` with DATABASE_URL and REDIS_URL: start-up, the passwords in
 * the connection strings never printed, refusal to start when a service is missing, SIGTERM drain,
 * key rotation on the shared database.
 */

const PASSWORD = 'S3cret-Passw0rd-never-logged';

let db: TestDatabase;
let databaseUrl: string;
const dropAfterAll: TestDatabase[] = [];
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
});
afterAll(async () => {
  for (const own of dropAfterAll.splice(0)) await own.drop();
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
    const key = await makeClientKey('ES384');
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

    const id = await registerOver(server.url, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    const held = await heldTokenRequest(
      server.url,
      await makeAssertion(id, key, { claims: { aud: `${server.url}/token` } }),
    );
    server.child.kill('SIGTERM');
    // Wait until the server has begun draining (not a fixed time: under load the signal may be
    // handled late); only then send the rest of the body, so the drain itself is what is tested.
    await waitFor(() => server.lines.some((line) => line.includes('"msg":"shutting down')));
    expect(server.child.exitCode).toBeNull();
    expect((await held.finish()).status).toBe(200);
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
  /**
   * A database of its own (each rotation test counts the keys in it), with the password in its
   * URL, and `smart-auth keys …` on it, configured like the servers.
   */
  async function rotationSetup(delay: string) {
    const own = await createTestDatabase();
    dropAfterAll.push(own);
    const url = new URL(own.url);
    url.password = PASSWORD;
    const env = { ...sharedEnv(), DATABASE_URL: url.toString(), KEY_ACTIVATION_DELAY: delay };
    const keysCli = (args: string[]) =>
      cli(['keys', ...args, '--json'], { DATABASE_URL: env.DATABASE_URL, KEY_ACTIVATION_DELAY: delay });
    return { env, keysCli };
  }

  it('rotates the key in the shared database: a running server publishes it at once and keeps signing with the old key until activates_at (KEY_ACTIVATION_DELAY)', async () => {
    // An hour: no part of this test can reach activates_at, however slow the machine, so every
    // check below is about the state between the rotation and the activation.
    const { env, keysCli } = await rotationSetup('3600');
    const server = await startMain(env);
    const key = await makeClientKey('ES384');
    const id = await registerOver(server.url, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    const aud = `${server.url}/token`;
    const kidOfNewToken = async () =>
      decodeProtectedHeader(
        (await tokenOver(server.url, await makeAssertion(id, key, { claims: { aud } }))).body
          .access_token as string,
      ).kid;
    const oldKid = await kidOfNewToken();

    const rotated = await keysCli(['rotate']);
    expect(rotated.code).toBe(0);
    const result = JSON.parse(rotated.stdout) as { kid: string; retired: string[]; activates_at: string };
    expect(result.retired).toEqual([oldKid]);
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(jwks.keys.map((k) => k.kid)).toEqual([oldKid, result.kid]);
    // The server knows the new key (it just published it) and still signs with the old one.
    expect(await kidOfNewToken()).toBe(oldKid);

    const listed = await keysCli(['list']);
    const keys = JSON.parse(listed.stdout) as Array<{ kid: string; created_at: string }>;
    expect(keys).toEqual([
      expect.objectContaining({ kid: oldKid, status: 'signing' }),
      expect.objectContaining({ kid: result.kid, status: 'published', activates_at: result.activates_at }),
    ]);
    expect(Date.parse(result.activates_at) - Date.parse(keys[1]!.created_at)).toBe(3600 * 1000);
    expect(rotated.stdout + rotated.stderr + listed.stdout + listed.stderr).not.toContain(PASSWORD);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('a running server signs with the rotated key from activates_at by its own clock (the iat it stamps), never before', async () => {
    const { env, keysCli } = await rotationSetup('1');
    const server = await startMain(env);
    const key = await makeClientKey('ES384');
    const id = await registerOver(server.url, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    const aud = `${server.url}/token`;
    const issue = async () => {
      const res = await tokenOver(server.url, await makeAssertion(id, key, { claims: { aud } }));
      const answeredAt = Date.now();
      const token = res.body.access_token as string;
      return { kid: decodeProtectedHeader(token).kid, iat: decodeJwt(token).iat!, answeredAt };
    };
    const oldKid = (await issue()).kid;

    const rotated = await keysCli(['rotate']);
    expect(rotated.code).toBe(0);
    const result = JSON.parse(rotated.stdout) as { kid: string; retired: string[]; activates_at: string };
    expect(result.retired).toEqual([oldKid]);
    const activatesAtMs = Date.parse(result.activates_at);
    // The JWKS endpoint re-reads the store: from here on the server knows the new key.
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(jwks.keys.map((k) => k.kid)).toEqual([oldKid, result.kid]);

    // Tokens until one carries the new kid. The server stamps iat, then picks the key, so a token
    // whose iat is at or past activates_at must carry the new kid; a token answered before
    // activates_at was signed before it, so it must carry the old one. Neither depends on how fast
    // this machine is.
    const issued: Array<Awaited<ReturnType<typeof issue>>> = [];
    await waitFor(async () => {
      const token = await issue();
      issued.push(token);
      return token.kid === result.kid;
    }, 100);
    for (const token of issued) {
      expect([oldKid, result.kid]).toContain(token.kid);
      if (token.answeredAt < activatesAtMs) expect(token).toMatchObject({ kid: oldKid });
      if (token.iat * 1000 >= activatesAtMs) expect(token).toMatchObject({ kid: result.kid });
    }

    const listed = await keysCli(['list']);
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
