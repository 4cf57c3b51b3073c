import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  REASONS,
  REASON_CODES,
  parseBearerChallenge,
  reasonFromErrorDescription,
  type ReasonCode,
} from '@smart-backend/protocol';
import type { Response } from 'supertest';
import { newSigningKey, unsignedToken } from './support/fake-auth-server.js';
import {
  FHIR_BASE,
  FHIR_JSON,
  LAB,
  observation,
  patient,
  startTestApi,
  type TestApi,
} from './support/test-api.js';

/**
 * Header values are ASCII (RFC 9110 §5.5; RFC 6750 §3 narrows error_description to printable
 * ASCII without `"` and `\`). Every error path of the FHIR API that sets a header — the RFC 6750
 * challenges of every `token.*` refusal, Allow, Retry-After — and the success paths' Location,
 * ETag and Last-Modified answer printable ASCII only, and a challenge carries exactly the text of
 * the OperationOutcome, read back with the parser the client uses.
 */
let api: TestApi;
let down: TestApi;

const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  [api, down] = await Promise.all([startTestApi(), startTestApi()]);
  down.auth.jwksMode = 'unavailable';
  await api.store.createIfAbsent([
    { ...patient('One'), id: 'p1' } as never,
    { ...observation('vital-signs'), id: 'vital-1' } as never,
  ]);
}, 30_000);
afterAll(async () => {
  await Promise.all([api.close(), down.close()]);
});

type Send = (target: TestApi) => Promise<Response>;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const get = (path: string, token?: string): Send => {
  return (target) => {
    const req = target.http().get(path);
    return token === undefined ? req : req.set(bearer(token));
  };
};
const withToken =
  (path: string, mint: (target: TestApi) => Promise<string>): Send =>
  async (target) =>
    target
      .http()
      .get(path)
      .set(bearer(await mint(target)));

/** One request per refusal (and a few answers) that sets a header. */
const cases: Array<[title: string, expected: ReasonCode | number, send: Send, on?: 'down']> = [
  ['no Authorization header', 'token.missing', get('/fhir/Patient')],
  [
    'another scheme',
    'token.missing',
    (t) => t.http().get('/fhir/Patient').set('Authorization', 'Basic YTpi'),
  ],
  ['a token in the URL', 'token.in_query', get('/fhir/Patient?access_token=abc')],
  [
    'a token in a POST _search body',
    'token.in_query',
    async (t) =>
      t
        .http()
        .post('/fhir/Patient/_search')
        .set(bearer(await t.token()))
        .type('form')
        .send('access_token=abc'),
  ],
  ['junk', 'token.malformed', get('/fhir/Patient', 'not-a-jwt')],
  ['characters outside b64token', 'token.malformed', get('/fhir/Patient', 'a"b')],
  [
    'typ JWT',
    'token.wrong_type',
    withToken('/fhir/Patient', (t) => t.token(undefined, { header: { typ: 'JWT' } })),
  ],
  [
    'alg none',
    'token.alg_not_allowed',
    get(
      '/fhir/Patient',
      unsignedToken({ alg: 'none', typ: 'at+jwt', kid: 'k' }, { iss: 'x', exp: now() + 60 }),
    ),
  ],
  [
    'an unknown kid',
    'token.key_unknown',
    withToken('/fhir/Patient', async (t) => t.token(undefined, { key: await newSigningKey('ES256') })),
  ],
  [
    'a forged signature',
    'token.signature_invalid',
    withToken('/fhir/Patient', async (t) =>
      t.token(undefined, { key: await newSigningKey('ES256'), header: { kid: t.auth.key.kid } }),
    ),
  ],
  [
    'another issuer',
    'token.wrong_issuer',
    withToken('/fhir/Patient', (t) => t.token(undefined, { claims: { iss: 'https://other.example' } })),
  ],
  [
    'another audience',
    'token.wrong_audience',
    withToken('/fhir/Patient', (t) => t.auth.mint('https://other.example/fhir')),
  ],
  [
    'an expired token',
    'token.expired',
    withToken('/fhir/Patient', (t) => t.token(undefined, { claims: { exp: now() - 120, iat: now() - 400 } })),
  ],
  [
    'nbf in the future',
    'token.not_yet_valid',
    withToken('/fhir/Patient', (t) => t.token(undefined, { claims: { nbf: now() + 600 } })),
  ],
  [
    'no client_id claim',
    'token.claims_invalid',
    withToken('/fhir/Patient', (t) => t.token(undefined, { claims: { client_id: undefined } })),
  ],
  [
    'a scope without the interaction',
    'token.insufficient_scope',
    withToken('/fhir/Observation', (t) => t.token('system/Patient.rs')),
  ],
  [
    'a resource outside the query constraint',
    'token.constraint_not_met',
    withToken('/fhir/Observation/vital-1', (t) => t.token(`system/Observation.rs?category=${LAB}`)),
  ],
  [
    "the issuer's JWKS unreachable (503, Retry-After)",
    'token.issuer_unavailable',
    withToken('/fhir/Patient', (t) => t.token()),
    'down',
  ],
  [
    'a method not allowed (Allow)',
    'fhir.method_not_allowed',
    async (t) =>
      t
        .http()
        .patch('/fhir/Patient/p1')
        .set(bearer(await t.token())),
  ],
  ['an unknown resource type', 'fhir.unknown_resource_type', withToken('/fhir/Foo', (t) => t.token())],
  ['a resource that does not exist', 'fhir.not_found', withToken('/fhir/Patient/none', (t) => t.token())],
  [
    'a create (Location, ETag, Last-Modified)',
    201,
    async (t) =>
      t
        .http()
        .post('/fhir/Patient')
        .set(bearer(await t.token()))
        .set('Content-Type', FHIR_JSON)
        .send(patient('Header')),
  ],
  ['a read (ETag, Last-Modified)', 200, withToken('/fhir/Patient/p1', (t) => t.token())],
];

describe('every response header is printable ASCII; challenges carry the OperationOutcome text', () => {
  const seen = new Set<ReasonCode>();

  // Every row has four entries: with fewer, Jest would pass its `done` callback as `on`.
  const rows = cases.map(([title, expected, send, on]) => [title, expected, send, on ?? 'api'] as const);
  it.each(rows)('%s → %s', async (_title, expected, send, on) => {
    const res = await send(on === 'down' ? down : api);
    const diagnostics = (res.body as { issue?: Array<{ diagnostics?: string }> }).issue?.[0]?.diagnostics;
    const reason = reasonFromErrorDescription(diagnostics);
    if (typeof expected === 'number') {
      expect(res.status).toBe(expected);
    } else {
      expect({ status: res.status, reason }).toEqual({ status: REASONS[expected].status, reason: expected });
      seen.add(expected);
    }

    for (const [name, value] of Object.entries(res.headers)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        expect([name, item]).toEqual([name, expect.stringMatching(PRINTABLE_ASCII)]);
      }
    }

    const challenge = res.headers['www-authenticate'] as string | undefined;
    if (reason?.startsWith('token.') && res.status !== 503) {
      expect(challenge).toMatch(/^Bearer /);
      expect(parseBearerChallenge(challenge)).toEqual({
        realm: FHIR_BASE,
        error: REASONS[reason].error,
        errorDescription: diagnostics,
        ...(REASONS[reason].error === 'insufficient_scope' && { scope: expect.stringMatching(/^system\//) }),
      });
    } else {
      expect(challenge).toBeUndefined();
    }
  });

  it('the table covers every token.* reason in the catalogue', () => {
    const tokenReasons = [...seen].filter((code) => code.startsWith('token.'));
    expect(tokenReasons.sort()).toEqual(REASON_CODES.filter((code) => code.startsWith('token.')).sort());
  });
});
