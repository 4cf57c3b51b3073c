import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import {
  BackendServicesClient,
  TokenRequestError,
  generateClientKeys,
  requestAccessToken,
  type GeneratedClientKeys,
} from '../src/index.js';
import { startServer, sendJson, type TestServer } from './support/http-server.js';
import { REFERENCE_SCOPES, startReferenceServer, type ReferenceServer } from './support/provider.js';

// Proof against a server nobody here wrote: oidc-provider 9 as the authorization server.
describe('against oidc-provider (client_credentials + private_key_jwt, JWT access tokens)', () => {
  let rsa: GeneratedClientKeys;
  let ec: GeneratedClientKeys;
  let stranger: GeneratedClientKeys;
  let reference: ReferenceServer;

  beforeAll(async () => {
    [rsa, ec, stranger] = await Promise.all([
      generateClientKeys({ alg: 'RS384' }),
      generateClientKeys({ alg: 'ES384' }),
      generateClientKeys({ alg: 'ES384' }),
    ]);
    reference = await startReferenceServer([
      { client_id: 'rsa-client', jwks: rsa.jwks },
      { client_id: 'ec-client', jwks: ec.jwks },
    ]);
  }, 60_000);

  afterAll(async () => {
    await reference?.close();
  });

  it.each([
    ['RS384', 'rsa-client', () => rsa],
    ['ES384', 'ec-client', () => ec],
  ] as const)('obtains a JWT access token with an %s assertion (HDR-01)', async (alg, clientId, keys) => {
    const response = await requestAccessToken({
      tokenUrl: reference.tokenUrl,
      clientId,
      key: keys().signingKey,
      scope: 'system/Patient.rs',
    });
    expect(response.token_type.toLowerCase()).toBe('bearer');
    expect(response.scope).toBe('system/Patient.rs');
    expect(response.expires_in).toBeGreaterThan(0);
    expect(keys().signingKey.alg).toBe(alg);
    const jwks = createRemoteJWKSet(new URL(reference.jwksUrl));
    const { payload } = await jwtVerify(response.access_token, jwks, {
      issuer: reference.issuer,
      audience: reference.fhirBase,
    });
    expect(payload.client_id).toBe(clientId);
    expect(decodeProtectedHeader(response.access_token).typ).toBe('at+jwt');
  });

  it('surfaces the refusal of an assertion signed by an unregistered key as TokenRequestError', async () => {
    const refused = requestAccessToken({
      tokenUrl: reference.tokenUrl,
      clientId: 'ec-client',
      key: stranger.signingKey,
      scope: 'system/Patient.rs',
    });
    await expect(refused).rejects.toBeInstanceOf(TokenRequestError);
    const error = (await refused.catch((e: unknown) => e)) as TokenRequestError;
    expect(error.error).toBe('invalid_client');
    expect(error.status).toBeGreaterThanOrEqual(400);
    expect(error.status).toBeLessThan(500);
    expect(error.code).toBe('ERR_TOKEN_REQUEST_REFUSED');
    expect(error.message).toContain('invalid_client');
  });

  it('surfaces an unknown client as TokenRequestError invalid_client', async () => {
    const error = await requestAccessToken({
      tokenUrl: reference.tokenUrl,
      clientId: 'nobody',
      key: ec.signingKey,
      scope: 'system/Patient.rs',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect((error as TokenRequestError).error).toBe('invalid_client');
  });

  it('sends a fresh assertion for every token request (the provider detects jti replay)', async () => {
    for (let i = 0; i < 3; i++) {
      await expect(
        requestAccessToken({
          tokenUrl: reference.tokenUrl,
          clientId: 'ec-client',
          key: ec.signingKey,
          scope: 'system/Patient.rs',
        }),
      ).resolves.toHaveProperty('access_token');
    }
  });

  describe('BackendServicesClient with a FHIR server that verifies the provider-issued token', () => {
    let fhir: TestServer;
    let fhirReference: ReferenceServer;

    beforeAll(async () => {
      const verifier: { verify?: (token: string) => Promise<unknown> } = {};
      fhir = await startServer(async (request, res) => {
        const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
        try {
          if (!token || !verifier.verify) throw new Error('no token');
          await verifier.verify(token);
        } catch {
          sendJson(
            res,
            401,
            { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] },
            {
              'www-authenticate': 'Bearer error="invalid_token"',
            },
          );
          return;
        }
        sendJson(res, 200, { resourceType: 'Patient', id: 'p1' });
      });
      fhirReference = await startReferenceServer(
        [{ client_id: 'rsa-client', jwks: rsa.jwks }],
        `${fhir.url}/fhir`,
      );
      const jwks = createRemoteJWKSet(new URL(fhirReference.jwksUrl));
      verifier.verify = (token) =>
        jwtVerify(token, jwks, { issuer: fhirReference.issuer, audience: fhirReference.fhirBase });
    });

    afterAll(async () => {
      await fhirReference?.close();
      await fhir?.close();
    });

    it('reads a resource with a token the FHIR server accepts', async () => {
      const client = new BackendServicesClient({
        fhirBaseUrl: fhirReference.fhirBase,
        tokenUrl: fhirReference.tokenUrl,
        clientId: 'rsa-client',
        privateKey: rsa.privateKeyPem,
        scope: REFERENCE_SCOPES,
      });
      await expect(client.read('Patient', 'p1')).resolves.toEqual({ resourceType: 'Patient', id: 'p1' });
      const token = await client.getToken();
      expect(token.scope.split(' ').sort()).toEqual(REFERENCE_SCOPES.split(' ').sort());
      expect(fhir.requests[0]?.headers.authorization).toBe(`Bearer ${token.accessToken}`);
    });
  });
});
