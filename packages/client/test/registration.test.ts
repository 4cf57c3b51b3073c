import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair } from 'jose';
import {
  InvalidInputError,
  InvalidResponseError,
  RegistrationError,
  generateClientKeys,
  registerClient,
  type GeneratedClientKeys,
} from '../src/index.js';
import { sendJson, startServer, type Handler, type TestServer } from './support/http-server.js';

const registered = (body: Record<string, unknown>) => ({
  client_id: 'new-client',
  token_endpoint_auth_method: 'private_key_jwt',
  grant_types: ['client_credentials'],
  client_id_issued_at: 1_900_000_000,
  status: 'active',
  ...body,
});

describe('registerClient', () => {
  let keys: GeneratedClientKeys;
  let server: TestServer | undefined;

  beforeAll(async () => {
    keys = await generateClientKeys({ alg: 'RS384' });
  }, 30_000);

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function serve(handler: Handler): Promise<string> {
    server = await startServer(handler);
    return server.url;
  }

  it('POSTs {client_name, jwks, scope} to {authUrl}/register with the admin bearer token', async () => {
    const authUrl = await serve((req, res) => sendJson(res, 201, registered(JSON.parse(req.body))));
    const response = await registerClient({
      authUrl: `${authUrl}/`,
      adminToken: 'admin-secret',
      jwks: keys.jwks,
      scope: 'system/*.rs',
      clientName: 'lab feed',
    });
    expect(response).toMatchObject({
      client_id: 'new-client',
      scope: 'system/*.rs',
      client_name: 'lab feed',
    });
    const [sent] = server!.requests;
    expect(sent).toMatchObject({ method: 'POST', url: '/register' });
    expect(sent?.headers.authorization).toBe('Bearer admin-secret');
    expect(sent?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(sent!.body)).toEqual({
      client_name: 'lab feed',
      jwks: keys.jwks,
      scope: 'system/*.rs',
    });
  });

  it('registers a jwks_uri instead of a JWKS', async () => {
    const authUrl = await serve((req, res) => sendJson(res, 201, registered(JSON.parse(req.body))));
    await registerClient({
      authUrl,
      adminToken: 't',
      jwksUri: 'https://client.example.test/jwks.json',
      scope: 'system/*.rs',
    });
    expect(JSON.parse(server!.requests[0]!.body)).toEqual({
      jwks_uri: 'https://client.example.test/jwks.json',
      scope: 'system/*.rs',
    });
  });

  it('never sends a JWK Set holding a private key', async () => {
    const authUrl = await serve((_req, res) => sendJson(res, 201, registered({})));
    const pair = await generateKeyPair('ES384', { extractable: true });
    const privateJwk = { ...(await exportJWK(pair.privateKey)), kid: 'k', alg: 'ES384' };
    const error = await registerClient({
      authUrl,
      adminToken: 't',
      jwks: { keys: [privateJwk as never] },
      scope: 'system/*.rs',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/jwks\.private_key: keys\[0\] contains the private member "d"/);
    expect(server!.requests).toHaveLength(0);
  });

  it('requires exactly one of jwks and jwksUri, and an admin token', async () => {
    const base = { authUrl: 'http://127.0.0.1:1', adminToken: 't', scope: 'system/*.rs' };
    await expect(registerClient(base)).rejects.toThrow(/exactly one of jwks and jwksUri/);
    await expect(
      registerClient({ ...base, jwks: keys.jwks, jwksUri: 'https://x.example.test/j' }),
    ).rejects.toThrow(/exactly one/);
    await expect(registerClient({ ...base, adminToken: '', jwks: keys.jwks })).rejects.toThrow(
      /admin token is required/,
    );
  });

  it('throws RegistrationError with the server error and reason', async () => {
    const authUrl = await serve((_req, res) =>
      sendJson(res, 400, {
        error: 'invalid_client_metadata',
        error_description: 'registration.scope_invalid: only system/ scopes',
      }),
    );
    const error = (await registerClient({
      authUrl,
      adminToken: 't',
      jwks: keys.jwks,
      scope: 'patient/*.rs',
    }).catch((e: unknown) => e)) as RegistrationError;
    expect(error).toBeInstanceOf(RegistrationError);
    expect(error.status).toBe(400);
    expect(error.error).toBe('invalid_client_metadata');
    expect(error.reason).toBe('registration.scope_invalid');
    expect(error.message).toBe(
      'registration refused (HTTP 400 invalid_client_metadata): registration.scope_invalid: only system/ scopes',
    );
  });

  it('does not retry a registration (POST) on 5xx', async () => {
    const authUrl = await serve((_req, res) => sendJson(res, 503, { error: 'temporarily_unavailable' }));
    await expect(
      registerClient({ authUrl, adminToken: 't', jwks: keys.jwks, scope: 'system/*.rs' }),
    ).rejects.toBeInstanceOf(RegistrationError);
    expect(server!.requests).toHaveLength(1);
  });

  it('names what is missing from a malformed success, with the client_id it may have registered', async () => {
    const authUrl = await serve((_req, res) =>
      sendJson(res, 201, { client_id: 'half', scope: 'system/*.rs' }),
    );
    const error = await registerClient({
      authUrl,
      adminToken: 't',
      jwks: keys.jwks,
      scope: 'system/*.rs',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect((error as Error).message).toMatch(
      /missing token_endpoint_auth_method.*may have registered client_id half/,
    );
  });

  it('refuses to send the admin token over plain http to a remote host', async () => {
    await expect(
      registerClient({
        authUrl: 'http://auth.example.test',
        adminToken: 't',
        jwks: keys.jwks,
        scope: 'system/*.rs',
      }),
    ).rejects.toThrow(/refusing plain http/);
  });
});
