import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RegistrationResponseSchema, type ReasonCode } from '@smart-backend/protocol';
import { SignJWT, generateKeyPair } from 'jose';
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
  register,
  startTestServer,
  tokenForm,
  type ClientKey,
  type TestServer,
} from './helpers.js';

let server: TestServer;
let key: ClientKey;
const admin = (req: request.Test) => req.set('Authorization', `Bearer ${ADMIN_TOKEN}`);

beforeAll(async () => {
  server = await startTestServer();
  key = await makeClientKey('ES384');
}, 30_000);
afterAll(() => server.close());

describe('administrator authentication', () => {
  const endpoints: Array<[string, (app: TestServer['app']) => request.Test]> = [
    [
      'POST /register',
      (app) =>
        request(app)
          .post('/register')
          .send({ jwks: jwksOf(key), scope: 'system/Patient.rs' }),
    ],
    ['GET /clients/:id', (app) => request(app).get('/clients/abc')],
    ['DELETE /clients/:id', (app) => request(app).delete('/clients/abc')],
    ['POST /introspect', (app) => request(app).post('/introspect').type('form').send('token=abc')],
  ];

  it.each(endpoints)('%s without a bearer token is 401 with WWW-Authenticate', async (_name, call) => {
    const res = await call(server.app);
    expectRefusal(res, 'admin.unauthorized');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="smart-auth"');
  });

  it.each(endpoints)('%s with a wrong bearer token is 401 invalid_token', async (_name, call) => {
    for (const authorization of [
      `Bearer ${ADMIN_TOKEN}x`,
      'Bearer short',
      `Basic ${ADMIN_TOKEN}`,
      `Bearer ${ADMIN_TOKEN} extra`,
      'Bearer',
    ]) {
      const res = await call(server.app).set('Authorization', authorization);
      expectRefusal(res, 'admin.unauthorized');
      expect(res.headers['www-authenticate']).toBe('Bearer realm="smart-auth", error="invalid_token"');
    }
  });

  it.each(endpoints)('%s answers 403 admin.not_configured when ADMIN_TOKEN is unset', async (_name, call) => {
    const open = await startTestServer({ env: { ADMIN_TOKEN: undefined } });
    try {
      const res = await call(open.app).set('Authorization', `Bearer ${ADMIN_TOKEN}`);
      expectRefusal(res, 'admin.not_configured');
    } finally {
      await open.close();
    }
  });

  it('the bearer scheme is case-insensitive', async () => {
    const res = await request(server.app).get('/clients/abc').set('Authorization', `bearer ${ADMIN_TOKEN}`);
    expectRefusal(res, 'client.not_found');
  });
});

describe('POST /register', () => {
  it('registers a client with a JWKS by value: 201, RFC 7591 shape, unguessable client_id', async () => {
    const res = await admin(request(server.app).post('/register')).send({
      client_name: 'bulk export',
      jwks: jwksOf(key),
      scope: 'system/Patient.rs  system/Observation.read',
    });
    expect(res.status).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = RegistrationResponseSchema.parse(res.body);
    expect(body).toEqual({
      client_id: expect.stringMatching(/^[A-Za-z0-9_-]{24,}$/),
      client_name: 'bulk export',
      jwks: jwksOf(key),
      scope: 'system/Patient.rs system/Observation.read',
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      client_id_issued_at: expect.any(Number),
      status: 'active',
    });
    expect(server.logs.find((l) => l.event === 'register' && l.client_id === body.client_id)).toMatchObject({
      key_source: 'jwks',
    });
  });

  it('registers a client with a jwks_uri (https, or http on loopback)', async () => {
    for (const jwks_uri of [
      'https://client.example/.well-known/jwks.json',
      'http://127.0.0.1:9/jwks.json',
      'http://localhost/jwks.json',
    ]) {
      const res = await admin(request(server.app).post('/register')).send({ jwks_uri, scope: 'system/*.rs' });
      expect(res.status).toBe(201);
      expect(res.body.jwks_uri).toBe(jwks_uri);
      expect(res.body.jwks).toBeUndefined();
    }
  });

  it('gives every client a different id', async () => {
    const ids = await Promise.all(
      Array.from({ length: 5 }, () =>
        register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' }),
      ),
    );
    expect(new Set(ids).size).toBe(5);
  });

  const invalid: Array<[string, () => unknown, ReasonCode]> = [
    [
      'both jwks and jwks_uri',
      () => ({ jwks: jwksOf(key), jwks_uri: 'https://c.example/jwks', scope: 'system/Patient.rs' }),
      'registration.jwks_source',
    ],
    ['neither jwks nor jwks_uri', () => ({ scope: 'system/Patient.rs' }), 'registration.jwks_source'],
    [
      'an http jwks_uri on a public host',
      () => ({ jwks_uri: 'http://client.example/jwks', scope: 'system/Patient.rs' }),
      'registration.jwks_uri_invalid',
    ],
    [
      'a jwks_uri with credentials',
      () => ({ jwks_uri: 'https://u:p@client.example/jwks', scope: 'system/Patient.rs' }),
      'registration.jwks_uri_invalid',
    ],
    [
      'a relative jwks_uri',
      () => ({ jwks_uri: '/jwks.json', scope: 'system/Patient.rs' }),
      'registration.jwks_uri_invalid',
    ],
    [
      'a patient/ scope',
      () => ({ jwks: jwksOf(key), scope: 'patient/Patient.rs' }),
      'registration.scope_invalid',
    ],
    [
      'a malformed scope',
      () => ({ jwks: jwksOf(key), scope: 'system/Patient.xyz' }),
      'registration.scope_invalid',
    ],
    ['no scope', () => ({ jwks: jwksOf(key) }), 'registration.invalid_metadata'],
    [
      'a private key',
      () => ({ jwks: { keys: [{ ...key.publicJwk, d: 'AAAA' }] }, scope: 'system/Patient.rs' }),
      'jwks.private_key',
    ],
    [
      'a key without kid',
      () => ({ jwks: { keys: [{ ...key.publicJwk, kid: undefined }] }, scope: 'system/Patient.rs' }),
      'jwks.kid_missing',
    ],
    [
      'an encryption key',
      () => ({ jwks: { keys: [{ ...key.publicJwk, use: 'enc' }] }, scope: 'system/Patient.rs' }),
      'jwks.use_not_sig',
    ],
    [
      'another auth method',
      () => ({
        jwks: jwksOf(key),
        scope: 'system/Patient.rs',
        token_endpoint_auth_method: 'client_secret_basic',
      }),
      'registration.invalid_metadata',
    ],
    [
      'another grant type',
      () => ({ jwks: jwksOf(key), scope: 'system/Patient.rs', grant_types: ['authorization_code'] }),
      'registration.invalid_metadata',
    ],
    ['a JSON array', () => [], 'registration.invalid_metadata'],
    [
      'an EC point that is not on its curve (REG-12, KEY-08)',
      () => ({
        jwks: { keys: [{ ...key.publicJwk, x: Buffer.alloc(48, 1).toString('base64url') }] },
        scope: 'system/Patient.rs',
      }),
      'jwks.ec_point_invalid',
    ],
  ];
  it.each(invalid)('refuses %s (invalid_client_metadata)', async (_name, body, reason) => {
    const res = await admin(request(server.app).post('/register')).send(body() as object);
    expectRefusal(res, reason);
    expect(res.body.error).toBe('invalid_client_metadata');
  });

  it('stores and serves only the public members it uses (x5c and other extras are dropped)', async () => {
    const extra = { ...key.publicJwk, x5c: ['MIIB'], x5t: 'abc', ext: true };
    const res = await admin(request(server.app).post('/register')).send({
      jwks: { keys: [extra] },
      scope: 'system/Patient.rs',
    });
    expect(res.status).toBe(201);
    expect(res.body.jwks).toEqual({ keys: [key.publicJwk] });
    expect((await admin(request(server.app).get(`/clients/${res.body.client_id}`))).body.jwks).toEqual({
      keys: [key.publicJwk],
    });
  });

  it('audits every administrative decision, refusals included, never with the admin secret', async () => {
    const before = server.logs.length;
    await request(server.app)
      .post('/register')
      .set('Authorization', 'Bearer wrong-admin-token-000000')
      .send({});
    await admin(request(server.app).post('/register')).send({ scope: 'system/Patient.rs' });
    await admin(request(server.app).get('/clients/nobody'));
    const lines = server.logs.slice(before);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          event: 'register',
          outcome: 'refused',
          status: 401,
          reason: 'admin.unauthorized',
        }),
        expect.objectContaining({
          event: 'register',
          outcome: 'refused',
          status: 400,
          reason: 'registration.jwks_source',
        }),
        expect.objectContaining({
          event: 'read_client',
          outcome: 'refused',
          status: 404,
          reason: 'client.not_found',
          client_id: 'nobody',
        }),
      ]),
    );
    expect(JSON.stringify(lines)).not.toContain('wrong-admin-token');
    expect(JSON.stringify(lines)).not.toContain(ADMIN_TOKEN);
  });

  it('refuses a body that is not JSON, not application/json, or too large', async () => {
    expectRefusal(
      await admin(request(server.app).post('/register'))
        .set('Content-Type', 'application/json')
        .send('{"scope":'),
      'request.malformed_body',
    );
    expectRefusal(
      await admin(request(server.app).post('/register')).type('form').send('scope=system/Patient.rs'),
      'request.unsupported_content_type',
    );
    const big = { jwks: jwksOf(key), scope: 'system/Patient.rs', client_name: 'x'.repeat(70 * 1024) };
    expectRefusal(await admin(request(server.app).post('/register')).send(big), 'request.body_too_large');
  });

  it('refuses GET /register with 405', async () => {
    expectRefusal(await admin(request(server.app).get('/register')), 'request.method_not_allowed');
  });
});

describe('GET and DELETE /clients/:id', () => {
  it('GET answers the registration; an unknown id is 404 client.not_found', async () => {
    const id = await register(server.app, {
      client_name: 'c',
      jwks: jwksOf(key),
      scope: 'system/Patient.rs',
    });
    const res = await admin(request(server.app).get(`/clients/${id}`));
    expect(res.status).toBe(200);
    expect(RegistrationResponseSchema.parse(res.body)).toMatchObject({
      client_id: id,
      status: 'active',
      scope: 'system/Patient.rs',
    });
    expectRefusal(await admin(request(server.app).get('/clients/nobody')), 'client.not_found');
  });

  it('DELETE disables the client: 200 with the record, its next token request is refused, idempotent', async () => {
    const id = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    expect((await postToken(server.app, tokenForm(await makeAssertion(id, key)))).status).toBe(200);
    const res = await admin(request(server.app).delete(`/clients/${id}`));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ client_id: id, status: 'disabled', disabled_at: expect.any(Number) });
    expectRefusal(await postToken(server.app, tokenForm(await makeAssertion(id, key))), 'client.disabled');
    server.clock.advance(5);
    const again = await admin(request(server.app).delete(`/clients/${id}`));
    expect(again.body.disabled_at).toBe(res.body.disabled_at);
    expect((await admin(request(server.app).get(`/clients/${id}`))).body.status).toBe('disabled');
    expect(server.logs.filter((l) => l.event === 'disable' && l.client_id === id)).toHaveLength(2);
    expectRefusal(await admin(request(server.app).delete('/clients/nobody')), 'client.not_found');
  });

  it('refuses other methods with 405', async () => {
    const res = await admin(request(server.app).put('/clients/abc'));
    expectRefusal(res, 'request.method_not_allowed');
    expect(res.headers['allow']).toBe('GET, DELETE');
  });
});

describe('POST /introspect (RFC 7662, SMART Token Introspection)', () => {
  let clientId: string;
  let accessToken: string;
  let tokenScope: string;

  beforeAll(async () => {
    clientId = await register(server.app, {
      jwks: jwksOf(key),
      scope: 'system/Patient.rs system/Observation.rs',
    });
    const res = await postToken(
      server.app,
      tokenForm(await makeAssertion(clientId, key, { now: server.clock.seconds() }), {
        scope: 'system/*.rs',
      }),
    );
    accessToken = res.body.access_token as string;
    tokenScope = res.body.scope as string;
  });

  const introspect = (token: string | undefined) =>
    admin(request(server.app).post('/introspect'))
      .type('form')
      .send(token === undefined ? '' : new URLSearchParams({ token }).toString());

  it('an active token: active, scope, client_id, exp, iat, sub, iss, aud, jti, token_type', async () => {
    const res = await introspect(accessToken);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      active: true,
      scope: tokenScope,
      client_id: clientId,
      sub: clientId,
      iss: PUBLIC_URL,
      aud: FHIR_BASE,
      exp: expect.any(Number),
      iat: expect.any(Number),
      jti: expect.any(String),
      token_type: 'Bearer',
    });
    expect(res.body.exp - res.body.iat).toBe(300);
  });

  it.each<[string, () => string | Promise<string>]>([
    ['garbage', () => 'invalid_token_value'],
    ['a tampered token', () => `${accessToken.slice(0, -4)}AAAA`],
    [
      'a token with a modified payload',
      () => {
        const [h, p, s] = accessToken.split('.') as [string, string, string];
        const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
        return `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'system/*.cruds' })).toString('base64url')}.${s}`;
      },
    ],
    ['a client assertion', () => makeAssertion(clientId, key)],
    [
      'a token signed by another server',
      async () => {
        const other = await generateKeyPair('ES256');
        return new SignJWT({ client_id: clientId, scope: 'system/Patient.rs' })
          .setProtectedHeader({ alg: 'ES256', kid: server.signingKeys.current().kid, typ: 'at+jwt' })
          .setIssuer(PUBLIC_URL)
          .setSubject(clientId)
          .setAudience(FHIR_BASE)
          .setIssuedAt()
          .setExpirationTime('5m')
          .setJti('x')
          .sign(other.privateKey);
      },
    ],
    [
      'a token of ours with another issuer',
      () =>
        new SignJWT({ client_id: clientId, scope: 'system/Patient.rs' })
          .setProtectedHeader({ alg: 'ES256', kid: server.signingKeys.current().kid, typ: 'at+jwt' })
          .setIssuer('https://evil.example')
          .setSubject(clientId)
          .setAudience(FHIR_BASE)
          .setIssuedAt()
          .setExpirationTime('5m')
          .setJti('x')
          .sign(server.signingKeys.current().signer.key),
    ],
    [
      'a token of ours with typ JWT',
      () =>
        new SignJWT({ client_id: clientId, scope: 'system/Patient.rs' })
          .setProtectedHeader({ alg: 'ES256', kid: server.signingKeys.current().kid, typ: 'JWT' })
          .setIssuer(PUBLIC_URL)
          .setSubject(clientId)
          .setAudience(FHIR_BASE)
          .setIssuedAt()
          .setExpirationTime('5m')
          .setJti('x')
          .sign(server.signingKeys.current().signer.key),
    ],
  ])('%s is {"active": false} and nothing else', async (_name, token) => {
    const res = await introspect(await token());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ active: false });
  });

  it('an expired token is inactive', async () => {
    const id = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    const res = await postToken(
      server.app,
      tokenForm(await makeAssertion(id, key, { now: server.clock.seconds() })),
    );
    expect((await introspect(res.body.access_token as string)).body.active).toBe(true);
    server.clock.advance(301);
    expect((await introspect(res.body.access_token as string)).body).toEqual({ active: false });
  });

  it('disabling a client deactivates its live tokens', async () => {
    const id = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
    const res = await postToken(
      server.app,
      tokenForm(await makeAssertion(id, key, { now: server.clock.seconds() })),
    );
    expect((await introspect(res.body.access_token as string)).body.active).toBe(true);
    await admin(request(server.app).delete(`/clients/${id}`));
    expect((await introspect(res.body.access_token as string)).body).toEqual({ active: false });
  });

  it('refuses a request without token (400) or with another content type', async () => {
    expectRefusal(await introspect(undefined), 'introspection.token_missing');
    expectRefusal(
      await admin(request(server.app).post('/introspect')).send({ token: accessToken }),
      'request.unsupported_content_type',
    );
  });
});
