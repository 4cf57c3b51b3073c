import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MAX_CLIENT_ID_LENGTH, type PublicJwks } from '@smart-backend/protocol';
import { decodeJwt } from 'jose';
import request from 'supertest';
import {
  ADMIN_TOKEN,
  expectRefusal,
  jwksOf,
  makeAssertion,
  makeClientKey,
  postToken,
  startTestServer,
  tokenForm,
  type ClientKey,
  type TestServer,
} from './helpers.js';

/**
 * Client ids of any length RFC 6749 §2.2 allows, up to 4 KiB (the SMART reference bulk-data
 * server issues JWTs of 557–831 characters as client ids). The ids this server issues are its own
 * and short; where it reads one (assertion iss/sub, the client_id parameter, /clients/:id,
 * introspection), a long one is looked up like any other, answered as unknown when it is, and never
 * echoed or logged unbounded.
 */

const b64 = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** An id shaped like the bulk-data server's (a JWS over the registration), `length` long. */
function jwtShapedClientId(length: number): string {
  const header = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const signature = b64(randomBytes(32));
  const room = length - header.length - signature.length - 2;
  const claims = b64(JSON.stringify({ jwks_url: 'https://c.example/jwks', filler: 'x'.repeat(room) })).slice(
    0,
    room,
  );
  return `${header}.${claims}.${signature}`;
}

let server: TestServer;
let key: ClientKey;
const longId = jwtShapedClientId(831);

beforeAll(async () => {
  server = await startTestServer();
  key = await makeClientKey('ES384');
  // Registration issues ids of this server's own making; a longer one can only come from the store
  // (a migration, another issuer's ids): put one there directly.
  await server.stores.clients.create({
    clientId: longId,
    jwks: jwksOf(key) as PublicJwks,
    scope: 'system/Patient.rs',
    createdAt: Math.floor(Date.now() / 1000),
    disabledAt: null,
  });
}, 30_000);
afterAll(() => server.close());

/** No slice of 32 characters of `id` appears in `text`. */
function expectNotEchoed(text: string, id: string): void {
  for (let i = 0; i + 32 <= id.length; i += 32) expect(text).not.toContain(id.slice(i, i + 32));
}

describe('assertions whose iss is a long client id', () => {
  it.each([
    ['257 characters', () => jwtShapedClientId(257)],
    ['831 characters', () => jwtShapedClientId(831)],
    [`${MAX_CLIENT_ID_LENGTH} characters`, () => 'c'.repeat(MAX_CLIENT_ID_LENGTH)],
  ])('an unregistered iss of %s is client.unknown, not echoed, logged bounded', async (_, id) => {
    const clientId = id();
    const res = await postToken(server.app, tokenForm(await makeAssertion(clientId, key)));
    expectRefusal(res, 'client.unknown');
    expectNotEchoed(JSON.stringify(res.body), clientId);
    const line = server.logs.filter((l) => l.event === 'token').at(-1)!;
    expect(line).toMatchObject({ outcome: 'refused', reason: 'client.unknown' });
    expect(String(line.client_id).length).toBeLessThanOrEqual(257);
  });

  it(`an iss over ${MAX_CLIENT_ID_LENGTH} characters is refused as an invalid iss, not echoed`, async () => {
    const clientId = 'c'.repeat(MAX_CLIENT_ID_LENGTH + 1);
    const res = await postToken(server.app, tokenForm(await makeAssertion(clientId, key)));
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_client');
    expect(res.body.error_description).toMatch(/^assertion\.iss_\w+: claim iss: /);
    expect(JSON.stringify(res.body)).not.toContain('c'.repeat(64));
  });

  it('a long client_id parameter that differs from iss is client_id_mismatch, not echoed', async () => {
    const other = jwtShapedClientId(831);
    const res = await postToken(
      server.app,
      tokenForm(await makeAssertion(longId, key), { client_id: other }),
    );
    expectRefusal(res, 'assertion.client_id_mismatch');
    expectNotEchoed(JSON.stringify(res.body), other);
    expectNotEchoed(JSON.stringify(res.body), longId);
  });
});

describe('a registered client whose id is 831 characters', () => {
  it('gets a token (with and without the client_id parameter) carrying that id as sub and client_id', async () => {
    for (const extra of [{}, { client_id: longId }] as Array<Record<string, string>>) {
      const res = await postToken(server.app, tokenForm(await makeAssertion(longId, key), extra));
      expect(res.status).toBe(200);
      expect(decodeJwt(res.body.access_token as string)).toMatchObject({ sub: longId, client_id: longId });
    }
  });

  it('introspects as active, answers GET /clients/:id, and is refused as client.disabled once disabled', async () => {
    const granted = await postToken(server.app, tokenForm(await makeAssertion(longId, key)));
    const introspection = await request(server.app)
      .post('/introspect')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .type('form')
      .send({ token: granted.body.access_token as string });
    expect(introspection.body).toMatchObject({ active: true, client_id: longId, sub: longId });

    const path = `/clients/${encodeURIComponent(longId)}`;
    const read = await request(server.app).get(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    expect(read.status).toBe(200);
    expect(read.body.client_id).toBe(longId);

    const disabled = await request(server.app).delete(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    expect(disabled.status).toBe(200);
    const refused = await postToken(server.app, tokenForm(await makeAssertion(longId, key)));
    expectRefusal(refused, 'client.disabled');
  });
});
