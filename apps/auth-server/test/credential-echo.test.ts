import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseBearerChallenge } from '@smart-backend/protocol';
import request, { type Response } from 'supertest';
import { waitFor } from './backends.js';
import {
  ADMIN_TOKEN,
  jwksOf,
  makeAssertion,
  makeClientKey,
  register,
  startTestServer,
  tokenForm,
  type ClientKey,
  type TestServer,
} from './helpers.js';

/**
 * No credential, or any part of one, is ever echoed or logged (the token endpoint used to put the
 * first 16 characters of a scheme-less Authorization header into error_description and the log).
 * Authorization headers of every shape carry a marker; no response header, body or log line of
 * any endpoint that reads the header — /token, /register, /clients/:id, /introspect, with and
 * without ADMIN_TOKEN — may contain the marker or any 4+ character slice of it. Every slice holds
 * a "~", which nothing the server writes on its own does, so a match can only be an echo. The
 * same requests check that every response header value is printable ASCII (RFC 9110 §5.5).
 */
const MARKER = 'Mk~Zq~Wv~Xy~Pj~Rt~Lb~';
const SLICES = Array.from({ length: MARKER.length - 3 }, (_, start) =>
  Array.from({ length: MARKER.length - start - 3 }, (_, extra) => MARKER.slice(start, start + 4 + extra)),
).flat();
const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;

const AUTHORIZATION_SHAPES: Array<[title: string, value: string]> = [
  ['no scheme', MARKER],
  ['no scheme, two words', `${MARKER} ${MARKER}`],
  ['Bearer', `Bearer ${MARKER}`],
  ['bearer with extra spaces', `bearer   ${MARKER}  `],
  ['Bearer, the admin token with the marker appended', `Bearer ${ADMIN_TOKEN}${MARKER}`],
  ['Bearer, the admin token and a second word', `Bearer ${ADMIN_TOKEN} ${MARKER}`],
  ['Basic', `Basic ${MARKER}`],
  ['Basic, base64 of client:secret', `Basic ${Buffer.from(`client:${MARKER}`).toString('base64')}`],
  ['DPoP', `DPoP ${MARKER}`],
  ['an unknown scheme', `${MARKER}Scheme credentials`],
  ['junk with separators', `${MARKER}, ${MARKER}="${MARKER}"; ${MARKER}`],
];

let server: TestServer;
let closed: TestServer;
let key: ClientKey;
let clientId: string;

beforeAll(async () => {
  [server, closed] = await Promise.all([
    startTestServer(),
    startTestServer({ env: { ADMIN_TOKEN: undefined } }),
  ]);
  key = await makeClientKey('ES384');
  clientId = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
}, 60_000);
afterAll(async () => {
  await Promise.all([server.close(), closed.close()]);
});

type Send = (target: TestServer, authorization: string) => Promise<Response>;

/** Admin audit lines are written when the response finishes: wait for the line, not for a time. */
async function newLogLine(logs: readonly unknown[], before: number): Promise<void> {
  await waitFor(() => logs.length > before, 5);
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

/** Each endpoint, whether it writes an audit line for the request, and how to call it. */
const ENDPOINTS: Array<[title: string, logged: boolean, send: Send]> = [
  [
    'POST /token with a valid assertion',
    true,
    async (t, a) =>
      request(t.app)
        .post('/token')
        .set('Authorization', a)
        .type('form')
        .send(form(tokenForm(await makeAssertion(clientId, key)))),
  ],
  [
    'POST /token with a junk assertion',
    true,
    async (t, a) =>
      request(t.app)
        .post('/token')
        .set('Authorization', a)
        .type('form')
        .send(form(tokenForm('x.y.z'))),
  ],
  [
    'POST /token with no assertion',
    true,
    async (t, a) =>
      request(t.app)
        .post('/token')
        .set('Authorization', a)
        .type('form')
        .send('grant_type=client_credentials'),
  ],
  ['GET /token', true, async (t, a) => request(t.app).get('/token').set('Authorization', a)],
  [
    'POST /register',
    true,
    async (t, a) =>
      request(t.app)
        .post('/register')
        .set('Authorization', a)
        .send({ jwks: jwksOf(key), scope: 'system/Patient.rs' }),
  ],
  [
    'GET /clients/:id',
    true,
    async (t, a) => request(t.app).get(`/clients/${clientId}`).set('Authorization', a),
  ],
  [
    'DELETE /clients/:id',
    true,
    async (t, a) => request(t.app).delete(`/clients/${clientId}`).set('Authorization', a),
  ],
  [
    'POST /introspect',
    true,
    async (t, a) => request(t.app).post('/introspect').set('Authorization', a).type('form').send('token=abc'),
  ],
  ['PUT /introspect', true, async (t, a) => request(t.app).put('/introspect').set('Authorization', a)],
  [
    'GET /.well-known/smart-configuration',
    false,
    async (t, a) => request(t.app).get('/.well-known/smart-configuration').set('Authorization', a),
  ],
  ['GET /elsewhere', false, async (t, a) => request(t.app).get('/elsewhere').set('Authorization', a)],
];

function echoedSlices(text: string): string[] {
  const lower = text.toLowerCase();
  return SLICES.filter((slice) => lower.includes(slice.toLowerCase()));
}

describe('no part of an Authorization header is echoed or logged; header values are ASCII', () => {
  describe.each([
    ['with ADMIN_TOKEN', () => server],
    ['without ADMIN_TOKEN', () => closed],
  ])('%s', (_label, target) => {
    it.each(ENDPOINTS)('%s', async (_title, logged, send) => {
      for (const [shape, authorization] of AUTHORIZATION_SHAPES) {
        const logs = target().logs;
        const before = logs.length;
        const res = await send(target(), authorization);
        expect(res.status).toBeGreaterThanOrEqual(200);
        if (logged) await newLogLine(logs, before);
        const written = [
          JSON.stringify(res.headers),
          res.text,
          ...logs.slice(before).map((line) => JSON.stringify(line)),
        ].join('\n');
        expect({ shape, echoed: echoedSlices(written) }).toEqual({ shape, echoed: [] });
        for (const [name, value] of Object.entries(res.headers)) {
          for (const item of Array.isArray(value) ? value : [value]) {
            expect([name, item]).toEqual([name, expect.stringMatching(PRINTABLE_ASCII)]);
          }
        }
      }
    });
  });

  it('the admin challenge reads back with the client parser: realm, and invalid_token only when a token was sent', async () => {
    const none = await request(server.app).get(`/clients/${clientId}`);
    expect(none.status).toBe(401);
    expect(parseBearerChallenge(none.headers['www-authenticate'] as string)).toEqual({ realm: 'smart-auth' });
    const wrong = await request(server.app)
      .get(`/clients/${clientId}`)
      .set('Authorization', `Bearer ${MARKER}`);
    expect(parseBearerChallenge(wrong.headers['www-authenticate'] as string)).toEqual({
      realm: 'smart-auth',
      error: 'invalid_token',
    });
  });

  it('the check can fail: a marker in the URL path (not a credential) is echoed and found', async () => {
    const res = await request(server.app).get(`/elsewhere/${MARKER}`);
    expect(echoedSlices(res.text)).toContain(MARKER);
  });
});
