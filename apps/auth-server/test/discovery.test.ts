import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SMART_CAPABILITIES, SmartConfigurationSchema } from '@smart-backend/protocol';
import request from 'supertest';
import { PUBLIC_URL, expectRefusal, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
}, 30_000);
afterAll(() => server.close());

describe('discovery (SMART Conformance, RFC 8414)', () => {
  it.each([['/.well-known/smart-configuration'], ['/.well-known/oauth-authorization-server']])(
    'GET %s answers the metadata as application/json, whatever Accept says (DISC-02)',
    async (path) => {
      const res = await request(server.app).get(path).set('Accept', 'text/html');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const doc = SmartConfigurationSchema.parse(res.body);
      expect(doc).toEqual({
        issuer: PUBLIC_URL,
        token_endpoint: `${PUBLIC_URL}/token`,
        jwks_uri: `${PUBLIC_URL}/.well-known/jwks.json`,
        registration_endpoint: `${PUBLIC_URL}/register`,
        introspection_endpoint: `${PUBLIC_URL}/introspect`,
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
        grant_types_supported: ['client_credentials'],
        scopes_supported: ['system/*.cruds', 'system/*.rs', 'system/*.read', 'system/*.write', 'system/*.*'],
        response_types_supported: [],
        code_challenge_methods_supported: ['S256'],
        capabilities: [...SMART_CAPABILITIES],
      });
      expect(res.body.authorization_endpoint).toBeUndefined();
    },
  );

  it('serves the same document at both addresses', async () => {
    const a = await request(server.app).get('/.well-known/smart-configuration');
    const b = await request(server.app).get('/.well-known/oauth-authorization-server');
    expect(a.body).toEqual(b.body);
  });

  it('refuses other methods with 405', async () => {
    const res = await request(server.app).post('/.well-known/smart-configuration');
    expectRefusal(res, 'request.method_not_allowed');
    expect(res.headers['allow']).toBe('GET');
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('publishes only public members of the signing key, with kid, alg and use, and a short max-age', async () => {
    const res = await request(server.app).get('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('public, max-age=60');
    expect(res.body.keys).toHaveLength(1);
    const [key] = res.body.keys as Array<Record<string, unknown>>;
    expect(Object.keys(key ?? {}).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(key).toMatchObject({
      kty: 'EC',
      crv: 'P-256',
      alg: 'ES256',
      use: 'sig',
      kid: server.signingKeys.current().kid,
    });
  });
});

describe('other routes', () => {
  it('GET /healthz answers {status:"ok"}', async () => {
    const res = await request(server.app).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('unknown routes answer 404 JSON (request.not_found)', async () => {
    for (const res of [
      await request(server.app).get('/nope'),
      await request(server.app).post('/authorize'),
    ]) {
      expectRefusal(res, 'request.not_found');
    }
  });

  it('does not advertise the framework', async () => {
    const res = await request(server.app).get('/healthz');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });
});
