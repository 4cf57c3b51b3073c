import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BackendServicesClient,
  TokenRequestError,
  generateClientKeys,
  type GeneratedClientKeys,
} from '../src/index.js';
import { sendJson, startServer, tokenBody, type TestServer } from './support/http-server.js';

const START = Date.UTC(2030, 0, 1);

describe('BackendServicesClient.getAccessToken: cache and single flight', () => {
  let keys: GeneratedClientKeys;
  let server: TestServer | undefined;
  let now: number;
  let issued: number;

  beforeAll(async () => {
    keys = await generateClientKeys({ alg: 'ES384' });
  }, 30_000);

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function clientFor(expiresIn = 300, failFirst = 0): Promise<BackendServicesClient> {
    now = START;
    issued = 0;
    server = await startServer((req, res, index) => {
      if (req.url !== '/token') return sendJson(res, 404, {});
      if (index < failFirst) return sendJson(res, 400, { error: 'invalid_client', error_description: 'no' });
      issued++;
      sendJson(res, 200, tokenBody(`tok-${issued}`, expiresIn));
    });
    return new BackendServicesClient({
      fhirBaseUrl: `${server.url}/fhir`,
      tokenUrl: `${server.url}/token`,
      clientId: 'client-1',
      privateKey: keys.signingKey,
      scope: 'system/*.rs',
      clock: () => now,
    });
  }

  it('100 concurrent calls on an empty cache make exactly one token request', async () => {
    const client = await clientFor();
    const tokens = await Promise.all(Array.from({ length: 100 }, () => client.getAccessToken()));
    expect(new Set(tokens)).toEqual(new Set(['tok-1']));
    expect(server!.requests).toHaveLength(1);
  });

  it('reuses the token until min(30 s, 10 %) before expiry, then fetches a new one (expires_in 300 → 270 s)', async () => {
    const client = await clientFor(300);
    expect(await client.getAccessToken()).toBe('tok-1');
    now = START + 269_999;
    expect(await client.getAccessToken()).toBe('tok-1');
    now = START + 270_000;
    expect(await client.getAccessToken()).toBe('tok-2');
    expect(server!.requests).toHaveLength(2);
  });

  it('refreshes a short-lived token 10 % early (expires_in 60 → 54 s)', async () => {
    const client = await clientFor(60);
    await client.getAccessToken();
    now = START + 53_999;
    expect(await client.getAccessToken()).toBe('tok-1');
    now = START + 54_000;
    expect(await client.getAccessToken()).toBe('tok-2');
  });

  it('reports the granted scope and expiry', async () => {
    const client = await clientFor(300);
    const token = await client.getToken();
    expect(token).toMatchObject({
      accessToken: 'tok-1',
      tokenType: 'bearer',
      scope: 'system/*.rs',
      expiresIn: 300,
      obtainedAt: START,
      expiresAt: START + 300_000,
      refreshAt: START + 270_000,
    });
  });

  it('does not cache a refusal: every concurrent caller gets it, and the next call tries again', async () => {
    const client = await clientFor(300, 1);
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => client.getAccessToken()));
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof TokenRequestError)).toBe(true);
    expect(server!.requests).toHaveLength(1);
    await expect(client.getAccessToken()).resolves.toBe('tok-1');
    expect(server!.requests).toHaveLength(2);
  });

  it('invalidateAccessToken drops the cached token; with a stale token argument it keeps the current one', async () => {
    const client = await clientFor(300);
    await client.getAccessToken();
    client.invalidateAccessToken('some-older-token');
    expect(await client.getAccessToken()).toBe('tok-1');
    client.invalidateAccessToken('tok-1');
    expect(await client.getAccessToken()).toBe('tok-2');
    client.invalidateAccessToken();
    expect(await client.getAccessToken()).toBe('tok-3');
  });

  it('signs every token request with a fresh assertion (TREQ-03)', async () => {
    const client = await clientFor(300);
    await client.getAccessToken();
    client.invalidateAccessToken();
    await client.getAccessToken();
    const assertions = server!.requests.map((r) => new URLSearchParams(r.body).get('client_assertion'));
    expect(new Set(assertions).size).toBe(2);
  });
});
