import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BackendServicesClient,
  createClientAssertion,
  generateClientKeys,
  registerClient,
  type FhirResource,
} from '@smart-backend/client';
import { CLIENT_ASSERTION_TYPE } from '@smart-backend/protocol';
import { startStack, type Stack } from '../src/stack.js';

async function postToken(tokenUrl: string, assertion: string, scope: string) {
  const response = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: assertion,
    }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('restart persistence: both apps keep their state', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ fhirEnv: { SEED: 'false' } });
  }, 60_000);
  afterAll(async () => stack?.stop());

  it('clients, signing key, replay records and FHIR resources survive a restart of each app', async () => {
    const keys = await generateClientKeys({ alg: 'RS384' });
    const { client_id: clientId } = await registerClient({
      authUrl: stack.authUrl,
      adminToken: stack.adminToken,
      jwks: keys.jwks,
      scope: 'system/*.cruds',
    });
    const tokenUrl = `${stack.authUrl}/token`;
    const jwksBefore = (await (await fetch(`${stack.authUrl}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };

    const assertion = await createClientAssertion({ clientId, tokenUrl, key: keys.signingKey });
    const first = await postToken(tokenUrl, assertion, 'system/*.cruds');
    expect(first.status).toBe(200);
    const oldToken = first.body.access_token as string;

    const client = new BackendServicesClient({
      fhirBaseUrl: stack.fhirBase,
      clientId,
      privateKey: keys.privateKeyPem,
      scope: 'system/*.cruds',
    });
    const created = await client.create<FhirResource>({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'restart check' },
    });

    await stack.restartAuth();

    // The replay record survived: the same assertion is still refused.
    const replay = await postToken(tokenUrl, assertion, 'system/*.cruds');
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_client' } });
    expect(String(replay.body.error_description)).toMatch(/^assertion\.replayed/);
    // The client survived: a fresh assertion is accepted.
    const fresh = await postToken(
      tokenUrl,
      await createClientAssertion({ clientId, tokenUrl, key: keys.signingKey }),
      'system/*.cruds',
    );
    expect(fresh.status).toBe(200);
    // The signing key survived: same kid published, and the pre-restart token still verifies at the FHIR API.
    const jwksAfter = (await (await fetch(`${stack.authUrl}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(jwksAfter.keys.map((k) => k.kid)).toEqual(jwksBefore.keys.map((k) => k.kid));

    await stack.restartFhir();

    const read = await fetch(`${stack.fhirBase}/Observation/${created.id}`, {
      headers: { authorization: `Bearer ${oldToken}` },
    });
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({
      id: created.id,
      code: { text: 'restart check' },
      meta: { versionId: '1' },
    });
  }, 60_000);
});
