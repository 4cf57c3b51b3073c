import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CLIENT_ASSERTION_TYPE, TokenResponseSchema, type ReasonCode } from '@smart-backend/protocol';
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import request from 'supertest';
import {
  ADMIN_TOKEN,
  FHIR_BASE,
  PUBLIC_URL,
  expectRefusal,
  jwksOf,
  makeAssertion,
  makeClientKey,
  postToken,
  rawRequest,
  register,
  startTestServer,
  tokenForm,
  type ClientKey,
  type TestServer,
} from './helpers.js';

let server: TestServer;
let rsa: ClientKey;
let ec: ClientKey;
let clientId: string;

beforeAll(async () => {
  server = await startTestServer();
  [rsa, ec] = await Promise.all([makeClientKey('RS384'), makeClientKey('ES384')]);
  clientId = await register(server.app, {
    client_name: 'lab feed',
    jwks: jwksOf(rsa, ec),
    scope: 'system/Patient.rs system/Observation.rs system/Encounter.read',
  });
}, 60_000);
afterAll(() => server.close());

describe('a valid token request', () => {
  it.each([['RS384'], ['ES384']])(
    'is granted for a %s assertion: bearer token, expires_in, scope, no-store',
    async (alg) => {
      const key = alg === 'RS384' ? rsa : ec;
      const res = await postToken(server.app, tokenForm(await makeAssertion(clientId, key)));
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['pragma']).toBe('no-cache');
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const body = TokenResponseSchema.parse(res.body);
      expect(body).toEqual({
        access_token: expect.any(String),
        token_type: 'bearer',
        expires_in: 300,
        scope: 'system/Patient.rs',
      });
      expect(res.body.refresh_token).toBeUndefined();
    },
  );

  it('issues an RFC 9068 access token signed by a key in the JWKS', async () => {
    const res = await postToken(
      server.app,
      tokenForm(await makeAssertion(clientId, ec), { scope: 'system/Observation.rs' }),
    );
    expect(res.status).toBe(200);
    const token = res.body.access_token as string;
    const header = decodeProtectedHeader(token);
    expect(header).toEqual({ alg: 'ES256', kid: expect.any(String), typ: 'at+jwt' });
    const jwks = await request(server.app).get('/.well-known/jwks.json');
    const jwk = (jwks.body.keys as Array<{ kid: string }>).find((k) => k.kid === header.kid);
    expect(jwk).toBeDefined();
    const { payload } = await jwtVerify(token, await importJWK(jwk as object, 'ES256'), {
      issuer: PUBLIC_URL,
      audience: FHIR_BASE,
      typ: 'at+jwt',
    });
    expect(payload).toEqual({
      iss: PUBLIC_URL,
      sub: clientId,
      aud: FHIR_BASE,
      client_id: clientId,
      scope: 'system/Observation.rs',
      iat: expect.any(Number),
      exp: (payload.iat as number) + 300,
      jti: expect.any(String),
    });
    expect((payload.jti as string).length).toBeGreaterThanOrEqual(22); // ≥ 128 bits
  });

  it('accepts the optional client_id parameter when it equals iss, and charset=utf-8', async () => {
    const res = await request(server.app)
      .post('/token')
      .set('Content-Type', 'application/x-www-form-urlencoded; charset=UTF-8')
      .send(
        new URLSearchParams(
          tokenForm(await makeAssertion(clientId, rsa), { client_id: clientId }),
        ).toString(),
      );
    expect(res.status).toBe(200);
  });

  it('accepts aud = the issuer, a one-element aud array, no typ, iat and nbf in the past, and unknown header members', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const options of [
      { claims: { aud: PUBLIC_URL } },
      { claims: { aud: [`${PUBLIC_URL}/token`] } },
      { omit: ['typ'] },
      { header: { typ: 'jwt' } },
      { claims: { iat: now - 5, nbf: now - 5 } },
      { header: { kty: 'EC', 'x-custom': 1 } },
    ]) {
      const res = await postToken(server.app, tokenForm(await makeAssertion(clientId, ec, options)));
      expect([JSON.stringify(options), res.status]).toEqual([JSON.stringify(options), 200]);
    }
  });

  it('answers with an ignored unknown parameter and treats empty parameters as absent (RFC 6749 §3.1)', async () => {
    const assertion = await makeAssertion(clientId, ec);
    const body = `${new URLSearchParams(tokenForm(assertion)).toString()}&client_id=&foo=bar&client_secret=`;
    const res = await postToken(server.app, body);
    expect(res.status).toBe(200);
  });
});

describe('routing', () => {
  it('serves /token through the Express router too (trailing slash, letter case): the same handler', async () => {
    for (const path of ['/token/', '/TOKEN']) {
      const res = await request(server.app)
        .post(path)
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send(new URLSearchParams(tokenForm(await makeAssertion(clientId, ec))).toString());
      expect([path, res.status]).toEqual([path, 200]);
      expect(res.headers['cache-control']).toBe('no-store');
    }
    const refused = await request(server.app).get('/token/');
    expectRefusal(refused, 'request.method_not_allowed');
    expect(refused.headers['allow']).toBe('POST');
  });
});

describe('scopes (SCP-05, SCP-09, SCP-14, DESIGN "Scopes")', () => {
  const cases: Array<[requested: string, granted: string]> = [
    ['system/Patient.rs', 'system/Patient.rs'],
    ['system/Patient.read', 'system/Patient.read'],
    ['system/*.read', 'system/Patient.read system/Observation.read system/Encounter.read'],
    ['system/*.rs', 'system/Patient.rs system/Observation.rs system/Encounter.rs'],
    ['system/Patient.cruds', 'system/Patient.rs'],
    ['system/Patient.r', 'system/Patient.r'],
    ['system/Patient.read system/Observation.rs', 'system/Patient.read system/Observation.rs'],
    ['system/Patient.rs system/Condition.rs', 'system/Patient.rs'],
    ['system/Patient.rs launch openid', 'system/Patient.rs'],
    ['system/Patient.rs patient/Observation.rs', 'system/Patient.rs'],
    ['system/Observation.rs?category=laboratory', 'system/Observation.rs?category=laboratory'],
  ];
  it.each(cases)(
    '%s → %s (the intersection with the registration, in the requested syntax)',
    async (requested, granted) => {
      const res = await postToken(
        server.app,
        tokenForm(await makeAssertion(clientId, ec), { scope: requested }),
      );
      expect(res.status).toBe(200);
      expect(res.body.scope).toBe(granted);
      const claims = decodeJwt(res.body.access_token as string);
      expect(claims.scope).toBe(granted);
    },
  );

  const refusals: Array<[requested: string | undefined, reason: ReasonCode]> = [
    [undefined, 'scope.missing'],
    ['   ', 'scope.missing'],
    ['system/Condition.rs', 'scope.nothing_granted'],
    ['patient/Patient.rs', 'scope.nothing_granted'],
    ['launch fhirUser', 'scope.nothing_granted'],
    ['system/Patient.rs system/UnknownResource.read', 'scope.unknown_resource_type'],
    ['system/Patient.xyz', 'scope.unknown_permission'],
    ['system/Patient.unknownAction', 'scope.unknown_permission'],
    ['invalid test value', 'scope.malformed'],
  ];
  it.each(refusals)('scope %j is refused with %s', async (requested, reason) => {
    const form = tokenForm(await makeAssertion(clientId, ec));
    if (requested === undefined) delete (form as Record<string, string | undefined>).scope;
    else form.scope = requested;
    const res = await postToken(server.app, form);
    expectRefusal(res, reason);
  });

  it('names every dropped scope and its reason when nothing can be granted', async () => {
    const res = await postToken(
      server.app,
      tokenForm(await makeAssertion(clientId, ec), { scope: 'system/Condition.rs patient/Patient.rs' }),
    );
    expectRefusal(res, 'scope.nothing_granted');
    expect(res.body.error_description).toContain('scope.not_registered');
    expect(res.body.error_description).toContain('scope.context_not_allowed');
  });
});

describe('request checks, in order (reference §1.11 E1–E9)', () => {
  it('refuses other methods with 405, Allow: POST, JSON and no-store', async () => {
    for (const method of ['get', 'put', 'delete', 'patch'] as const) {
      const res = await request(server.app)[method]('/token');
      expectRefusal(res, 'request.method_not_allowed');
      expect(res.headers['allow']).toBe('POST');
    }
  });

  it.each([
    ['application/json', JSON.stringify({ grant_type: 'client_credentials' })],
    ['text/html', 'grant_type=client_credentials'],
    ['text/plain', 'grant_type=client_credentials'],
    ['multipart/form-data; boundary=x', '--x--'],
    ['application/x-www-form-urlencoded; charset=iso-8859-1', 'grant_type=client_credentials'],
  ])('refuses Content-Type %s (request.unsupported_content_type)', async (type, body) => {
    const res = await request(server.app).post('/token').set('Content-Type', type).send(body);
    expectRefusal(res, 'request.unsupported_content_type');
  });

  it('refuses a request with no Content-Type', async () => {
    const res = await request(server.app).post('/token');
    expectRefusal(res, 'request.unsupported_content_type');
  });

  it('checks the content type before the grant: a JSON body with a valid assertion is refused', async () => {
    const res = await request(server.app)
      .post('/token')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(tokenForm(await makeAssertion(clientId, ec))));
    expectRefusal(res, 'request.unsupported_content_type');
  });

  it('refuses a body that is not UTF-8', async () => {
    const res = await rawRequest(server.app, {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: Uint8Array.from([0x67, 0x3d, 0xff, 0xfe]),
    });
    expectRefusal(res, 'request.malformed_body');
  });

  const missing: Array<[omit: string, reason: ReasonCode]> = [
    ['grant_type', 'grant_type.missing'],
    ['client_assertion_type', 'client_assertion_type.missing'],
    ['client_assertion', 'assertion.missing'],
  ];
  it.each(missing)('refuses a request without %s (%s)', async (omit, reason) => {
    const form: Record<string, string> = tokenForm(await makeAssertion(clientId, ec));
    delete form[omit];
    expectRefusal(await postToken(server.app, form), reason);
  });

  it.each([['not_a_grant_type'], ['password'], ['authorization_code'], ['invalid test value']])(
    'refuses grant_type=%s with unsupported_grant_type and HTTP 400',
    async (grantType) => {
      const res = await postToken(
        server.app,
        tokenForm(await makeAssertion(clientId, ec), { grant_type: grantType }),
      );
      expectRefusal(res, 'grant_type.unsupported');
      expect(res.body.error).toBe('unsupported_grant_type');
    },
  );

  it.each([['not_an_assertion_type'], ['urn:ietf:params:oauth:client-assertion-type:saml2-bearer']])(
    'refuses client_assertion_type=%s with invalid_client and HTTP 400',
    async (type) => {
      const res = await postToken(
        server.app,
        tokenForm(await makeAssertion(clientId, ec), { client_assertion_type: type }),
      );
      expectRefusal(res, 'client_assertion_type.unsupported');
    },
  );

  it('refuses a client_assertion that is not a JWT (BDT "client_assertion must be valid")', async () => {
    expectRefusal(await postToken(server.app, tokenForm('invalid test value')), 'assertion.malformed');
  });

  it('checks grant_type before client_assertion_type before the assertion', async () => {
    const form = {
      grant_type: 'password',
      client_assertion_type: 'x',
      client_assertion: 'y',
      scope: 'system/Patient.rs',
    };
    expectRefusal(await postToken(server.app, form), 'grant_type.unsupported');
    expectRefusal(
      await postToken(server.app, { ...form, grant_type: 'client_credentials' }),
      'client_assertion_type.unsupported',
    );
    expectRefusal(
      await postToken(server.app, {
        ...form,
        grant_type: 'client_credentials',
        client_assertion_type: CLIENT_ASSERTION_TYPE,
      }),
      'assertion.malformed',
    );
  });

  it('authenticates the client before looking at scopes (no scope feedback to unauthenticated callers)', async () => {
    const forged = await makeAssertion(clientId, await makeClientKey('ES384', { kid: ec.kid }));
    const res = await postToken(server.app, tokenForm(forged, { scope: 'system/Nonsense.read' }));
    expectRefusal(res, 'assertion.signature_invalid');
  });
});

describe('audit log', () => {
  it('writes one line per decision with client, outcome, reason and scope — and no secret', async () => {
    const assertion = await makeAssertion(clientId, ec);
    const granted = await postToken(server.app, tokenForm(assertion));
    const refused = await postToken(server.app, tokenForm(assertion));
    expectRefusal(refused, 'assertion.replayed');
    const lines = server.logs.filter((l) => l.event === 'token');
    const [grantLine, refuseLine] = lines.slice(-2);
    expect(grantLine).toMatchObject({
      event: 'token',
      outcome: 'granted',
      client_id: clientId,
      scope: 'system/Patient.rs',
    });
    expect(refuseLine).toMatchObject({
      event: 'token',
      outcome: 'refused',
      reason: 'assertion.replayed',
      client_id: clientId,
      authenticated: true,
    });
    expect(grantLine?.jti_hash).toEqual(refuseLine?.jti_hash);
    const everything = JSON.stringify(server.logs);
    for (const secret of [assertion, assertion.split('.')[2], granted.body.access_token, ADMIN_TOKEN]) {
      expect(everything).not.toContain(secret);
    }
  });
});
