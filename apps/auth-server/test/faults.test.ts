import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startServer, type RunningServer } from '../src/server.js';
import { SigningKeyRing } from '../src/signing/signing-keys.js';
import { dataLossQuarantineSeconds } from '../src/store/open.js';
import { RedisReplayCache } from '../src/store/redis.js';
import { SqliteClientStore, SqliteKeyStore } from '../src/store/sqlite.js';
import {
  CuttableProxy,
  PrivateRedis,
  REDIS_URL,
  createTestDatabase,
  freePort,
  hostPort,
  removeRedisPrefix,
  testRedisPrefix,
  waitFor,
} from './backends.js';
import {
  ADMIN_TOKEN,
  FHIR_BASE,
  PUBLIC_URL,
  TestClock,
  jwksOf,
  makeAssertion,
  makeClientKey,
  tempDir,
  tokenForm,
  type ClientKey,
  type LogLine,
} from './helpers.js';

/**
 * Faults of the shared backends, through real HTTP: the token endpoint fails closed (503
 * temporarily_unavailable, `server.unavailable`, never a token) while Redis or PostgreSQL is
 * unreachable, /readyz says which store is down while /healthz stays 200, and service resumes by
 * itself when the backend returns.
 */

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Served {
  readonly url: string;
  readonly logs: LogLine[];
}

function capture(): { logs: LogLine[]; logger: ReturnType<typeof createLogger> } {
  const logs: LogLine[] = [];
  const logger = createLogger('info', {
    write: (line: string) => void logs.push(JSON.parse(line) as LogLine),
  });
  return { logs, logger };
}

/** startServer, as main.js runs it, with the given environment (PUBLIC_URL fixed, any free port). */
async function startWith(env: Record<string, string>): Promise<Served & { running: RunningServer }> {
  const { logs, logger } = capture();
  const config = loadConfig({
    PORT: '0',
    PUBLIC_URL,
    FHIR_BASE_URL: FHIR_BASE,
    ADMIN_TOKEN,
    DATA_DIR: tempDir(),
    ...env,
  });
  const running = await startServer(config, { logger });
  cleanups.push(() => running.close(1000));
  return { url: running.address, logs, running };
}

async function post(url: string, path: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers, body });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

const token = (url: string, assertion: string) =>
  post(url, '/token', new URLSearchParams(tokenForm(assertion)).toString(), {
    'content-type': 'application/x-www-form-urlencoded',
  });

async function registerClient(url: string, key: ClientKey) {
  return post(url, '/register', JSON.stringify({ jwks: jwksOf(key), scope: 'system/Patient.rs' }), {
    authorization: `Bearer ${ADMIN_TOKEN}`,
    'content-type': 'application/json',
  });
}

async function readyz(url: string) {
  const res = await fetch(`${url}/readyz`);
  return {
    status: res.status,
    body: (await res.json()) as {
      status: string;
      checks: Record<string, { status: string; backend?: string }>;
    },
  };
}

function expectUnavailable(res: { status: number; headers: Headers; body: Record<string, unknown> }): void {
  expect(res.status).toBe(503);
  expect(res.body.error).toBe('temporarily_unavailable');
  expect(String(res.body.error_description)).toMatch(/^server\.unavailable: /);
  expect(res.body).not.toHaveProperty('access_token');
  expect(res.headers.get('retry-after')).toBe('5');
  expect(res.headers.get('cache-control')).toBe('no-store');
}

describe('Redis unreachable', () => {
  it('fails closed while a private redis-server is killed, then recovers by itself when it returns (AOF: records kept)', async () => {
    const redis = new PrivateRedis(await freePort(), { persistDir: tempDir() });
    await redis.start();
    cleanups.push(() => redis.kill());
    const { url, logs } = await startWith({ REDIS_URL: redis.url });
    const key = await makeClientKey('ES384');
    const clientId = (await registerClient(url, key)).body.client_id as string;

    const used = await makeAssertion(clientId, key);
    expect((await token(url, used)).status).toBe(200);
    expect(await readyz(url)).toEqual({
      status: 200,
      body: {
        status: 'ready',
        checks: {
          clients: { status: 'up', backend: 'sqlite' },
          keys: { status: 'up', backend: 'sqlite' },
          replay: { status: 'up', backend: 'redis' },
          server: { status: 'up' },
        },
      },
    });

    await redis.kill();

    const duringOutage = await makeAssertion(clientId, key);
    expectUnavailable(await token(url, duringOutage));
    expectUnavailable(await token(url, used));
    const notReady = await readyz(url);
    expect(notReady.status).toBe(503);
    expect(notReady.body.status).toBe('unavailable');
    expect(notReady.body.checks.replay).toEqual({ status: 'down', backend: 'redis' });
    expect(notReady.body.checks.clients?.status).toBe('up');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(logs.some((l) => l.event === 'replay_cache' && l.state === 'down')).toBe(true);

    await redis.start();
    await waitFor(async () => (await readyz(url)).status === 200);

    // The claim refused during the outage never reached Redis: the client's retry succeeds.
    expect((await token(url, duringOutage)).status).toBe(200);
    // The record written before the outage survived (append-only file): still a replay.
    const replay = await token(url, used);
    expect(replay.status).toBe(400);
    expect(String(replay.body.error_description)).toMatch(/^assertion\.replayed/);
    expect(logs.some((l) => l.event === 'replay_cache' && l.state === 'up')).toBe(true);
  });

  it('a Redis that comes back empty (no persistence) triggers the data-loss quarantine: 503 until every earlier assertion has expired', async () => {
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    cleanups.push(() => redis.kill());
    const clock = new TestClock();
    const quarantine = dataLossQuarantineSeconds(10);
    const { logs, logger } = capture();
    const dir = tempDir();
    const clients = new SqliteClientStore(dir);
    const keys = new SqliteKeyStore(dir);
    const replay = await RedisReplayCache.open(redis.url, {
      now: clock.now,
      dataLossQuarantineSeconds: quarantine,
      onEvent: (event) => logger.warn({ event: 'replay_cache', state: event.type }, 'replay cache event'),
    });
    const config = loadConfig({ PUBLIC_URL, FHIR_BASE_URL: FHIR_BASE, ADMIN_TOKEN, DATA_DIR: dir });
    const signingKeys = await SigningKeyRing.open(keys, {
      ...ringOptions(config),
      now: clock.now,
      refreshIntervalMs: 0,
    });
    const server = http.createServer(
      createApp(config, {
        clients,
        replay,
        signingKeys,
        logger,
        now: clock.now,
        readiness: [{ name: 'replay', backend: 'redis', check: () => replay.ping() }],
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      signingKeys.close();
      await Promise.all([clients.close(), keys.close(), replay.close()]);
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const key = await makeClientKey('ES384');
    const clientId = (await registerClient(url, key)).body.client_id as string;
    const used = await makeAssertion(clientId, key, { now: clock.seconds() });
    expect((await token(url, used)).status).toBe(200);

    await redis.kill();
    await redis.start(); // empty: the record of `used` is gone
    await waitFor(async () => {
      try {
        await replay.ping();
        return true;
      } catch (error) {
        return /quarantine/.test((error as Error).message); // reconnected, and the loss noticed
      }
    });

    expectUnavailable(await token(url, used)); // a replay is never accepted…
    expectUnavailable(await token(url, await makeAssertion(clientId, key, { now: clock.seconds() }))); // …nor anything else
    expect((await readyz(url)).body.checks.replay?.status).toBe('down');
    expect(logs.some((l) => l.state === 'data_loss')).toBe(true);

    clock.advance(quarantine + 1); // `used` and every assertion of its time have expired
    expect((await token(url, await makeAssertion(clientId, key, { now: clock.seconds() }))).status).toBe(200);
    expect((await readyz(url)).status).toBe(200);
  });
});

function ringOptions(config: ReturnType<typeof loadConfig>) {
  return {
    alg: config.accessTokenAlg,
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    clockSkewSeconds: config.clockSkewSeconds,
    keyActivationDelaySeconds: config.keyActivationDelaySeconds,
  };
}

describe('PostgreSQL unreachable', () => {
  it('fails closed (token, administration, readiness) while the network path is cut, serves the JWKS from memory, and recovers when it is back', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const prefix = testRedisPrefix('faults');
    cleanups.push(() => removeRedisPrefix(prefix));
    const proxy = new CuttableProxy(hostPort(db.url));
    await proxy.listen();
    cleanups.push(() => proxy.cut());
    const { url, logs } = await startWith({
      DATABASE_URL: proxy.urlFor(db.url),
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
    });
    const key = await makeClientKey('RS384');
    const clientId = (await registerClient(url, key)).body.client_id as string;
    expect((await token(url, await makeAssertion(clientId, key))).status).toBe(200);
    const jwks = await (await fetch(`${url}/.well-known/jwks.json`)).json();

    await proxy.cut();

    expectUnavailable(await token(url, await makeAssertion(clientId, key)));
    const inspect = await fetch(`${url}/clients/${clientId}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(inspect.status).toBe(503);
    expect((await registerClient(url, key)).status).toBe(503);
    const notReady = await readyz(url);
    expect(notReady.status).toBe(503);
    expect(notReady.body.checks).toMatchObject({
      clients: { status: 'down', backend: 'postgres' },
      keys: { status: 'down', backend: 'postgres' },
      replay: { status: 'up', backend: 'redis' },
    });
    const jwksDuring = await fetch(`${url}/.well-known/jwks.json`);
    expect(jwksDuring.status).toBe(200);
    expect(await jwksDuring.json()).toEqual(jwks);

    await proxy.listen(); // same port
    await waitFor(async () => (await readyz(url)).status === 200);
    expect((await token(url, await makeAssertion(clientId, key))).status).toBe(200);
    expect(logs.some((l) => l.event === 'readiness' && l.check === 'clients' && l.status === 'down')).toBe(
      true,
    );
    expect(logs.some((l) => l.event === 'readiness' && l.check === 'clients' && l.status === 'up')).toBe(
      true,
    );
  });
});
