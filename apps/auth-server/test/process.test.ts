import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { decodeProtectedHeader } from 'jose';
import { waitFor } from './backends.js';
import { ADMIN_TOKEN, jwksOf, makeAssertion, makeClientKey, tempDir } from './helpers.js';
import {
  MAIN,
  cli,
  heldTokenRequest,
  killChildren,
  registerOver,
  run,
  startMain as startProcess,
  tokenOver,
} from './processes.js';

afterEach(async () => {
  killChildren();
});

/** dist/main.js on a fresh DATA_DIR, any free port, with an admin token, plus `env`. */
const startMain = (env: Record<string, string>) =>
  startProcess({ PORT: '0', ADMIN_TOKEN, DATA_DIR: tempDir(), ...env });

describe('node dist/main.js', () => {
  it('prints the listening line first, serves, and exits 0 on SIGTERM', async () => {
    const server = await startMain({});
    expect(server.first).toMatchObject({
      msg: 'listening',
      url: expect.stringMatching(/^http:\/\/localhost:\d+$/),
      address: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
    });
    expect((server.first.url as string).split(':')[2]).toBe((server.first.address as string).split(':')[2]);
    const health = await fetch(`${server.url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });
    const discovery = (await (await fetch(`${server.url}/.well-known/smart-configuration`)).json()) as Record<
      string,
      string
    >;
    expect(discovery.token_endpoint).toBe(`${server.url}/token`);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.lines.at(-1)).toContain('"msg":"stopped"');
  });

  it.each([['warn'], ['error'], ['silent']])(
    'prints the listening line with LOG_LEVEL=%s too',
    async (level) => {
      const server = await startMain({ LOG_LEVEL: level });
      expect(server.first).toMatchObject({ msg: 'listening', url: expect.any(String) });
      await fetch(`${server.url}/token`, { method: 'POST' });
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      expect(server.lines).toHaveLength(1);
    },
  );

  it('uses PUBLIC_URL (without its trailing slash) as the issuer', async () => {
    const server = await startMain({ PUBLIC_URL: 'https://auth.example.org/smart/' });
    expect(server.first.url).toBe('https://auth.example.org/smart');
    const address = server.first.address as string;
    const doc = (await (await fetch(`${address}/.well-known/oauth-authorization-server`)).json()) as Record<
      string,
      string
    >;
    expect(doc.issuer).toBe('https://auth.example.org/smart');
    expect(doc.token_endpoint).toBe('https://auth.example.org/smart/token');
  });

  it('drains an in-flight token request on SIGTERM before exiting 0', async () => {
    const key = await makeClientKey('ES384');
    const server = await startMain({});
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
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PUBLIC_URL', 'not a url'],
    ['PUBLIC_URL', 'ftp://auth.example'],
    ['FHIR_BASE_URL', 'http://fhir.example/fhir?x=1'],
    ['CLOCK_SKEW', '-1'],
    ['ADMIN_TOKEN', 'short'],
    ['ACCESS_TOKEN_TTL', '301'],
    ['ACCESS_TOKEN_TTL', '0'],
    ['ACCESS_TOKEN_ALG', 'HS256'],
    ['LOG_LEVEL', 'loud'],
  ])('refuses to start with %s=%s, naming the variable on one line', async (variable, value) => {
    const proc = run(MAIN, [], { PORT: '0', DATA_DIR: tempDir(), [variable]: value });
    expect(await proc.exited).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(proc.lines).toEqual([]);
    expect(proc.stderr).toHaveLength(1);
    expect(proc.stderr[0]).toMatch(new RegExp(`^auth-server: invalid configuration: ${variable}: `));
  });

  it('never logs the admin token, an assertion, an access token or key material', async () => {
    const server = await startMain({ LOG_LEVEL: 'debug' });
    const key = await makeClientKey('RS384');
    const id = await registerOver(server.url, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    const assertion = await makeAssertion(id, key, { claims: { aud: `${server.url}/token` } });
    const granted = await tokenOver(server.url, assertion);
    expect(granted.status).toBe(200);
    await tokenOver(server.url, assertion); // a refused replay is logged too
    server.child.kill('SIGTERM');
    await server.exited;
    const log = server.lines.join('\n');
    expect(log).toContain('"event":"token"');
    expect(log).toContain('"event":"register"');
    for (const secret of [
      ADMIN_TOKEN,
      assertion,
      assertion.split('.')[2] as string,
      granted.body.access_token as string,
      '"d":',
    ]) {
      expect(log).not.toContain(secret);
    }
  });
});

describe('node dist/main.js with an unusable DATA_DIR', () => {
  it.each(['/proc/x/data', '/dev/null/data'])(
    '%s stops start-up with one line naming it, never a hang',
    async (unusable) => {
      const proc = run(MAIN, [], { PORT: '0', ADMIN_TOKEN, DATA_DIR: unusable });
      expect(await proc.exited).toBe(1);
      expect(proc.stderr).toHaveLength(1);
      expect(proc.stderr[0]).toContain(unusable.split('/').slice(0, 3).join('/'));
    },
  );
});

describe('smart-auth (dist/cli.js)', () => {
  it('--help prints the usage and exits 0', async () => {
    const result = await cli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('smart-auth keys rotate');
  });

  it.each([
    [[]],
    [['keys']],
    [['keys', 'shred']],
    [['users', 'list']],
    [['keys', 'list', '--bogus']],
    [['keys', 'rotate', '--alg', 'HS256']],
  ])('usage errors exit 2: %j', async (args) => {
    const result = await cli(args, { DATA_DIR: tempDir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^smart-auth: /);
  });

  it('a bad environment variable is a configuration error naming it (exit 2)', async () => {
    const result = await cli(['keys', 'rotate'], { DATA_DIR: tempDir(), ACCESS_TOKEN_TTL: '3600' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^smart-auth: invalid configuration: ACCESS_TOKEN_TTL: /);
  });

  it('refuses to work on a DATA_DIR without a key store (exit 2)', async () => {
    const result = await cli(['keys', 'rotate', '--data-dir', path.join(tempDir(), 'typo')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no key store');
  });

  it('keys rotate on a running server: JWKS publishes both keys at once, the old kid signs until activates_at (KEY_ACTIVATION_DELAY, default 120 s)', async () => {
    const dataDir = tempDir();
    const server = await startMain({ DATA_DIR: dataDir });
    const key = await makeClientKey('ES384');
    const id = await registerOver(server.url, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    const aud = `${server.url}/token`;
    const kidOfNewToken = async () =>
      decodeProtectedHeader(
        (await tokenOver(server.url, await makeAssertion(id, key, { claims: { aud } }))).body
          .access_token as string,
      ).kid;
    const oldKid = await kidOfNewToken();

    // The rotation happens somewhere between these two readings of the clock, however long the
    // CLI takes to start.
    const startedAt = Math.floor(Date.now() / 1000);
    const rotated = await cli(['keys', 'rotate', '--data-dir', dataDir, '--json']);
    const endedAt = Math.floor(Date.now() / 1000);
    expect(rotated.code).toBe(0);
    const result = JSON.parse(rotated.stdout) as {
      kid: string;
      activates_at: string;
      retire_after: string;
    };
    expect(result).toMatchObject({ event: 'rotate', alg: 'ES256', retired: [oldKid] });
    const activatesAt = Date.parse(result.activates_at) / 1000;
    expect(activatesAt - 120).toBeGreaterThanOrEqual(startedAt);
    expect(activatesAt - 120).toBeLessThanOrEqual(endedAt);
    expect(Date.parse(result.retire_after) / 1000 - activatesAt).toBe(300 + 10 + 5);

    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(jwks.keys.map((k) => k.kid)).toEqual([oldKid, result.kid]);
    expect(await kidOfNewToken()).toBe(oldKid);

    const listed = await cli(['keys', 'list', '--json'], { DATA_DIR: dataDir });
    expect(listed.code).toBe(0);
    const keys = JSON.parse(listed.stdout) as Array<{ created_at: string }>;
    expect(keys).toEqual([
      expect.objectContaining({ kid: oldKid, status: 'signing', retire_after: result.retire_after }),
      expect.objectContaining({
        kid: result.kid,
        status: 'published',
        activates_at: result.activates_at,
        retire_after: null,
      }),
    ]);
    // Exactly KEY_ACTIVATION_DELAY (default 120 s) after the key was created.
    expect(Date.parse(result.activates_at) - Date.parse(keys[1]!.created_at)).toBe(120 * 1000);
    const table = await cli(['keys', 'list', '--data-dir', dataDir]);
    expect(table.stdout.split('\n')).toHaveLength(3);
    expect(table.stdout).toContain(`published (activates at ${result.activates_at})`);
    expect(table.stdout).not.toContain('"d"');
    expect(fs.statSync(path.join(dataDir, 'keys.db')).mode & 0o777).toBe(0o600);
  });

  it('keys rotate with KEY_ACTIVATION_DELAY=0 on server and CLI: new tokens use the new kid at once', async () => {
    const dataDir = tempDir();
    const server = await startMain({ DATA_DIR: dataDir, KEY_ACTIVATION_DELAY: '0' });
    const key = await makeClientKey('ES384');
    const id = await registerOver(server.url, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    const aud = `${server.url}/token`;
    const before = await tokenOver(server.url, await makeAssertion(id, key, { claims: { aud } }));
    const oldKid = decodeProtectedHeader(before.body.access_token as string).kid;

    const rotated = await cli(['keys', 'rotate', '--json'], { DATA_DIR: dataDir, KEY_ACTIVATION_DELAY: '0' });
    expect(rotated.code).toBe(0);
    const result = JSON.parse(rotated.stdout) as { kid: string; retire_after: string };
    expect(result).toMatchObject({ retired: [oldKid] });
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(jwks.keys.map((k) => k.kid)).toEqual([oldKid, result.kid]);
    const after = await tokenOver(server.url, await makeAssertion(id, key, { claims: { aud } }));
    expect(decodeProtectedHeader(after.body.access_token as string).kid).toBe(result.kid);

    const listed = await cli(['keys', 'list', '--json'], { DATA_DIR: dataDir, KEY_ACTIVATION_DELAY: '0' });
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ kid: oldKid, status: 'retiring', retire_after: result.retire_after }),
      expect.objectContaining({ kid: result.kid, status: 'signing', retire_after: null }),
    ]);
  });

  it('keys rotate --alg generates a key of that algorithm', async () => {
    const dataDir = tempDir();
    const server = await startMain({ DATA_DIR: dataDir });
    const rotated = await cli(['keys', 'rotate', '--alg', 'RS256', '--json'], { DATA_DIR: dataDir });
    expect(rotated.code).toBe(0);
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kty: string; alg: string }>;
    };
    expect(jwks.keys.map((k) => k.alg)).toEqual(['ES256', 'RS256']);
    expect(jwks.keys[1]).not.toHaveProperty('d');
  });
});
