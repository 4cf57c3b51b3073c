import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ReasonCode } from '@smart-backend/protocol';
import { decodeJwt } from 'jose';
import {
  FHIR_BASE,
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

/**
 * RFC 8707 §2 at the token endpoint: `resource` (any number of times) must name this server's FHIR
 * base (FHIR_BASE_URL, the audience of every token) — else `invalid_target`, never silently
 * ignored. Every other parameter still appears at most once.
 */
let server: TestServer;
let key: ClientKey;
let clientId: string;

beforeAll(async () => {
  server = await startTestServer();
  key = await makeClientKey('ES384');
  clientId = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
}, 60_000);
afterAll(() => server.close());

/** A token request with the given resource values (in order), plus `extra` form text. */
async function requestWith(resources: readonly string[], extra = '') {
  const form = new URLSearchParams(tokenForm(await makeAssertion(clientId, key)));
  for (const resource of resources) form.append('resource', resource);
  return postToken(server.app, `${form.toString()}${extra}`);
}

describe('resource indicators (RFC 8707)', () => {
  it.each<[title: string, resources: string[]]>([
    ['no resource: the FHIR base by default', []],
    ['the FHIR base', [FHIR_BASE]],
    ['the FHIR base with a trailing slash', [`${FHIR_BASE}/`]],
    ['scheme and host in upper case', ['HTTP://FHIR.TEST/fhir']],
    ['the default port and a percent-encoded unreserved character', ['http://fhir.test:80/%66hir']],
    ['the FHIR base twice, spelled two ways', [FHIR_BASE, 'http://FHIR.test/fhir/']],
    ['an empty resource (RFC 6749 §3.1: treated as omitted)', ['']],
  ])('%s: granted, with aud = the FHIR base', async (_title, resources) => {
    const res = await requestWith(resources);
    expect(res.status).toBe(200);
    expect(decodeJwt(res.body.access_token as string).aud).toBe(FHIR_BASE);
  });

  it.each<[title: string, resources: string[], reason: ReasonCode]>([
    ['another server', ['https://other.example/fhir'], 'resource.unknown'],
    ['another path on this host', ['http://fhir.test/other'], 'resource.unknown'],
    ['a resource below the base', [`${FHIR_BASE}/Patient`], 'resource.unknown'],
    ['the path in another case', ['http://fhir.test/FHIR'], 'resource.unknown'],
    ['https instead of http', ['https://fhir.test/fhir'], 'resource.unknown'],
    ['a query', [`${FHIR_BASE}?x=1`], 'resource.unknown'],
    ['user information', ['http://me@fhir.test/fhir'], 'resource.unknown'],
    ['the base, then another server', [FHIR_BASE, 'https://other.example/fhir'], 'resource.unknown'],
    ['another server, then the base', ['https://other.example/fhir', FHIR_BASE], 'resource.unknown'],
    ['a relative reference', ['/fhir'], 'resource.invalid'],
    ['a fragment', [`${FHIR_BASE}#x`], 'resource.invalid'],
    ['spaces', [`${FHIR_BASE} `], 'resource.invalid'],
    ['the base, then a malformed one', [FHIR_BASE, 'not a uri'], 'resource.invalid'],
  ])('%s: 400 invalid_target (%s), no token', async (_title, resources, reason) => {
    const res = await requestWith(resources);
    expectRefusal(res, reason);
    expect(res.body.error).toBe('invalid_target');
  });

  it('only resource may repeat: a repeated grant_type or scope beside it is still refused', async () => {
    for (const extra of ['&grant_type=client_credentials', '&scope=system%2FPatient.rs']) {
      expectRefusal(await requestWith([FHIR_BASE, FHIR_BASE], extra), 'request.repeated_parameter');
    }
  });

  it('a resource is judged only for an authenticated client (an assertion that fails is invalid_client)', async () => {
    const form = new URLSearchParams(tokenForm('not.a.jwt'));
    form.append('resource', 'https://other.example/fhir');
    expectRefusal(await postToken(server.app, form.toString()), 'assertion.malformed');
  });
});
