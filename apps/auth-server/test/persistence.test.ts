import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, decodeProtectedHeader, decodeJwt, jwtVerify } from 'jose';
import request from 'supertest';
import {
  SigningKeyRing,
  generateSigningKey,
  rotateSigningKey,
  selectSigningKey,
} from '../src/signing/signing-keys.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startServer } from '../src/server.js';
import { SqliteKeyStore, SqliteReplayCache } from '../src/store/sqlite.js';
import { waitFor } from './backends.js';
import {
  ADMIN_TOKEN,
  FHIR_BASE,
  PUBLIC_URL,
  TestClock,
  expectRefusal,
  jwksOf,
  makeAssertion,
  makeClientKey,
  postToken,
  register,
  startTestServer,
  tempDir,
  tokenForm,
  type TestServer,
} from './helpers.js';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const thing of open.splice(0)) await thing.close();
});
async function serverOn(
  dataDir?: string,
  env?: Record<string, string>,
  clock?: TestClock,
): Promise<TestServer> {
  const server = await startTestServer({
    ...(dataDir && { dataDir }),
    ...(env && { env }),
    ...(clock && { clock }),
  });
  open.push(server);
  return server;
}

describe('restart on the same DATA_DIR', () => {
  it('keeps clients, the signing key (same kid, old tokens verify) and replay records', async () => {
    const dataDir = tempDir();
    const key = await makeClientKey('ES384');
    const first = await serverOn(dataDir);
    const clientId = await register(first.app, {
      client_name: 'persisted',
      jwks: jwksOf(key),
      scope: 'system/Patient.rs',
    });
    const used = await makeAssertion(clientId, key);
    const issued = await postToken(first.app, tokenForm(used));
    expect(issued.status).toBe(200);
    const kid = first.signingKeys.current().kid;
    await first.close();
    open.splice(open.indexOf(first), 1);

    const second = await serverOn(dataDir);
    expect(second.signingKeys.current().kid).toBe(kid);
    const client = await request(second.app)
      .get(`/clients/${clientId}`)
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    expect(client.body).toMatchObject({ client_id: clientId, client_name: 'persisted', status: 'active' });
    // The token issued before the restart still verifies against the JWKS served after it.
    const jwks = await request(second.app).get('/.well-known/jwks.json');
    await expect(
      jwtVerify(issued.body.access_token as string, createLocalJWKSet(jwks.body), {
        issuer: PUBLIC_URL,
        audience: FHIR_BASE,
      }),
    ).resolves.toBeDefined();
    // The assertion used before the restart is still a replay.
    expectRefusal(await postToken(second.app, tokenForm(used)), 'assertion.replayed');
    expect((await postToken(second.app, tokenForm(await makeAssertion(clientId, key)))).status).toBe(200);
  });

  it('a disabled client stays disabled', async () => {
    const dataDir = tempDir();
    const key = await makeClientKey('ES384');
    const first = await serverOn(dataDir);
    const clientId = await register(first.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    await request(first.app).delete(`/clients/${clientId}`).set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    const second = await serverOn(dataDir);
    expectRefusal(
      await postToken(second.app, tokenForm(await makeAssertion(clientId, key))),
      'client.disabled',
    );
  });

  it('a changed ACCESS_TOKEN_ALG rotates to a key of that algorithm: published at once, signing after KEY_ACTIVATION_DELAY; the old key signs meanwhile', async () => {
    const dataDir = tempDir();
    const clock = TestClock.frozen();
    const first = await serverOn(dataDir, undefined, clock);
    const oldKid = first.signingKeys.current().kid;
    clock.advance(1000);
    const second = await serverOn(dataDir, { ACCESS_TOKEN_ALG: 'ES384' }, clock);
    const generated = second.signingKeys.generatedOnOpen;
    expect(generated).toMatchObject({ reason: 'algorithm changed', alg: 'ES384' });
    expect(generated?.activatesAt).toBe(clock.seconds() + 120);
    const kids = second.signingKeys.publicJwks().keys.map((k) => k.kid);
    expect(kids).toEqual([oldKid, generated?.kid]);
    expect(second.signingKeys.current()).toMatchObject({ kid: oldKid, alg: 'ES256' });
    clock.advance(119);
    expect(second.signingKeys.current().kid).toBe(oldKid);
    clock.advance(1);
    expect(second.signingKeys.current()).toMatchObject({ kid: generated?.kid, alg: 'ES384' });
  });

  it('a restart during the activation delay keeps the previous key signing until the new one activates', async () => {
    const dataDir = tempDir();
    const clock = TestClock.frozen();
    const first = await serverOn(dataDir, undefined, clock);
    const oldKid = first.signingKeys.current().kid;
    clock.advance(1000);
    const { key, activatesAt } = await rotateSigningKey(first.stores.keys, {
      alg: 'ES256',
      keyActivationDelaySeconds: 120,
      accessTokenTtlSeconds: 300,
      clockSkewSeconds: 10,
      now: clock.now,
    });
    await first.close();
    open.splice(open.indexOf(first), 1);
    clock.advance(60);
    const second = await serverOn(dataDir, undefined, clock);
    expect(second.signingKeys.current().kid).toBe(oldKid);
    expect(second.signingKeys.publicJwks().keys.map((k) => k.kid)).toEqual([oldKid, key.kid]);
    clock.advance(activatesAt - clock.seconds());
    expect(second.signingKeys.current().kid).toBe(key.kid);
  });
});

describe('ACCESS_TOKEN_ALG', () => {
  it.each([['ES256'], ['ES384'], ['RS256'], ['RS384'], ['PS256'], ['EdDSA']])(
    'with %s, issued tokens verify against the published JWKS',
    async (alg) => {
      const server = await serverOn(undefined, { ACCESS_TOKEN_ALG: alg });
      const key = await makeClientKey('ES384');
      const id = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
      const res = await postToken(server.app, tokenForm(await makeAssertion(id, key)));
      expect(res.status).toBe(200);
      const jwks = await request(server.app).get('/.well-known/jwks.json');
      expect(jwks.body.keys[0].alg).toBe(alg);
      expect(jwks.body.keys[0]).not.toHaveProperty('d');
      const { protectedHeader } = await jwtVerify(
        res.body.access_token as string,
        createLocalJWKSet(jwks.body),
        {
          issuer: PUBLIC_URL,
          audience: FHIR_BASE,
          typ: 'at+jwt',
        },
      );
      expect(protectedHeader.alg).toBe(alg);
    },
    30_000,
  );
});

describe('files under DATA_DIR', () => {
  it('are created with mode 0600 (0700 for the directory), including SQLite WAL files', async () => {
    const dataDir = path.join(tempDir(), 'nested', 'data');
    const server = await serverOn(dataDir);
    const key = await makeClientKey('ES384');
    const id = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    await postToken(server.app, tokenForm(await makeAssertion(id, key)));
    expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
    const files = fs.readdirSync(dataDir);
    expect(files).toEqual(expect.arrayContaining(['clients.db', 'keys.db', 'replay.db', 'keys.db-wal']));
    for (const file of files)
      expect([file, fs.statSync(path.join(dataDir, file)).mode & 0o777]).toEqual([file, 0o600]);
  });

  it('tightens a key file that exists with a looser mode', async () => {
    const dataDir = tempDir();
    fs.writeFileSync(path.join(dataDir, 'keys.db'), '');
    fs.chmodSync(path.join(dataDir, 'keys.db'), 0o644);
    await serverOn(dataDir);
    expect(fs.statSync(path.join(dataDir, 'keys.db')).mode & 0o777).toBe(0o600);
  });

  it.each([
    ['022', 0o022],
    ['002', 0o002],
    ['000', 0o000],
  ])(
    'under umask %s: the directory is 0700 and every file, -wal and -shm included, 0600',
    async (_, umask) => {
      const dataDir = path.join(tempDir(), 'data');
      const previous = process.umask(umask);
      try {
        const server = await serverOn(dataDir);
        await register(server.app, {
          jwks: jwksOf(await makeClientKey('ES384')),
          scope: 'system/Patient.rs',
        });
        expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
        const files = fs.readdirSync(dataDir);
        expect(files).toEqual(expect.arrayContaining(['clients.db-wal', 'clients.db-shm']));
        for (const file of files)
          expect([file, fs.statSync(path.join(dataDir, file)).mode & 0o777]).toEqual([file, 0o600]);
      } finally {
        process.umask(previous);
      }
    },
  );

  it('tightens every database, -wal and -shm left with mode 0644 by an earlier run (a crash leaves non-empty -wal files)', async () => {
    const crashed = tempDir();
    const earlier = await serverOn(crashed);
    const clientId = await register(earlier.app, {
      jwks: jwksOf(await makeClientKey('ES384')),
      scope: 'system/Patient.rs',
    });
    const dataDir = tempDir();
    for (const file of fs.readdirSync(crashed)) {
      fs.copyFileSync(path.join(crashed, file), path.join(dataDir, file));
      fs.chmodSync(path.join(dataDir, file), 0o644);
    }
    expect(fs.statSync(path.join(dataDir, 'clients.db-wal')).size).toBeGreaterThan(0);

    const server = await serverOn(dataDir);
    for (const file of fs.readdirSync(dataDir))
      expect([file, fs.statSync(path.join(dataDir, file)).mode & 0o777]).toEqual([file, 0o600]);
    expect(await server.stores.clients.get(clientId)).toMatchObject({ clientId });
  });
});

describe('an existing DATA_DIR open to other users', () => {
  async function startLogging(dataDir: string) {
    const logs: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', {
      write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>),
    });
    const running = await startServer(loadConfig({ PORT: '0', DATA_DIR: dataDir, ADMIN_TOKEN }), { logger });
    open.push({ close: () => running.close(0) });
    return logs;
  }

  it.each([
    ['0755', 0o755],
    ['0750', 0o750],
    ['0711', 0o711],
    ['0777', 0o777],
  ])(
    'mode %s: is reported after the listening line and left as it is; the files are still 0600',
    async (text, mode) => {
      const dataDir = tempDir();
      fs.chmodSync(dataDir, mode);
      const logs = await startLogging(dataDir);
      expect(logs[0]).toMatchObject({ msg: 'listening' });
      expect(logs).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          event: 'storage',
          data_dir: dataDir,
          mode: text,
          msg: expect.stringContaining('DATA_DIR is open to other users'),
        }),
      );
      expect(fs.statSync(dataDir).mode & 0o777).toBe(mode);
      for (const file of fs.readdirSync(dataDir))
        expect([file, fs.statSync(path.join(dataDir, file)).mode & 0o777]).toEqual([file, 0o600]);
    },
  );

  it('mode 0700: nothing is reported', async () => {
    const dataDir = tempDir();
    fs.chmodSync(dataDir, 0o700);
    const logs = await startLogging(dataDir);
    expect(logs.filter((line) => line.level === 'warn' && line.event === 'storage')).toEqual([]);
  });
});

describe('fail closed when a store is down', () => {
  it('an unreachable replay cache → 503 server.unavailable (temporarily_unavailable), never a token', async () => {
    const server = await serverOn();
    const key = await makeClientKey('ES384');
    const id = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    await server.stores.replay.close();
    const res = await postToken(server.app, tokenForm(await makeAssertion(id, key)));
    expectRefusal(res, 'server.unavailable');
    expect(res.body.error).toBe('temporarily_unavailable');
    expect(res.headers['retry-after']).toBe('5');
    expect(server.logs.some((l) => l.event === 'error' && l.reason === 'server.unavailable')).toBe(true);
  });

  it('an unreachable client store → 503 on the token endpoint and on administration', async () => {
    const server = await serverOn();
    const key = await makeClientKey('ES384');
    const id = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    await server.stores.clients.close();
    expectRefusal(await postToken(server.app, tokenForm(await makeAssertion(id, key))), 'server.unavailable');
    expectRefusal(
      await request(server.app).get(`/clients/${id}`).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
      'server.unavailable',
    );
  });
});

describe('SqliteReplayCache', () => {
  it('claim is insert-if-absent per (iss, jti); an expired record can be claimed again', async () => {
    const clock = new TestClock();
    const cache = new SqliteReplayCache(tempDir(), { now: clock.now, pruneIntervalMs: 0 });
    open.push(cache);
    const exp = clock.seconds() + 60;
    expect(await cache.claim('a', 'j1', exp)).toBe(true);
    expect(await cache.claim('a', 'j1', exp)).toBe(false);
    expect(await cache.claim('b', 'j1', exp)).toBe(true);
    expect(await cache.claim('a', 'j2', exp)).toBe(true);
    clock.advance(61);
    expect(await cache.claim('a', 'j1', clock.seconds() + 60)).toBe(true);
    expect(await cache.claim('a', 'j1', clock.seconds() + 60)).toBe(false);
  });

  it('concurrent claims of one pair: exactly one wins, also across two connections (replicas on one file)', async () => {
    const dir = tempDir();
    const a = new SqliteReplayCache(dir, { pruneIntervalMs: 0 });
    const b = new SqliteReplayCache(dir, { pruneIntervalMs: 0 });
    open.push(a, b);
    const exp = Math.floor(Date.now() / 1000) + 60;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).claim('iss', 'same', exp)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('claims made together are committed together, each with its own answer (ATK-16)', async () => {
    const cache = new SqliteReplayCache(tempDir(), { pruneIntervalMs: 0 });
    open.push(cache);
    const exp = Math.floor(Date.now() / 1000) + 60;
    // 60 claims in one turn of the event loop: 20 distinct jtis, each claimed three times.
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => cache.claim('iss', `j${i % 20}`, exp)),
    );
    expect(results.slice(0, 20).every(Boolean)).toBe(true);
    expect(results.slice(20).some(Boolean)).toBe(false);
    expect(await cache.size()).toBe(20);
    expect(await cache.claim('iss', 'j3', exp)).toBe(false);
  });

  it('a claim still waiting for its commit is committed by close(), then claims fail closed', async () => {
    const dir = tempDir();
    const cache = new SqliteReplayCache(dir, { pruneIntervalMs: 0 });
    const exp = Math.floor(Date.now() / 1000) + 60;
    const pending = cache.claim('iss', 'late', exp);
    await cache.close();
    expect(await pending).toBe(true);
    await expect(cache.claim('iss', 'after-close', exp)).rejects.toThrow();
    const reopened = new SqliteReplayCache(dir, { pruneIntervalMs: 0 });
    open.push(reopened);
    expect(await reopened.claim('iss', 'late', exp)).toBe(false);
  });

  it('prune removes expired records, so size() shrinks back', async () => {
    const clock = new TestClock();
    const cache = new SqliteReplayCache(tempDir(), { now: clock.now, pruneIntervalMs: 0 });
    open.push(cache);
    for (let i = 0; i < 50; i++) await cache.claim('iss', `j${i}`, clock.seconds() + (i < 40 ? 30 : 600));
    expect(await cache.size()).toBe(50);
    clock.advance(31);
    expect(await cache.prune()).toBe(40);
    expect(await cache.size()).toBe(10);
  });

  it('prunes periodically by itself', async () => {
    const clock = TestClock.frozen();
    const cache = new SqliteReplayCache(tempDir(), { now: clock.now, pruneIntervalMs: 20 });
    open.push(cache);
    const expiresAt = clock.seconds() + 60;
    expect(await cache.claim('iss', 'short-lived', expiresAt)).toBe(true);
    expect(await cache.claim('iss', 'long-lived', expiresAt + 1)).toBe(true);
    clock.advance(60);
    // No call prunes here: only the cache's own timer can remove the expired record.
    await waitFor(async () => (await cache.size()) === 1);
    expect(await cache.claim('iss', 'long-lived', expiresAt + 1)).toBe(false);
  });

  it('ATK-16 at the end of the window: a claim made once its expiry has come is refused and takes nothing over', async () => {
    const clock = new TestClock();
    const cache = new SqliteReplayCache(tempDir(), { now: clock.now, pruneIntervalMs: 0 });
    open.push(cache);
    const expiresAt = clock.seconds() + 10;
    expect(await cache.claim('iss', 'boundary', expiresAt)).toBe(true);
    clock.advance(10);
    // Copies of the used assertion arriving together at the boundary: none wins, in one batch or later.
    const copies = await Promise.all(
      Array.from({ length: 20 }, () => cache.claim('iss', 'boundary', expiresAt)),
    );
    expect(copies.some(Boolean)).toBe(false);
    expect(await cache.claim('iss', 'boundary', expiresAt)).toBe(false);
    expect(await cache.claim('iss', 'never-seen', expiresAt)).toBe(false);
  });
});

describe('signing keys', () => {
  it('a second replica starting at the same time does not create a second current key', async () => {
    const dir = tempDir();
    const a = new SqliteKeyStore(dir);
    const b = new SqliteKeyStore(dir);
    open.push(a, b);
    const now = Math.floor(Date.now() / 1000);
    const [ka, kb] = await Promise.all([generateSigningKey('ES256', now), generateSigningKey('ES256', now)]);
    const added = await Promise.all([a.addIfNoCurrentKey(ka), b.addIfNoCurrentKey(kb)]);
    expect(added.filter(Boolean)).toHaveLength(1);
    expect((await a.list()).filter((k) => k.retireAfter === null)).toHaveLength(1);
  });

  it('with KEY_ACTIVATION_DELAY=0, a rotation by another process is picked up on refresh: new key signs at once, old one stays until every token it signed expired', async () => {
    const dataDir = tempDir();
    const clock = TestClock.frozen();
    const server = await serverOn(dataDir, { KEY_ACTIVATION_DELAY: '0' }, clock);
    const oldKid = server.signingKeys.current().kid;
    const key = await makeClientKey('ES384');
    const id = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    const before = await postToken(
      server.app,
      tokenForm(await makeAssertion(id, key, { now: clock.seconds() })),
    );

    const cli = new SqliteKeyStore(dataDir); // what `smart-auth keys rotate` does, from another connection
    open.push(cli);
    const {
      key: newKey,
      retired,
      retireAfter,
      activatesAt,
    } = await rotateSigningKey(cli, {
      alg: 'ES256',
      keyActivationDelaySeconds: 0,
      accessTokenTtlSeconds: 300,
      clockSkewSeconds: 10,
      now: clock.now,
    });
    expect(retired).toEqual([oldKid]);
    // TTL + skew + the 5 s refresh interval, nothing for the activation delay.
    expect(retireAfter).toBe(clock.seconds() + 300 + 10 + 5);
    expect(activatesAt).toBe(clock.seconds());

    // The JWKS endpoint re-reads the store: both keys at once.
    const jwks = await request(server.app).get('/.well-known/jwks.json');
    expect((jwks.body.keys as Array<{ kid: string }>).map((k) => k.kid)).toEqual([oldKid, newKey.kid]);
    const after = await postToken(
      server.app,
      tokenForm(await makeAssertion(id, key, { now: clock.seconds() })),
    );
    expect(decodeProtectedHeader(after.body.access_token as string).kid).toBe(newKey.kid);
    await expect(
      jwtVerify(before.body.access_token as string, createLocalJWKSet(jwks.body)),
    ).resolves.toBeDefined();

    // Just before retire-after the old key is still published; after it, gone from JWKS and store.
    clock.advance(retireAfter - clock.seconds() - 1);
    expect((await request(server.app).get('/.well-known/jwks.json')).body.keys).toHaveLength(2);
    clock.advance(1);
    const later = await request(server.app).get('/.well-known/jwks.json');
    expect((later.body.keys as Array<{ kid: string }>).map((k) => k.kid)).toEqual([newKey.kid]);
    expect((await cli.list()).map((k) => k.kid)).toEqual([newKey.kid]);
    expect(
      server.logs.some((l) => l.event === 'rotate' && l.kid === newKey.kid && l.previous_kid === oldKid),
    ).toBe(true);
  });

  it('the ring refreshes on its own interval', async () => {
    const dataDir = tempDir();
    const store = new SqliteKeyStore(dataDir);
    const other = new SqliteKeyStore(dataDir);
    open.push(store, other);
    const timings = { keyActivationDelaySeconds: 0, accessTokenTtlSeconds: 300, clockSkewSeconds: 10 };
    const ring = await SigningKeyRing.open(store, { alg: 'ES256', ...timings, refreshIntervalMs: 30 });
    open.push(ring);
    const { key } = await rotateSigningKey(other, { alg: 'ES256', ...timings });
    // Nothing but the ring's own timer re-reads the store here.
    await waitFor(() => ring.current().kid === key.kid);
  });

  it('keeps serving the loaded keys when the key store cannot be read', async () => {
    const server = await serverOn();
    const kid = server.signingKeys.current().kid;
    await server.stores.keys.close();
    const jwks = await request(server.app).get('/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expect((jwks.body.keys as Array<{ kid: string }>).map((k) => k.kid)).toEqual([kid]);
    expect(server.logs.some((l) => l.event === 'signing_keys' && l.level === 'warn')).toBe(true);
  });
});

/**
 * Publish before signing: a rotated-in key is in the JWKS at once but signs only from
 * createdAt + KEY_ACTIVATION_DELAY, so resource servers caching the JWKS (the FHIR API: 60 s, and
 * at most one unknown-kid refetch per 30 s) know it before any token carries it.
 */
describe('publish before signing (KEY_ACTIVATION_DELAY)', () => {
  const TIMINGS = { keyActivationDelaySeconds: 120, accessTokenTtlSeconds: 300, clockSkewSeconds: 10 };

  /** A server on a frozen clock, a registered client, and a way to ask for a token now. */
  async function setup(env?: Record<string, string>) {
    const dataDir = tempDir();
    const clock = TestClock.frozen();
    const server = await serverOn(dataDir, env, clock);
    const clientKey = await makeClientKey('ES384');
    const id = await register(server.app, { jwks: jwksOf(clientKey), scope: 'system/Patient.rs' });
    const cli = new SqliteKeyStore(dataDir); // `smart-auth keys rotate`, from another connection
    open.push(cli);
    const token = async () => {
      const res = await postToken(
        server.app,
        tokenForm(await makeAssertion(id, clientKey, { now: clock.seconds() })),
      );
      expect(res.status).toBe(200);
      const accessToken = res.body.access_token as string;
      return { accessToken, kid: decodeProtectedHeader(accessToken).kid, exp: decodeJwt(accessToken).exp! };
    };
    const jwksKids = async () =>
      ((await request(server.app).get('/.well-known/jwks.json')).body.keys as Array<{ kid: string }>).map(
        (k) => k.kid,
      );
    const rotate = (timings = TIMINGS) => rotateSigningKey(cli, { alg: 'ES256', ...timings, now: clock.now });
    return { server, clock, cli, token, jwksKids, rotate };
  }

  it('first start: the first key signs at once', async () => {
    const { server, clock, token, jwksKids } = await setup();
    const generated = server.signingKeys.generatedOnOpen;
    expect(generated).toMatchObject({ reason: 'first start', activatesAt: clock.seconds() });
    expect((await token()).kid).toBe(generated?.kid);
    expect(await jwksKids()).toEqual([generated?.kid]);
  });

  it('after a rotation the JWKS publishes both keys at once while tokens keep the old kid; from createdAt + delay tokens carry the new kid; the old key stays published until retire-after', async () => {
    const { server, clock, cli, token, jwksKids, rotate } = await setup(); // KEY_ACTIVATION_DELAY unset: 120
    clock.advance(1000); // an established key
    const old = await token();
    const rotatedAt = clock.seconds();
    const { key, retireAfter, activatesAt } = await rotate();
    expect(activatesAt).toBe(rotatedAt + 120);
    expect(retireAfter).toBe(rotatedAt + 120 + 300 + 10 + 5);

    expect(await jwksKids()).toEqual([old.kid, key.kid]);
    expect((await token()).kid).toBe(old.kid);
    expect(server.logs).toContainEqual(
      expect.objectContaining({
        event: 'rotate',
        kid: key.kid,
        activates_at: new Date(activatesAt * 1000).toISOString(),
      }),
    );

    clock.advance(activatesAt - clock.seconds() - 1); // the last second of the old key
    const last = await token();
    expect(last.kid).toBe(old.kid);
    clock.advance(1); // no JWKS request, no refresh: the token endpoint follows the clock
    const fresh = await token();
    expect(fresh.kid).toBe(key.kid);
    expect(server.logs).toContainEqual(
      expect.objectContaining({ event: 'rotate', kid: key.kid, previous_kid: old.kid }),
    );
    // Every token the old key signed is past exp + skew while the key is still published.
    expect(last.exp + TIMINGS.clockSkewSeconds).toBeLessThan(retireAfter);
    const published = await request(server.app).get('/.well-known/jwks.json');
    for (const { accessToken } of [old, last, fresh]) {
      await expect(
        jwtVerify(accessToken, createLocalJWKSet(published.body), {
          issuer: PUBLIC_URL,
          audience: FHIR_BASE,
        }),
      ).resolves.toBeDefined();
    }

    clock.advance(retireAfter - clock.seconds() - 1);
    expect(await jwksKids()).toEqual([old.kid, key.kid]);
    clock.advance(1);
    expect(await jwksKids()).toEqual([key.kid]);
    expect((await cli.list()).map((k) => k.kid)).toEqual([key.kid]);
    expect((await token()).kid).toBe(key.kid);
  });

  it('two rotations within one delay (A→B→C): A signs until B activates, B until C activates; each stays published until its last token expired', async () => {
    const { server, clock, token, jwksKids, rotate } = await setup();
    const a = server.signingKeys.current().kid;
    clock.advance(1000);
    const t0 = clock.seconds();
    const b = await rotate();
    clock.advance(30);
    const c = await rotate();
    expect(b.retired).toEqual([a]);
    expect(c.retired).toEqual([b.key.kid]);
    expect([b.activatesAt, c.activatesAt]).toEqual([t0 + 120, t0 + 150]);

    expect(await jwksKids()).toEqual([a, b.key.kid, c.key.kid]);
    const issued: Array<{ kid: string | undefined; exp: number }> = [];
    const expectSigner = async (kid: string) => {
      const t = await token();
      expect(t.kid).toBe(kid);
      issued.push(t);
    };
    await expectSigner(a);
    clock.advance(t0 + 119 - clock.seconds());
    await expectSigner(a);
    clock.advance(1);
    await expectSigner(b.key.kid);
    clock.advance(t0 + 149 - clock.seconds());
    await expectSigner(b.key.kid);
    clock.advance(1);
    await expectSigner(c.key.kid);
    expect(await jwksKids()).toEqual([a, b.key.kid, c.key.kid]);

    // Retire-after of A comes from B's rotation, B's from C's: both outlive their last tokens.
    const retireAfter = new Map([
      [a, b.retireAfter],
      [b.key.kid, c.retireAfter],
    ]);
    for (const t of issued.filter((t) => t.kid !== c.key.kid))
      expect(t.exp + TIMINGS.clockSkewSeconds).toBeLessThan(retireAfter.get(t.kid!)!);
    clock.advance(b.retireAfter - clock.seconds());
    expect(await jwksKids()).toEqual([b.key.kid, c.key.kid]);
    clock.advance(c.retireAfter - clock.seconds());
    expect(await jwksKids()).toEqual([c.key.kid]);
    await expectSigner(c.key.kid);
  });

  it('a rotation right after first start: the first key keeps signing until the new one activates', async () => {
    const { server, clock, token, jwksKids, rotate } = await setup();
    const first = server.signingKeys.current().kid;
    clock.advance(10);
    const { key, activatesAt } = await rotate();
    expect(await jwksKids()).toEqual([first, key.kid]); // a running server reads the store every 5 s
    expect((await token()).kid).toBe(first);
    clock.advance(activatesAt - clock.seconds() - 1);
    expect((await token()).kid).toBe(first);
    clock.advance(1);
    expect((await token()).kid).toBe(key.kid);
  });

  it('KEY_ACTIVATION_DELAY=0 keeps the immediate switch', async () => {
    const { clock, token, jwksKids, rotate } = await setup({ KEY_ACTIVATION_DELAY: '0' });
    clock.advance(1000);
    const old = await token();
    const { key, activatesAt, retireAfter } = await rotate({ ...TIMINGS, keyActivationDelaySeconds: 0 });
    expect([activatesAt, retireAfter]).toEqual([clock.seconds(), clock.seconds() + 315]);
    expect(await jwksKids()).toEqual([old.kid, key.kid]);
    expect((await token()).kid).toBe(key.kid);
  });

  it('a rotation made with a shorter delay than the server uses (mismatched settings): no token outlives the key that signed it', async () => {
    const { clock, token, jwksKids, rotate } = await setup(); // the server waits 120 s…
    clock.advance(1000);
    const old = await token();
    const t0 = clock.seconds();
    // …but the rotation assumed 0 s, so the old key is retired after only TTL + skew + 5 s.
    const { key, retireAfter } = await rotate({ ...TIMINGS, keyActivationDelaySeconds: 0 });
    expect(retireAfter).toBe(t0 + 315);
    expect(await jwksKids()).toEqual([old.kid, key.kid]);
    // The old key signs only while a token signed now still expires before it leaves the JWKS.
    for (let second = 0; second <= 130; second++) {
      clock.advance(t0 + second - clock.seconds());
      const t = await token();
      const expected = retireAfter - clock.seconds() > 310 ? old.kid : key.kid;
      expect([second, t.kid]).toEqual([second, expected]);
      if (t.kid === old.kid) expect(t.exp + 10).toBeLessThan(retireAfter);
    }
  });

  it('selectSigningKey: the newest activated key, else the oldest; never one that its tokens would outlive', () => {
    const key = (name: string, createdAt: number, retireAfter: number | null = null) => ({
      name,
      createdAt,
      retireAfter,
    });
    const pick = (keys: ReturnType<typeof key>[], now: number) => selectSigningKey(keys, now, TIMINGS)?.name;
    expect(pick([key('first', 1000)], 1000)).toBe('first');
    expect(pick([key('a', 0, 1000 + 435), key('b', 1000)], 1119)).toBe('a');
    expect(pick([key('a', 0, 1000 + 435), key('b', 1000)], 1120)).toBe('b');
    // Fresh store, rotated within the delay: the first key still signs.
    expect(pick([key('a', 1000, 1010 + 435), key('b', 1010)], 1011)).toBe('a');
    // A key past retire-after is never chosen, nor one with less than TTL + skew left.
    expect(pick([key('a', 0, 1100), key('b', 1000)], 1100)).toBe('b');
    expect(pick([key('a', 0, 1100 + 310), key('b', 1000)], 1100)).toBe('b');
    expect(pick([key('a', 0, 1100 + 311), key('b', 1000)], 1100)).toBe('a');
    expect(pick([], 1000)).toBeUndefined();
  });
});
