import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  FHIR_R4_RESOURCE_TYPES,
  OAUTH_URIS_EXTENSION_URL,
  SMART_SECURITY_SERVICE_CODING,
} from '@smart-backend/protocol';
import { FHIR_BASE, startTestApi, type TestApi } from './support/test-api.js';

// DESIGN.md fhir-api endpoints; SMART "Conformance" (DISC-01/02/04), FHIR R4 CapabilityStatement.
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
});

type Extension = { url: string; valueUri?: string; extension?: Extension[] };

describe('GET /fhir/metadata', () => {
  it('is a CapabilityStatement for FHIR 4.0.1, without authentication', async () => {
    const res = await api.http().get('/fhir/metadata');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(res.body).toMatchObject({
      resourceType: 'CapabilityStatement',
      status: 'active',
      kind: 'instance',
      fhirVersion: '4.0.1',
      implementation: { url: FHIR_BASE },
    });
    expect(res.body.format).toContain('json');
    expect(res.body.rest[0].mode).toBe('server');
  });

  it('carries the SMART security service and the oauth-uris extension from the auth server', async () => {
    const res = await api.http().get('/fhir/metadata');
    const security = res.body.rest[0].security as {
      service: Array<{ coding: unknown[] }>;
      extension: Extension[];
    };
    expect(security.service[0]?.coding).toContainEqual(SMART_SECURITY_SERVICE_CODING);
    const oauth = security.extension.find((e) => e.url === OAUTH_URIS_EXTENSION_URL);
    expect(oauth?.extension).toEqual([
      { url: 'token', valueUri: `${api.auth.url}/token` },
      { url: 'register', valueUri: `${api.auth.url}/register` },
      { url: 'introspect', valueUri: `${api.auth.url}/introspect` },
    ]);
  });

  it('lists every R4 resource type with its interactions and search parameters', async () => {
    const res = await api.http().get('/fhir/metadata');
    const resources = res.body.rest[0].resource as Array<{
      type: string;
      interaction: Array<{ code: string }>;
      searchParam: Array<{ name: string; type: string }>;
    }>;
    expect(resources.map((r) => r.type)).toEqual([...FHIR_R4_RESOURCE_TYPES]);
    const patient = resources.find((r) => r.type === 'Patient');
    expect(patient?.interaction.map((i) => i.code).sort()).toEqual(
      ['create', 'delete', 'read', 'search-type', 'update', 'vread'].sort(),
    );
    expect(patient?.searchParam).toEqual(
      expect.arrayContaining([
        { name: '_id', type: 'token' },
        { name: '_lastUpdated', type: 'date' },
        { name: 'name', type: 'string' },
        { name: 'birthdate', type: 'date' },
      ]),
    );
    const observation = resources.find((r) => r.type === 'Observation');
    expect(observation?.searchParam).toContainEqual({ name: 'patient', type: 'reference' });
  });

  it('falls back to {AUTH_URL}/token when the auth server cannot be reached', async () => {
    const offline = await startTestApi();
    try {
      offline.auth.smartConfiguration = 'unavailable';
      const res = await offline.http().get('/fhir/metadata');
      expect(res.status).toBe(200);
      const oauth = (res.body.rest[0].security.extension as Extension[]).find(
        (e) => e.url === OAUTH_URIS_EXTENSION_URL,
      );
      expect(oauth?.extension).toEqual([{ url: 'token', valueUri: `${offline.auth.url}/token` }]);
    } finally {
      await offline.close();
    }
  });
});

describe('GET /fhir/.well-known/smart-configuration', () => {
  it("is the auth server's document as application/json, whatever Accept says, without authentication", async () => {
    const res = await api
      .http()
      .get('/fhir/.well-known/smart-configuration')
      .set('Accept', 'application/fhir+json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.body).toEqual(api.auth.smartConfiguration);
    expect(res.body.token_endpoint).toBe(`${api.auth.url}/token`);
  });

  it('is served from the cache while the auth server is down', async () => {
    const cached = await startTestApi();
    try {
      const first = await cached.http().get('/fhir/.well-known/smart-configuration');
      expect(first.status).toBe(200);
      cached.auth.smartConfiguration = 'unavailable';
      const second = await cached.http().get('/fhir/.well-known/smart-configuration');
      expect(second.status).toBe(200);
      expect(second.body).toEqual(first.body);
    } finally {
      await cached.close();
    }
  });

  it('is 503 (OperationOutcome, server.unavailable) when the auth server is down and nothing is cached', async () => {
    const offline = await startTestApi();
    try {
      offline.auth.smartConfiguration = 'unavailable';
      const res = await offline.http().get('/fhir/.well-known/smart-configuration');
      expect(res.status).toBe(503);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].diagnostics).toMatch(/^server\.unavailable: /);
      offline.auth.smartConfiguration = { token_endpoint: `${offline.auth.url}/token` };
      expect((await offline.http().get('/fhir/.well-known/smart-configuration')).status).toBe(200);
    } finally {
      await offline.close();
    }
  });

  it('refuses to republish a document that is not a SMART configuration (no token_endpoint)', async () => {
    const odd = await startTestApi();
    try {
      odd.auth.smartConfiguration = { issuer: odd.auth.url };
      expect((await odd.http().get('/fhir/.well-known/smart-configuration')).status).toBe(503);
    } finally {
      await odd.close();
    }
  });

  it('only answers GET', async () => {
    expect((await api.http().post('/fhir/.well-known/smart-configuration')).status).toBe(405);
  });
});
