import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { base64url } from 'jose';
import { pino } from 'pino';
import type { Response } from 'supertest';
import { signRawEs256 } from './support/fake-auth-server.js';
import { FHIR_BASE, FHIR_JSON, patient, startTestApi, type TestApi } from './support/test-api.js';

/**
 * No credential, or any part of one, is ever echoed or logged. Authorization headers of every
 * shape — no scheme, other schemes, junk, and JWTs whose decoded header or claims carry it — hold a
 * marker; no response header, body or log line of any endpoint may contain the marker or any 4+
 * character slice of it. Every slice holds a "~", which nothing the server writes on its own does,
 * so a match can only be an echo.
 */
const MARKER = 'Mk~Zq~Wv~Xy~Pj~Rt~Lb~';
const SLICES = Array.from({ length: MARKER.length - 3 }, (_, start) =>
  Array.from({ length: MARKER.length - start - 3 }, (_, extra) => MARKER.slice(start, start + 4 + extra)),
).flat();

const logLines: string[] = [];
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({
    logger: pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) }),
  });
  await api.store.createIfAbsent([{ ...patient('Echo'), id: 'p1' } as never]);
});
afterAll(async () => {
  await api.close();
});

const now = () => Math.floor(Date.now() / 1000);
const encode = (value: unknown) => base64url.encode(JSON.stringify(value));

/** Authorization header values, each carrying the marker somewhere. */
async function authorizationHeaders(): Promise<Array<[title: string, value: string]>> {
  const claims = {
    iss: api.auth.url,
    aud: FHIR_BASE,
    sub: 'c',
    client_id: 'c',
    scope: 'system/*.rs',
    exp: now() + 60,
    iat: now(),
    jti: 'j',
  };
  const kid = api.auth.key.kid;
  return [
    ['no scheme', MARKER],
    ['no scheme, two words', `${MARKER} ${MARKER}`],
    ['Bearer', `Bearer ${MARKER}`],
    ['bearer with extra spaces', `bearer   ${MARKER}  `],
    ['Bearer with a second word', `Bearer abc ${MARKER}`],
    ['Basic', `Basic ${MARKER}`],
    ['DPoP', `DPoP ${MARKER}`],
    ['an unknown scheme', `${MARKER}Scheme credentials`],
    ['three segments of junk', `Bearer ${MARKER}.${MARKER}.${MARKER}`],
    [
      'a JWT whose alg is the marker',
      `Bearer ${encode({ alg: MARKER, typ: 'at+jwt', kid })}.${encode(claims)}.AAAA`,
    ],
    [
      'a JWT whose typ is the marker',
      `Bearer ${encode({ alg: 'ES256', typ: MARKER, kid })}.${encode(claims)}.AAAA`,
    ],
    [
      'a JWT whose kid is the marker',
      `Bearer ${encode({ alg: 'ES256', typ: 'at+jwt', kid: MARKER })}.${encode(claims)}.AAAA`,
    ],
    [
      'a JWT whose iss is the marker',
      `Bearer ${encode({ alg: 'ES256', typ: 'at+jwt', kid })}.${encode({ ...claims, iss: MARKER })}.AAAA`,
    ],
    [
      'a JWT whose aud is the marker',
      `Bearer ${encode({ alg: 'ES256', typ: 'at+jwt', kid })}.${encode({ ...claims, aud: MARKER })}.AAAA`,
    ],
    [
      'a signed JWT with the marker as a critical header',
      `Bearer ${await signRawEs256({ alg: 'ES256', typ: 'at+jwt', kid, crit: [MARKER], [MARKER]: 1 }, claims, api.auth.key)}`,
    ],
    [
      'a signed JWT with the marker as aud',
      `Bearer ${await signRawEs256({ alg: 'ES256', typ: 'at+jwt', kid }, { ...claims, aud: MARKER }, api.auth.key)}`,
    ],
    // A verified token's client_id is the caller's identity, logged by design; its scope is not.
    [
      'a signed JWT with the marker as scope and jti',
      `Bearer ${await signRawEs256({ alg: 'ES256', typ: 'at+jwt', kid }, { ...claims, scope: MARKER, jti: MARKER }, api.auth.key)}`,
    ],
  ];
}

type Send = (authorization: string) => Promise<Response>;
const ENDPOINTS: Array<[title: string, send: Send]> = [
  ['GET /fhir/Patient', (a) => api.http().get('/fhir/Patient').set('Authorization', a)],
  ['GET /fhir/Patient/p1', (a) => api.http().get('/fhir/Patient/p1').set('Authorization', a)],
  [
    'GET /fhir/Patient/p1/_history/1',
    (a) => api.http().get('/fhir/Patient/p1/_history/1').set('Authorization', a),
  ],
  [
    'POST /fhir/Patient',
    (a) =>
      api.http().post('/fhir/Patient').set('Authorization', a).set('Content-Type', FHIR_JSON).send(patient()),
  ],
  [
    'PUT /fhir/Patient/p1',
    (a) =>
      api
        .http()
        .put('/fhir/Patient/p1')
        .set('Authorization', a)
        .set('Content-Type', FHIR_JSON)
        .send({ ...patient(), id: 'p1' }),
  ],
  ['DELETE /fhir/Patient/p1', (a) => api.http().delete('/fhir/Patient/p1').set('Authorization', a)],
  [
    'POST /fhir/Patient/_search',
    (a) => api.http().post('/fhir/Patient/_search').set('Authorization', a).type('form').send('name=x'),
  ],
  ['PATCH /fhir/Patient/p1', (a) => api.http().patch('/fhir/Patient/p1').set('Authorization', a)],
  ['GET /fhir/Foo', (a) => api.http().get('/fhir/Foo').set('Authorization', a)],
  ['GET /fhir/metadata', (a) => api.http().get('/fhir/metadata').set('Authorization', a)],
  [
    'GET /fhir/.well-known/smart-configuration',
    (a) => api.http().get('/fhir/.well-known/smart-configuration').set('Authorization', a),
  ],
  [
    'GET /fhir/Patient?access_token=x',
    (a) => api.http().get('/fhir/Patient?access_token=x').set('Authorization', a),
  ],
  ['GET /elsewhere', (a) => api.http().get('/elsewhere').set('Authorization', a)],
];

/** The request log line is written when the response finishes: wait for it, not for a time. */
async function requestLogged(): Promise<void> {
  while (!logLines.some((line) => line.includes('"msg":"request"'))) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function echoedSlices(text: string): string[] {
  const lower = text.toLowerCase();
  return SLICES.filter((slice) => lower.includes(slice.toLowerCase()));
}

describe('no part of an Authorization header is echoed or logged (every endpoint, every shape)', () => {
  it.each(ENDPOINTS)('%s', async (_title, send) => {
    for (const [shape, authorization] of await authorizationHeaders()) {
      logLines.length = 0;
      const res = await send(authorization);
      expect(res.status).toBeGreaterThanOrEqual(200);
      await requestLogged();
      const written = [JSON.stringify(res.headers), res.text, ...logLines].join('\n');
      expect({ shape, echoed: echoedSlices(written) }).toEqual({ shape, echoed: [] });
    }
  });

  it('the check can fail: a marker in the URL path (not a credential) is echoed and found', async () => {
    logLines.length = 0;
    const res = await api.http().get(`/elsewhere/${MARKER}`);
    await requestLogged();
    expect(echoedSlices(res.text)).toContain(MARKER);
    expect(echoedSlices(logLines.join('\n'))).toContain(MARKER);
  });
});
