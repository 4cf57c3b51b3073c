import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startServer, type RunningServer } from '../src/server.js';
import { ADMIN_TOKEN, jwksOf, makeClientKey, tempDir, type ClientKey } from './helpers.js';

/**
 * Clients nobody here wrote, against the real server listening on 127.0.0.1:0: openid-client 6.9.0
 * and oauth4webapi 3.8.8, in their library defaults (aud = issuer, no typ) and with SMART-shaped
 * assertions (aud = token URL, typ JWT), with RS384 and ES384 keys.
 */

const FHIR_BASE = 'http://localhost:4001/fhir';
let server: RunningServer;
const keys: Record<'RS384' | 'ES384', ClientKey> = {} as never;
const clientIds: Record<'RS384' | 'ES384', string> = {} as never;

beforeAll(async () => {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: tempDir(),
    ADMIN_TOKEN,
    FHIR_BASE_URL: FHIR_BASE,
  });
  server = await startServer(config, { logger: createLogger('info', { write: () => undefined }) });
  for (const alg of ['RS384', 'ES384'] as const) {
    keys[alg] = await makeClientKey(alg);
    const res = await fetch(`${server.url}/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jwks: jwksOf(keys[alg]), scope: 'system/Patient.rs system/Observation.rs' }),
    });
    clientIds[alg] = ((await res.json()) as { client_id: string }).client_id;
  }
}, 60_000);
afterAll(() => server.close(1000));

const smartShape = (tokenEndpoint: () => string): oauth.ModifyAssertionOptions => ({
  [oauth.modifyAssertion]: (header, payload) => {
    header.typ = 'JWT';
    payload.aud = tokenEndpoint();
  },
});

describe.each([['RS384' as const], ['ES384' as const]])('openid-client 6.9.0 with a %s key', (alg) => {
  const discover = (options?: oauth.ModifyAssertionOptions) =>
    client.discovery(
      new URL(server.url),
      clientIds[alg],
      undefined,
      client.PrivateKeyJwt({ key: keys[alg].privateKey, kid: keys[alg].kid }, options),
      { execute: [client.allowInsecureRequests], algorithm: 'oauth2' },
    );

  it('clientCredentialsGrant in library defaults (aud = issuer, no typ) gets a token', async () => {
    const config = await discover();
    const tokens = await client.clientCredentialsGrant(config, { scope: 'system/Patient.rs' });
    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'system/Patient.rs' });
    expect(tokens.access_token).toEqual(expect.any(String));
  });

  it('clientCredentialsGrant with SMART-shaped assertions (aud = token URL, typ JWT) gets a token', async () => {
    const config = await discover(smartShape(() => `${server.url}/token`));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'system/Observation.rs' });
    expect(tokens.scope).toBe('system/Observation.rs');
  });

  it('sees an RFC 6749 error it can read when the scope cannot be granted', async () => {
    const config = await discover();
    await expect(
      client.clientCredentialsGrant(config, { scope: 'system/Condition.rs' }),
    ).rejects.toMatchObject({
      error: 'invalid_scope',
      error_description: expect.stringMatching(/^scope\.nothing_granted: /),
    });
  });
});

describe.each([['RS384' as const], ['ES384' as const]])('oauth4webapi 3.8.8 with a %s key', (alg) => {
  let as: oauth.AuthorizationServer;
  beforeAll(async () => {
    const issuer = new URL(server.url);
    const response = await oauth.discoveryRequest(issuer, {
      algorithm: 'oauth2',
      [oauth.allowInsecureRequests]: true,
    });
    as = await oauth.processDiscoveryResponse(issuer, response);
  });

  const grant = async (options?: oauth.ModifyAssertionOptions, scope = 'system/Patient.rs') => {
    const c: oauth.Client = { client_id: clientIds[alg] };
    const auth = oauth.PrivateKeyJwt({ key: keys[alg].privateKey, kid: keys[alg].kid }, options);
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      c,
      auth,
      { scope },
      { [oauth.allowInsecureRequests]: true },
    );
    return oauth.processClientCredentialsResponse(as, c, response);
  };

  it('discovers the server from /.well-known/oauth-authorization-server', () => {
    expect(as.issuer).toBe(server.url);
    expect(as.token_endpoint).toBe(`${server.url}/token`);
  });

  it('clientCredentialsGrantRequest in library defaults gets a token', async () => {
    const result = await grant();
    expect(result).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'system/Patient.rs' });
  });

  it('clientCredentialsGrantRequest with SMART-shaped assertions gets a token', async () => {
    const result = await grant(
      smartShape(() => as.token_endpoint as string),
      'system/*.rs',
    );
    expect(result.scope).toBe('system/Patient.rs system/Observation.rs');
  });

  it('validateJwtAccessToken accepts the issued access token for the FHIR audience', async () => {
    const { access_token } = await grant();
    const request = new Request(`${FHIR_BASE}/Patient`, {
      headers: { authorization: `Bearer ${access_token}` },
    });
    const claims = await oauth.validateJwtAccessToken(as, request, FHIR_BASE, {
      [oauth.allowInsecureRequests]: true,
    });
    expect(claims).toMatchObject({
      iss: server.url,
      aud: FHIR_BASE,
      sub: clientIds[alg],
      client_id: clientIds[alg],
      scope: 'system/Patient.rs',
    });
  });

  it('validateJwtAccessToken rejects the token for another audience', async () => {
    const { access_token } = await grant();
    const request = new Request('http://other.example/fhir/Patient', {
      headers: { authorization: `Bearer ${access_token}` },
    });
    await expect(
      oauth.validateJwtAccessToken(as, request, 'http://other.example/fhir', {
        [oauth.allowInsecureRequests]: true,
      }),
    ).rejects.toThrow();
  });
});
