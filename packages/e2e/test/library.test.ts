import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BackendServicesClient,
  FhirRequestError,
  TokenRequestError,
  generateClientKeys,
  registerClient,
  type FhirResource,
} from '@smart-backend/client';
import { decodeJwt } from 'jose';
import { startStack, type Stack } from '../src/stack.js';

const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
const CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/observation-category';

interface Observation extends FhirResource {
  category?: Array<{ coding?: Array<{ system?: string; code?: string }> }>;
}

const categoryCodes = (o: Observation) =>
  (o.category ?? [])
    .flatMap((c) => c.coding ?? [])
    .filter((c) => c.system === CATEGORY_SYSTEM)
    .map((c) => c.code);

describe('the client library against both apps', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  }, 60_000);
  afterAll(async () => stack?.stop());

  async function newClient(options: { alg?: 'RS384' | 'ES384'; registered: string; requested?: string }) {
    const keys = await generateClientKeys({ alg: options.alg ?? 'ES384' });
    const registration = await registerClient({
      authUrl: stack.authUrl,
      adminToken: stack.adminToken,
      jwks: keys.jwks,
      scope: options.registered,
    });
    const client = new BackendServicesClient({
      fhirBaseUrl: stack.fhirBase,
      clientId: registration.client_id,
      privateKey: keys.privateKeyPem,
      scope: options.requested ?? options.registered,
    });
    return { client, clientId: registration.client_id, keys };
  }

  it.each([
    ['RS384', 'system/Patient.read', 'system/Patient.read'],
    ['ES384', 'system/Patient.read', 'system/Patient.read'],
    ['RS384', 'system/Patient.rs', 'system/Patient.rs'],
    ['ES384', 'system/*.rs', 'system/*.rs'],
  ] as const)('%s client with %s is granted %s and can read and search', async (alg, scope, granted) => {
    const { client } = await newClient({ alg, registered: scope });
    const token = await client.getToken();
    expect(token.scope).toBe(granted);
    const page = await client.searchPages('Patient', { _count: '5' }).next();
    const bundle = page.value as { entry: Array<{ resource: FhirResource }>; total: number };
    expect(bundle.entry).toHaveLength(5);
    const first = bundle.entry[0]!.resource;
    await expect(client.read('Patient', first.id!)).resolves.toMatchObject({
      resourceType: 'Patient',
      id: first.id,
    });
  });

  it('a query-constrained scope sees laboratory Observations and no vital signs', async () => {
    const { client } = await newClient({ registered: `system/Observation.rs?category=${LAB}` });
    expect((await client.getToken()).scope).toBe(`system/Observation.rs?category=${LAB}`);
    const observations = (await client.searchAll('Observation', { _count: '200' })) as Observation[];
    expect(observations.length).toBeGreaterThan(100);
    expect(observations.every((o) => categoryCodes(o).includes('laboratory'))).toBe(true);

    // The same search by an unconstrained client finds vital signs, and the constrained one may not read them.
    const { client: admin } = await newClient({ registered: 'system/Observation.rs' });
    const vital = (
      await admin
        .searchPages('Observation', { category: `${CATEGORY_SYSTEM}|vital-signs`, _count: '1' })
        .next()
    ).value as { entry: Array<{ resource: Observation }> };
    const vitalId = vital.entry[0]!.resource.id!;
    expect(categoryCodes(vital.entry[0]!.resource)).toContain('vital-signs');
    await expect(client.read('Observation', vitalId)).rejects.toBeInstanceOf(FhirRequestError);
    const explicit = await client.searchAll('Observation', { category: `${CATEGORY_SYSTEM}|vital-signs` });
    expect(explicit).toEqual([]);
  });

  it('full CRUD with system/*.cruds', async () => {
    const { client } = await newClient({ alg: 'RS384', registered: 'system/*.cruds' });
    const created = await client.create<FhirResource>({
      resourceType: 'Patient',
      name: [{ family: 'Example', given: ['E2E'] }],
      gender: 'other',
    });
    expect(created).toMatchObject({ resourceType: 'Patient', meta: { versionId: '1' } });
    const id = created.id!;
    await expect(client.read('Patient', id)).resolves.toMatchObject({ name: [{ family: 'Example' }] });
    const updated = await client.update({ ...created, gender: 'unknown' });
    expect(updated).toMatchObject({ id, gender: 'unknown', meta: { versionId: '2' } });
    await expect(client.searchAll('Patient', { _id: id })).resolves.toHaveLength(1);
    await client.delete('Patient', id);
    await expect(client.read('Patient', id)).rejects.toMatchObject({ status: 410 });
  });

  describe('refusals', () => {
    it('no token: 401 with WWW-Authenticate error="invalid_token" and an OperationOutcome', async () => {
      const response = await fetch(`${stack.fhirBase}/Patient`);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
      expect(await response.json()).toMatchObject({ resourceType: 'OperationOutcome' });
    });

    it('a garbage token: 401 invalid_token', async () => {
      const response = await fetch(`${stack.fhirBase}/Patient`, {
        headers: { authorization: 'Bearer invalidToken' },
      });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    });

    it('wrong scope: 403 insufficient_scope for reads and writes outside the grant', async () => {
      const { client } = await newClient({ registered: 'system/Patient.rs' });
      await expect(client.searchAll('Observation')).rejects.toMatchObject({
        status: 403,
        reason: 'token.insufficient_scope',
      });
      await expect(client.create({ resourceType: 'Patient' })).rejects.toMatchObject({ status: 403 });
    });

    it("the client reads the server's challenge whole: errorDescription is the OperationOutcome's diagnostics", async () => {
      const { client } = await newClient({ registered: 'system/Patient.rs' });
      const refused = (await client.searchAll('Observation').catch((e: unknown) => e)) as FhirRequestError;
      expect(refused).toBeInstanceOf(FhirRequestError);
      expect(refused.error).toBe('insufficient_scope');
      expect(refused.errorDescription).toMatch(/^token\.insufficient_scope: /);
      expect(refused.errorDescription).toBe(refused.operationOutcome?.issue?.[0]?.diagnostics);
    });

    it('a scope the client is not registered for: invalid_scope from the auth server', async () => {
      const { client } = await newClient({
        registered: 'system/Patient.rs',
        requested: 'system/Observation.rs',
      });
      const error = await client.getAccessToken().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TokenRequestError);
      expect(error).toMatchObject({ error: 'invalid_scope', status: 400, reason: 'scope.nothing_granted' });
    });

    it('a disabled client gets no more tokens', async () => {
      const { client, clientId } = await newClient({ registered: 'system/Patient.rs' });
      await client.getAccessToken();
      const disabled = await fetch(`${stack.authUrl}/clients/${clientId}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${stack.adminToken}` },
      });
      expect(disabled.ok).toBe(true);
      client.invalidateAccessToken();
      await expect(client.getAccessToken()).rejects.toMatchObject({
        error: 'invalid_client',
        reason: 'client.disabled',
      });
    });
  });
});

describe('an expired access token', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      authEnv: { ACCESS_TOKEN_TTL: '3', CLOCK_SKEW: '0' },
      fhirEnv: { CLOCK_SKEW: '0', SEED: 'false' },
    });
  }, 60_000);
  afterAll(async () => stack?.stop());

  it('is accepted until its exp and refused by the FHIR API from then on with 401 invalid_token (token.expired), never before', async () => {
    const keys = await generateClientKeys({ alg: 'ES384' });
    const { client_id: clientId } = await registerClient({
      authUrl: stack.authUrl,
      adminToken: stack.adminToken,
      jwks: keys.jwks,
      scope: 'system/Patient.rs',
    });
    const client = new BackendServicesClient({
      fhirBaseUrl: stack.fhirBase,
      clientId,
      privateKey: keys.privateKeyPem,
      scope: 'system/Patient.rs',
    });
    const token = await client.getAccessToken();
    const { exp, iat } = decodeJwt(token);
    expect(exp! - iat!).toBe(3);
    // Ask until it is refused. Not a fixed wait: an answer received before exp was decided before
    // exp, so it must be 200, however slow the machine; the refusal must come, and name the expiry.
    const answers: Array<{ status: number; receivedAt: number; challenge: string | null }> = [];
    for (;;) {
      const response = await fetch(`${stack.fhirBase}/Patient`, {
        headers: { authorization: `Bearer ${token}` },
      });
      answers.push({
        status: response.status,
        receivedAt: Date.now(),
        challenge: response.headers.get('www-authenticate'),
      });
      await response.arrayBuffer();
      if (response.status !== 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const answer of answers) if (answer.receivedAt < exp! * 1000) expect(answer.status).toBe(200);
    const refusal = answers.at(-1)!;
    expect(refusal.status).toBe(401);
    expect(refusal.challenge).toMatch(/error="invalid_token".*token\.expired/);
  }, 30_000);
});
