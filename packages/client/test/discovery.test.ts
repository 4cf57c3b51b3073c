import { afterEach, describe, expect, it } from '@jest/globals';
import { OAUTH_URIS_EXTENSION_URL } from '@smart-backend/protocol';
import { BackendServicesClient, DiscoveryError, discover, generateClientKeys } from '../src/index.js';
import {
  sendJson,
  sendText,
  startServer,
  tokenBody,
  type Handler,
  type TestServer,
} from './support/http-server.js';

const capabilityStatement = (tokenUrl: string) => ({
  resourceType: 'CapabilityStatement',
  rest: [
    {
      mode: 'server',
      security: {
        extension: [
          {
            url: OAUTH_URIS_EXTENSION_URL,
            extension: [
              { url: 'token', valueUri: tokenUrl },
              { url: 'register', valueUri: 'https://auth.example.test/register' },
            ],
          },
        ],
      },
    },
  ],
});

describe('discover', () => {
  let server: TestServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function serve(handler: Handler): Promise<string> {
    server = await startServer(handler);
    return `${server.url}/fhir`;
  }

  it('reads {base}/.well-known/smart-configuration with Accept: application/json (DISC-01/03)', async () => {
    const base = await serve((_req, res) =>
      sendJson(res, 200, {
        token_endpoint: 'https://auth.example.test/token',
        capabilities: ['client-confidential-asymmetric'],
        grant_types_supported: ['client_credentials'],
      }),
    );
    const configuration = await discover(base);
    expect(configuration.token_endpoint).toBe('https://auth.example.test/token');
    expect(configuration.capabilities).toEqual(['client-confidential-asymmetric']);
    expect(server!.requests).toHaveLength(1);
    expect(server!.requests[0]?.url).toBe('/fhir/.well-known/smart-configuration');
    expect(server!.requests[0]?.headers.accept).toBe('application/json');
  });

  it('tolerates a trailing slash on the base', async () => {
    const base = await serve((_req, res) =>
      sendJson(res, 200, { token_endpoint: 'https://a.example.test/token' }),
    );
    await discover(`${base}/`);
    expect(server!.requests[0]?.url).toBe('/fhir/.well-known/smart-configuration');
  });

  it('resolves relative endpoint URLs against the FHIR base (DISC-04)', async () => {
    const base = await serve((_req, res) =>
      sendJson(res, 200, {
        token_endpoint: '/auth/token',
        registration_endpoint: 'register',
        jwks_uri: '../jwks',
      }),
    );
    const configuration = await discover(base);
    expect(configuration.token_endpoint).toBe(`${server!.url}/auth/token`);
    expect(configuration.registration_endpoint).toBe(`${base}/register`);
    expect(configuration.jwks_uri).toBe(`${server!.url}/jwks`);
  });

  it('falls back to the CapabilityStatement oauth-uris extension', async () => {
    const base = await serve((req, res) =>
      req.url.endsWith('/metadata')
        ? sendJson(res, 200, capabilityStatement('https://auth.example.test/token'))
        : sendJson(res, 404, { error: 'not found' }),
    );
    const configuration = await discover(base);
    expect(configuration.token_endpoint).toBe('https://auth.example.test/token');
    expect(configuration.registration_endpoint).toBe('https://auth.example.test/register');
    expect(server!.requests.map((r) => r.url)).toEqual([
      '/fhir/.well-known/smart-configuration',
      '/fhir/metadata',
    ]);
    expect(server!.requests[1]?.headers.accept).toContain('application/fhir+json');
  });

  it('falls back when the well-known document is invalid (no token_endpoint, non-JSON)', async () => {
    const base = await serve((req, res) => {
      if (req.url.endsWith('/metadata'))
        return sendJson(res, 200, capabilityStatement('https://a.example.test/t'));
      return sendText(res, 200, '<html/>');
    });
    await expect(discover(base)).resolves.toMatchObject({ token_endpoint: 'https://a.example.test/t' });
  });

  it('names both failures when neither source has a token endpoint', async () => {
    const base = await serve((req, res) =>
      req.url.endsWith('/metadata')
        ? sendJson(res, 200, { resourceType: 'CapabilityStatement', rest: [{ mode: 'server' }] })
        : sendJson(res, 200, { issuer: 'https://a.example.test' }),
    );
    const error = await discover(base).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiscoveryError);
    expect((error as Error).message).toMatch(
      /no token endpoint found for .*: .well-known\/smart-configuration is invalid: missing token_endpoint; the CapabilityStatement has no .*oauth-uris extension/,
    );
  });

  it('refuses a token endpoint that is not http(s)', async () => {
    const base = await serve((req, res) =>
      req.url.endsWith('/metadata')
        ? sendJson(res, 404, {})
        : sendJson(res, 200, { token_endpoint: 'javascript:alert(1)' }),
    );
    await expect(discover(base)).rejects.toThrow(/token_endpoint/);
  });

  it('refuses a FHIR base that is not an http(s) URL', async () => {
    await expect(discover('ftp://fhir.example.test')).rejects.toThrow(/http or https/);
  });

  it('is used by BackendServicesClient when no tokenUrl is given, once per client', async () => {
    let tokens = 0;
    const base = await serve((req, res) => {
      if (req.url === '/fhir/.well-known/smart-configuration')
        return sendJson(res, 200, { token_endpoint: `${server!.url}/token` });
      if (req.url === '/token') return sendJson(res, 200, tokenBody(`tok-${++tokens}`));
      sendJson(res, 404, {});
    });
    const client = new BackendServicesClient({
      fhirBaseUrl: base,
      clientId: 'c',
      privateKey: (await generateClientKeys({ alg: 'ES384' })).signingKey,
      scope: 'system/*.rs',
    });
    expect(await client.getAccessToken()).toBe('tok-1');
    client.invalidateAccessToken();
    expect(await client.getAccessToken()).toBe('tok-2');
    expect(await client.getTokenUrl()).toBe(`${server!.url}/token`);
    expect(server!.requests.map((r) => r.url)).toEqual([
      '/fhir/.well-known/smart-configuration',
      '/token',
      '/token',
    ]);
  });
});
