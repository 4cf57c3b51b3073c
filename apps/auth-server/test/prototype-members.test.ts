import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ReasonCode } from '@smart-backend/protocol';
import request from 'supertest';
import {
  ADMIN_TOKEN,
  expectRefusal,
  jwksOf,
  makeAssertion,
  makeClientKey,
  postToken,
  register,
  signRaw,
  startJwksHost,
  startTestServer,
  tokenForm,
  TOKEN_URL,
  type ClientKey,
  type JwksHost,
  type TestServer,
} from './helpers.js';

/**
 * What is checked must be exactly what is stored and used, whatever the member names. JSON.parse
 * keeps `"__proto__"` as an own member; zod drops it silently and `out[name] = value` turns it into
 * a prototype, so every place that reads client JSON — registration bodies, JWKS by value and from
 * a jwks_uri, assertion headers and claims — refuses members named `__proto__`, `constructor` or
 * `prototype` at any depth. Form-encoded places (the token endpoint, introspection) and path
 * parameters (the admin API) hold names in Maps and strings: those names are ordinary there.
 *
 * Every JSON text here is written by hand: `JSON.stringify({ ['__proto__']: x })` of an object
 * literal would not produce the member.
 */
let server: TestServer;
let host: JwksHost;
let key: ClientKey;
let clientId: string;
let hostPath = 0;

beforeAll(async () => {
  [server, host, key] = await Promise.all([startTestServer(), startJwksHost(), makeClientKey('ES384')]);
  clientId = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
}, 60_000);
afterAll(async () => {
  await Promise.all([server.close(), host.close()]);
});

const NAMES = ['__proto__', 'constructor', 'prototype', '\\u005f_proto__'] as const;

/**
 * JSON texts with placeholders filled in once the key and client exist: `$KEY$` is the members of
 * the client's public JWK (so `{$KEY$}` is the key), `$N$` the member name under test.
 */
function fill(text: string, name: string): string {
  return text
    .replaceAll('$KEY$', JSON.stringify(key.publicJwk).slice(1, -1))
    .replaceAll('$KID$', key.kid)
    .replaceAll('$CLIENT$', clientId)
    .replaceAll('$AUD$', TOKEN_URL)
    .replaceAll('$EXP$', String(Math.floor(Date.now() / 1000) + 60))
    .replaceAll('$JTI$', randomUUID())
    .replaceAll('$N$', name);
}
const rowsOf = <T extends unknown[]>(places: Array<[where: string, ...texts: T]>) =>
  NAMES.flatMap((name) =>
    places.map(([where, ...texts]) => [name, where, ...texts] as [string, string, ...T]),
  );

describe('registration bodies and JWKS by value', () => {
  const places: Array<[where: string, body: string]> = [
    [
      'top level',
      '{"$N$":{"jwks_uri":"http://evil.example/"},"jwks":{"keys":[{$KEY$}]},"scope":"system/*.rs"}',
    ],
    ['in jwks', '{"jwks":{"keys":[{$KEY$}],"$N$":{"keys":[]}},"scope":"system/Patient.rs"}'],
    ['in a key', '{"jwks":{"keys":[{$KEY$,"$N$":{"d":"AAAA"}}]},"scope":"system/Patient.rs"}'],
    ['deep in a key', '{"jwks":{"keys":[{$KEY$,"extra":[{"y":{"$N$":1}}]}]},"scope":"system/Patient.rs"}'],
    ['in an unknown member', '{"jwks":{"keys":[{$KEY$}]},"scope":"system/Patient.rs","extra":{"$N$":[]}}'],
  ];
  const registerText = (body: string) =>
    request(server.app)
      .post('/register')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .set('Content-Type', 'application/json')
      .send(body);

  it.each(rowsOf(places))(
    'a member named %s (%s) is refused: 400, nothing registered',
    async (name, _where, body) => {
      const res = await registerText(fill(body, name));
      expectRefusal(res, 'registration.invalid_metadata');
      expect(res.body.client_id).toBeUndefined();
    },
  );

  it('the same body without the member registers, and stores what was checked', async () => {
    const res = await registerText(
      fill('{"jwks":{"keys":[{$KEY$,"extra":[{"y":{"proto":1}}]}]},"scope":"system/Patient.rs"}', ''),
    );
    expect(res.status).toBe(201);
    // What is stored is what was checked, minus the members a key is not stored with.
    expect(res.body.jwks).toEqual(jwksOf(key));
  });
});

describe('JWKS documents fetched from a jwks_uri', () => {
  const places: Array<[where: string, document: string]> = [
    ['top level', '{"keys":[{$KEY$}],"$N$":{"keys":[]}}'],
    ['in a key', '{"keys":[{$KEY$,"$N$":{"kid":"other"}}]}'],
    ['deep in a key', '{"keys":[{$KEY$,"extra":{"y":[{"$N$":null}]}}]}'],
  ];
  const clientServing = async (text: string) => {
    const path = `/proto${++hostPath}/jwks.json`;
    host.handle(path, (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(text));
    return register(server.app, { jwks_uri: `${host.base}${path}`, scope: 'system/Patient.rs' });
  };

  it.each(rowsOf(places))(
    'a member named %s (%s) makes the JWKS unacceptable: client.jwks_invalid',
    async (name, _where, document) => {
      const id = await clientServing(fill(document, name));
      const res = await postToken(server.app, tokenForm(await makeAssertion(id, key)));
      expectRefusal(res, 'client.jwks_invalid');
      expect(res.body.error_description).toContain('jwks.malformed');
    },
  );

  it('the same document without the member is used', async () => {
    const id = await clientServing(fill('{"keys":[{$KEY$,"extra":{"y":[{"proto":null}]}}]}', ''));
    expect((await postToken(server.app, tokenForm(await makeAssertion(id, key)))).status).toBe(200);
  });
});

describe('assertion headers and claims (strict compact JWS parser)', () => {
  const HEADER = '{"alg":"ES384","kid":"$KID$","typ":"JWT"';
  const CLAIMS = '{"iss":"$CLIENT$","sub":"$CLIENT$","aud":"$AUD$","exp":$EXP$,"jti":"$JTI$"';
  const places: Array<[where: string, header: string, claims: string]> = [
    ['header, top level', `${HEADER},"$N$":{"alg":"none","jku":"http://evil.example/"}}`, `${CLAIMS}}`],
    ['header, nested', `${HEADER},"extra":{"y":[{"$N$":1}]}}`, `${CLAIMS}}`],
    ['claims, top level', `${HEADER}}`, `${CLAIMS},"$N$":{"iss":"someone-else"}}`],
    ['claims, nested', `${HEADER}}`, `${CLAIMS},"cnf":{"jwk":{"$N$":{}}}}`],
  ];
  it.each(rowsOf(places))(
    'a member named %s (%s) is refused: assertion.malformed',
    async (name, _where, h, c) => {
      const assertion = await signRaw(fill(h, name), fill(c, name), key);
      expectRefusal(await postToken(server.app, tokenForm(assertion)), 'assertion.malformed');
    },
  );

  it('the same assertion without the member is granted', async () => {
    const assertion = await signRaw(fill(`${HEADER},"extra":{"y":[1]}}`, ''), fill(`${CLAIMS}}`, ''), key);
    expect((await postToken(server.app, tokenForm(assertion))).status).toBe(200);
  });
});

describe('form-encoded and path places: the names are ordinary strings', () => {
  it.each<[name: string]>([['__proto__'], ['constructor'], ['prototype'], ['hasOwnProperty']])(
    'a token request with a parameter named %s is judged on its real parameters',
    async (name) => {
      const form = `${new URLSearchParams(tokenForm(await makeAssertion(clientId, key))).toString()}&${name}=x`;
      expect((await postToken(server.app, form)).status).toBe(200);
      const twice = `${new URLSearchParams(tokenForm(await makeAssertion(clientId, key))).toString()}&${name}=x&${name}=y`;
      expectRefusal(await postToken(server.app, twice), 'request.repeated_parameter');
    },
  );

  it('introspection reads token from a Map: __proto__, constructor and prototype parameters change nothing', async () => {
    const granted = await postToken(server.app, tokenForm(await makeAssertion(clientId, key)));
    const accessToken = granted.body.access_token as string;
    const introspect = (body: string) =>
      request(server.app)
        .post('/introspect')
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .type('form')
        .send(body);
    const active = await introspect(`__proto__=x&constructor=y&prototype=z&token=${accessToken}`);
    expect(active.body).toMatchObject({ active: true, client_id: clientId });
    const missing = await introspect('__proto__=x&constructor[token]=y');
    expectRefusal(missing, 'introspection.token_missing' as ReasonCode);
  });

  it('introspection of a token whose header hides kid under __proto__: inactive', async () => {
    const granted = await postToken(server.app, tokenForm(await makeAssertion(clientId, key)));
    const [, payload, signature] = (granted.body.access_token as string).split('.');
    const kid = server.signingKeys.current().kid;
    const forgedHeader = Buffer.from(`{"alg":"ES256","typ":"at+jwt","__proto__":{"kid":"${kid}"}}`).toString(
      'base64url',
    );
    const res = await request(server.app)
      .post('/introspect')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .type('form')
      .send(`token=${forgedHeader}.${payload}.${signature}`);
    expect(res.body).toEqual({ active: false });
  });

  it.each([['__proto__'], ['constructor'], ['prototype'], ['toString']])(
    'the admin API with client id %s: 404 client.not_found, never a 500',
    async (id) => {
      const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
      expectRefusal(await request(server.app).get(`/clients/${id}`).set(admin), 'client.not_found');
      expectRefusal(await request(server.app).delete(`/clients/${id}`).set(admin), 'client.not_found');
    },
  );
});
