import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  expectRefusal,
  jwksOf,
  makeAssertion,
  makeClientKey,
  postToken,
  register,
  startJwksHost,
  startTestServer,
  tokenForm,
  type ClientKey,
  type JwksHost,
  type TestServer,
} from './helpers.js';

/**
 * Clients registered with a jwks_uri (SMART CCA, KEY-06, KEY-07; ATK-07, ATK-20, ATK-26): the
 * JWKS is served by a local HTTP server that counts requests.
 */

let server: TestServer;
/** The same server with a 400 ms fetch timeout, for the endpoints that never finish answering. */
let impatient: TestServer;
let host: JwksHost;
let k1: ClientKey;
let k2: ClientKey;
let k3: ClientKey;
let pathCounter = 0;

beforeAll(async () => {
  // Successful fetches must not race a deadline on a loaded machine: the default server's fetch
  // timeout is longer than any test may take. Only `impatient` ever times out, and only on
  // endpoints that never complete.
  server = await startTestServer({ clientKeyOptions: { fetchTimeoutMs: 120_000 } });
  impatient = await startTestServer({ clientKeyOptions: { fetchTimeoutMs: 400 } });
  host = await startJwksHost();
  [k1, k2, k3] = await Promise.all([makeClientKey('ES384'), makeClientKey('RS384'), makeClientKey('ES384')]);
}, 60_000);

afterAll(async () => {
  await server.close();
  await impatient.close();
  await host.close();
});

/** A fresh client whose jwks_uri is a fresh path on the host (so caches and counters are its own). */
async function remoteClient(
  setup: (path: string) => void,
  on: TestServer = server,
): Promise<{ id: string; path: string }> {
  const path = `/c${++pathCounter}/jwks.json`;
  setup(path);
  const id = await register(on.app, { jwks_uri: `${host.base}${path}`, scope: 'system/Patient.rs' });
  return { id, path };
}

const token = async (
  id: string,
  key: ClientKey,
  header: Record<string, unknown> = {},
  on: TestServer = server,
) => postToken(on.app, tokenForm(await makeAssertion(id, key, { now: on.clock.seconds(), header })));

describe('fetching a registered jwks_uri', () => {
  it('fetches with GET and Accept: application/json, then serves later requests from the cache', async () => {
    let accept: string | undefined;
    let method: string | undefined;
    const { id, path } = await remoteClient((p) =>
      host.handle(p, (req, res) => {
        accept = req.headers.accept;
        method = req.method;
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(jwksOf(k1, k2)));
      }),
    );
    expect((await token(id, k1)).status).toBe(200);
    expect((await token(id, k2)).status).toBe(200);
    expect((await token(id, k1)).status).toBe(200);
    expect(host.count(path)).toBe(1);
    expect(method).toBe('GET');
    expect(accept).toBe('application/json');
  });

  it('concurrent requests for one client share a single fetch', async () => {
    const { id, path } = await remoteClient((p) =>
      host.handle(p, (_req, res) => {
        setTimeout(
          () => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(jwksOf(k1))),
          100,
        );
      }),
    );
    const results = await Promise.all(Array.from({ length: 6 }, () => token(id, k1)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(host.count(path)).toBe(1);
  });

  it('accepts application/jwk-set+json', async () => {
    const { id } = await remoteClient((p) =>
      host.handle(p, (_req, res) =>
        res.writeHead(200, { 'Content-Type': 'application/jwk-set+json' }).end(JSON.stringify(jwksOf(k1))),
      ),
    );
    expect((await token(id, k1)).status).toBe(200);
  });
});

describe('Cache-Control is honoured, never exceeded (KEY-07)', () => {
  it('max-age=60: cached for 60 s, then refetched', async () => {
    const { id, path } = await remoteClient((p) =>
      host.serveJwks(p, jwksOf(k1), { 'Cache-Control': 'max-age=60' }),
    );
    expect((await token(id, k1)).status).toBe(200);
    server.clock.advance(50);
    expect((await token(id, k1)).status).toBe(200);
    expect(host.count(path)).toBe(1);
    server.clock.advance(15);
    expect((await token(id, k1)).status).toBe(200);
    expect(host.count(path)).toBe(2);
  });

  it('no-store: fetched for every request', async () => {
    const { id, path } = await remoteClient((p) =>
      host.serveJwks(p, jwksOf(k1), { 'Cache-Control': 'no-store' }),
    );
    for (let i = 0; i < 3; i++) expect((await token(id, k1)).status).toBe(200);
    expect(host.count(path)).toBe(3);
  });

  it('max-age=0 / no-cache: fetched for every request', async () => {
    const { id, path } = await remoteClient((p) =>
      host.serveJwks(p, jwksOf(k1), { 'Cache-Control': 'public, max-age=0' }),
    );
    expect((await token(id, k1)).status).toBe(200);
    expect((await token(id, k1)).status).toBe(200);
    expect(host.count(path)).toBe(2);
  });

  it('no Cache-Control: cached for the 5-minute default', async () => {
    const { id, path } = await remoteClient((p) => host.serveJwks(p, jwksOf(k1)));
    expect((await token(id, k1)).status).toBe(200);
    server.clock.advance(290);
    expect((await token(id, k1)).status).toBe(200);
    expect(host.count(path)).toBe(1);
    server.clock.advance(20);
    expect((await token(id, k1)).status).toBe(200);
    expect(host.count(path)).toBe(2);
  });

  it('a max-age longer than 5 minutes is capped at 5 minutes', async () => {
    const { id, path } = await remoteClient((p) =>
      host.serveJwks(p, jwksOf(k1), { 'Cache-Control': 'max-age=86400' }),
    );
    expect((await token(id, k1)).status).toBe(200);
    server.clock.advance(301);
    expect((await token(id, k1)).status).toBe(200);
    expect(host.count(path)).toBe(2);
  });
});

describe('ATK-26 JWKS rotation and stale keys', () => {
  it('ATK-26 a new kid is fetched on first use; a key the client removed stops working once the cache expires', async () => {
    let served = jwksOf(k1);
    const { id, path } = await remoteClient((p) =>
      host.handle(p, (_req, res) => {
        res
          .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=120' })
          .end(JSON.stringify(served));
      }),
    );
    expect((await token(id, k1)).status).toBe(200);
    // The client rotates: k3 replaces k1.
    served = jwksOf(k3);
    server.clock.advance(31); // past the unknown-kid cooldown
    expect((await token(id, k3)).status).toBe(200); // unknown kid → one refetch
    expect(host.count(path)).toBe(2);
    expectRefusal(await token(id, k1), 'assertion.key_not_found');
  });

  it('ATK-26 a removed key is refused after max-age even without an unknown kid', async () => {
    let served = jwksOf(k1, k3);
    const { id } = await remoteClient((p) =>
      host.handle(p, (_req, res) => {
        res
          .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=60' })
          .end(JSON.stringify(served));
      }),
    );
    expect((await token(id, k1)).status).toBe(200);
    served = jwksOf(k3);
    server.clock.advance(61);
    expectRefusal(await token(id, k1), 'assertion.key_not_found');
    expect((await token(id, k3)).status).toBe(200);
  });

  it('ATK-20 / ATK-26 a flood of unknown kids refetches at most once per cooldown', async () => {
    const { id, path } = await remoteClient((p) =>
      host.serveJwks(p, jwksOf(k1), { 'Cache-Control': 'max-age=300' }),
    );
    expect((await token(id, k1)).status).toBe(200);
    expect(host.count(path)).toBe(1);
    server.clock.advance(31);
    for (let i = 0; i < 20; i++)
      expectRefusal(await token(id, k1, { kid: `unknown-${i}` }), 'assertion.key_not_found');
    expect(host.count(path)).toBe(2);
    server.clock.advance(31);
    expectRefusal(await token(id, k1, { kid: 'unknown-again' }), 'assertion.key_not_found');
    expect(host.count(path)).toBe(3);
  });
});

describe('ATK-07 / ATK-20 hostile or broken JWKS endpoints', () => {
  it('ATK-07 redirects are not followed', async () => {
    host.serveJwks('/redirect-target.json', jwksOf(k1));
    const { id } = await remoteClient((p) =>
      host.handle(p, (_req, res) =>
        res.writeHead(302, { Location: `${host.base}/redirect-target.json` }).end(),
      ),
    );
    const res = await token(id, k1);
    expectRefusal(res, 'client.jwks_unavailable');
    expect(res.body.error_description).toContain('redirect');
    expect(host.count('/redirect-target.json')).toBe(0);
  });

  it('ATK-20 an oversized JWKS (declared length) is refused', async () => {
    const { id } = await remoteClient((p) =>
      host.handle(p, (_req, res) => {
        const body = JSON.stringify({ ...jwksOf(k1), padding: 'x'.repeat(100 * 1024) });
        res
          .writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
          .end(body);
      }),
    );
    const res = await token(id, k1);
    expectRefusal(res, 'client.jwks_unavailable');
    expect(res.body.error_description).toContain('larger than');
  });

  it('ATK-20 an oversized JWKS streamed without Content-Length is refused', async () => {
    const { id } = await remoteClient((p) =>
      host.handle(p, (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        for (let i = 0; i < 100; i++) res.write('x'.repeat(1024));
        res.end();
      }),
    );
    expectRefusal(await token(id, k1), 'client.jwks_unavailable');
  });

  it('ATK-20 a JWKS endpoint that never answers times out', async () => {
    const { id } = await remoteClient((p) => host.handle(p, () => undefined), impatient);
    const res = await token(id, k1, {}, impatient);
    expectRefusal(res, 'client.jwks_unavailable');
    expect(res.body.error_description).toContain('no response within 400 ms');
  });

  it('ATK-20 a JWKS body that trickles forever (a byte every 50 ms, never idle) times out', async () => {
    const { id } = await remoteClient(
      (p) =>
        host.handle(p, (_req, res) => {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.write('{"keys":[');
          const trickle = setInterval(() => res.write(' '), 50);
          res.on('close', () => clearInterval(trickle));
        }),
      impatient,
    );
    const res = await token(id, k1, {}, impatient);
    expectRefusal(res, 'client.jwks_unavailable');
    expect(res.body.error_description).toContain('no complete response within 400 ms');
  });

  it.each<[string, (res: ServerResponse) => void]>([
    ['HTTP 404', (res) => res.writeHead(404).end()],
    ['HTTP 500', (res) => res.writeHead(500).end()],
    ['text/html', (res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html></html>')],
    ['no media type', (res) => res.writeHead(200).end(JSON.stringify(jwksOf(k1)))],
    ['invalid JSON', (res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"keys": [')],
  ])(
    'an endpoint answering %s makes the client unusable (client.jwks_unavailable)',
    async (_name, answer) => {
      const { id } = await remoteClient((p) => host.handle(p, (_req, res) => answer(res)));
      expectRefusal(await token(id, k1), 'client.jwks_unavailable');
    },
  );

  it.each<[string, () => unknown]>([
    ['a private key member', () => ({ keys: [{ ...k1.publicJwk, d: 'AAAA' }] })],
    ['a symmetric key', () => ({ keys: [{ kty: 'oct', kid: 'x', k: 'AAAA' }] })],
    ['no keys array', () => ({ key: k1.publicJwk })],
    ['an empty key set', () => ({ keys: [] })],
  ])('a remote JWKS with %s is refused (client.jwks_invalid)', async (_name, body) => {
    const { id } = await remoteClient((p) => host.serveJwks(p, body()));
    expectRefusal(await token(id, k1), 'client.jwks_invalid');
  });

  it('a failed fetch is retried only after a short backoff', async () => {
    let healthy = false;
    const { id, path } = await remoteClient((p) =>
      host.handle(p, (_req, res) => {
        if (healthy)
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(jwksOf(k1)));
        else res.writeHead(503).end();
      }),
    );
    expectRefusal(await token(id, k1), 'client.jwks_unavailable');
    healthy = true;
    expectRefusal(await token(id, k1), 'client.jwks_unavailable');
    expect(host.count(path)).toBe(1);
    server.clock.advance(6);
    expect((await token(id, k1)).status).toBe(200);
    expect(host.count(path)).toBe(2);
  });

  it('a failed refetch keeps keys that are still fresh', async () => {
    let healthy = true;
    const { id } = await remoteClient((p) =>
      host.handle(p, (_req, res) => {
        if (healthy)
          res
            .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=300' })
            .end(JSON.stringify(jwksOf(k1)));
        else res.writeHead(500).end();
      }),
    );
    expect((await token(id, k1)).status).toBe(200);
    healthy = false;
    server.clock.advance(31);
    expectRefusal(await token(id, k1, { kid: 'rotated-away' }), 'assertion.key_not_found');
    expect((await token(id, k1)).status).toBe(200);
  });

  it('logs the fetches it makes, with the client and the outcome', () => {
    const lines = server.logs.filter((l) => l.event === 'jwks_fetch');
    expect(lines.some((l) => l.outcome === 'fetched')).toBe(true);
    expect(lines.some((l) => l.outcome === 'failed' && l.reason === 'client.jwks_unavailable')).toBe(true);
  });
});
