import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { calculateJwkThumbprint, exportJWK, importPKCS8, type JWK } from 'jose';
import { OAUTH_URIS_EXTENSION_URL } from '@smart-backend/protocol';
import {
  BackendServicesClient,
  DiscoveryError,
  FhirRequestError,
  InvalidInputError,
  InvalidResponseError,
  KeyError,
  TokenRequestError,
  discover,
  generateClientKeys,
  loadPrivateKey,
  parseWwwAuthenticate,
  registerClient,
  requestAccessToken,
  type GeneratedClientKeys,
} from '../src/index.js';
import { json, runCli } from './support/cli.js';
import { sendText, startServer, type Handler, type TestServer } from './support/http-server.js';

/**
 * Every place the client reads JSON it did not write (server responses, the WWW-Authenticate
 * challenge, JWK files), with members named `__proto__`, `constructor` and `prototype` at several
 * depths. What the client checks must be exactly what it uses, returns, prints and sends: a value
 * that only appears inside such a member is never read as one of the document's own.
 *
 * The JSON texts are built by hand: `JSON.stringify({ ['__proto__']: x })` from an object literal
 * sets the prototype and writes no member at all.
 */

const NAMES = ['__proto__', 'constructor', 'prototype'] as const;
const member = (name: string, valueText: string) => `${JSON.stringify(name)}:${valueText}`;
/** `{…, "name": value}`: a member added to an object's JSON text. */
const withMember = (objectText: string, name: string, valueText: string) =>
  `${objectText.slice(0, -1)},${member(name, valueText)}}`;

const EVIL = 'https://evil.example.test';
const JSON_TYPE = 'application/json';
const FHIR_TYPE = 'application/fhir+json';

let keys: GeneratedClientKeys;
let privateJwk: JWK;
let server: TestServer;
let answer: Handler;
let dir: string;

beforeAll(async () => {
  keys = await generateClientKeys({ alg: 'ES384' });
  privateJwk = await exportJWK(await importPKCS8(keys.privateKeyPem, 'ES384', { extractable: true }));
  server = await startServer((request, res, index) => answer(request, res, index));
  dir = await mkdtemp(join(tmpdir(), 'smart-backend-proto-'));
}, 30_000);

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Serves `text` (with `status`) for every request and forgets earlier requests. */
function serve(text: string, status = 200, type = JSON_TYPE): void {
  server.requests.length = 0;
  answer = (_request, res) => sendText(res, status, text, type);
}

function expectPlainObject(value: unknown): void {
  expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
}

const tokenText = (name: string) =>
  `{"access_token":"real-token","token_type":"bearer","expires_in":300,"scope":"system/Patient.rs",${member(
    name,
    '{"access_token":"evil-token","refresh_token":"evil","scope":"system/*.cruds"}',
  )}}`;

describe.each(NAMES)('a member named %s', (name) => {
  describe('discovery documents', () => {
    it('.well-known/smart-configuration: endpoints inside it are not the document’s', async () => {
      serve(
        `{"token_endpoint":"https://auth.example.test/token",${member(
          name,
          `{"token_endpoint":"${EVIL}/token","registration_endpoint":"${EVIL}/register","jwks_uri":"${EVIL}/jwks"}`,
        )}}`,
      );
      const configuration = await discover(`${server.url}/fhir`);
      expectPlainObject(configuration);
      expect(configuration.token_endpoint).toBe('https://auth.example.test/token');
      expect(configuration.registration_endpoint).toBeUndefined();
      expect(configuration.jwks_uri).toBeUndefined();
      // The schema's own view: zod drops a "__proto__" member, keeps the others as plain data.
      expect(Object.keys(configuration).sort()).toEqual(
        name === '__proto__' ? ['token_endpoint'] : [name, 'token_endpoint'].sort(),
      );
    });

    it('.well-known/smart-configuration: a token endpoint only inside it is none', async () => {
      server.requests.length = 0;
      answer = (request, res) =>
        request.url.endsWith('/.well-known/smart-configuration')
          ? sendText(res, 200, `{${member(name, `{"token_endpoint":"${EVIL}/token"}`)}}`, JSON_TYPE)
          : sendText(res, 404, '{}', JSON_TYPE);
      await expect(discover(`${server.url}/fhir`)).rejects.toBeInstanceOf(DiscoveryError);
    });

    const oauthUris = (token: string) =>
      `{"url":"${OAUTH_URIS_EXTENSION_URL}","extension":[{"url":"token","valueUri":"${token}"}]}`;
    const capabilityStatement = (rest: string) => `{"resourceType":"CapabilityStatement","rest":[${rest}]}`;
    const evilUris = () => oauthUris(`${EVIL}/token`);
    it.each([
      ['rest[0]', () => `{${member(name, `{"security":{"extension":[${evilUris()}]}}`)}}`],
      ['rest[0].security', () => `{"security":{${member(name, `{"extension":[${evilUris()}]}`)}}}`],
      ['rest[0].security.extension[0]', () => `{"security":{"extension":[{${member(name, evilUris())}}]}}`],
    ])('CapabilityStatement: oauth-uris inside it at %s are not read', async (_, rest) => {
      const text = capabilityStatement(rest());
      answer = (request, res) =>
        request.url.endsWith('/metadata')
          ? sendText(res, 200, text, FHIR_TYPE)
          : sendText(res, 404, '{}', JSON_TYPE);
      await expect(discover(`${server.url}/fhir`)).rejects.toBeInstanceOf(DiscoveryError);
    });

    it('CapabilityStatement: a token URI inside it does not shadow the real one', async () => {
      const text = `{"resourceType":"CapabilityStatement","rest":[{"security":{"extension":[{"url":"${OAUTH_URIS_EXTENSION_URL}","extension":[{${member(
        name,
        `{"url":"token","valueUri":"${EVIL}/token"}`,
      )}},{"url":"token","valueUri":"https://auth.example.test/token"}]}]}}]}`;
      answer = (request, res) =>
        request.url.endsWith('/metadata')
          ? sendText(res, 200, text, FHIR_TYPE)
          : sendText(res, 404, '{}', JSON_TYPE);
      const configuration = await discover(`${server.url}/fhir`);
      expect(configuration.token_endpoint).toBe('https://auth.example.test/token');
    });
  });

  describe('token responses', () => {
    const request = () =>
      requestAccessToken({
        tokenUrl: `${server.url}/token`,
        clientId: 'c',
        key: keys.signingKey,
        scope: 'system/Patient.rs',
      });

    it('the members inside it are not the response’s (library and BackendServicesClient)', async () => {
      serve(tokenText(name));
      const response = await request();
      expectPlainObject(response);
      expect(response).toMatchObject({ access_token: 'real-token', scope: 'system/Patient.rs' });
      expect((response as Record<string, unknown>).refresh_token).toBeUndefined();

      const client = new BackendServicesClient({
        fhirBaseUrl: `${server.url}/fhir`,
        tokenUrl: `${server.url}/token`,
        clientId: 'c',
        privateKey: keys.signingKey,
        scope: 'system/Patient.rs',
      });
      const token = await client.getToken();
      expect(token).toMatchObject({ accessToken: 'real-token', scope: 'system/Patient.rs' });
    });

    it('a required member only inside it is missing', async () => {
      serve(
        `{"token_type":"bearer","expires_in":300,"scope":"system/Patient.rs",${member(name, '{"access_token":"evil-token"}')}}`,
      );
      await expect(request()).rejects.toThrow(InvalidResponseError);
      await expect(request()).rejects.toThrow(/missing access_token/);
    });

    it('an error_description only inside it is none', async () => {
      serve(
        `{"error":"invalid_client",${member(name, '{"error_description":"client.unknown: evil"}')}}`,
        400,
      );
      const error = (await request().catch((e: unknown) => e)) as TokenRequestError;
      expect(error).toBeInstanceOf(TokenRequestError);
      expect(error.errorDescription).toBeUndefined();
      expect(error.reason).toBeUndefined();
      expect(error.message).not.toContain('evil');
    });

    it('smart-backend token prints the response’s own members, nothing from inside it', async () => {
      serve(tokenText(name));
      const keyFile = join(dir, `key-${name}.pem`);
      await writeFile(keyFile, keys.privateKeyPem, { mode: 0o600 });
      await chmod(keyFile, 0o600);
      const result = await runCli([
        'token',
        '--token-url',
        `${server.url}/token`,
        '--client-id',
        'c',
        '--key',
        keyFile,
        '--scope',
        'system/Patient.rs',
      ]);
      expect(result.code).toBe(0);
      const printed = json(result) as Record<string, unknown>;
      expect(printed).toMatchObject({ access_token: 'real-token', scope: 'system/Patient.rs' });
      expect(printed.refresh_token).toBeUndefined();
    });
  });

  describe('registration', () => {
    const registrationText = (extra: string) =>
      `{"client_id":"new-client","scope":"system/*.rs","token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"],"client_id_issued_at":1900000000,"status":"active",${extra}}`;

    it('response: the members inside it are not the response’s', async () => {
      serve(registrationText(member(name, '{"client_id":"evil","status":"disabled","jwks_uri":"x"}')), 201);
      const response = await registerClient({
        authUrl: server.url,
        adminToken: 'admin-secret',
        jwks: keys.jwks,
        scope: 'system/*.rs',
      });
      expectPlainObject(response);
      expect(response).toMatchObject({ client_id: 'new-client', status: 'active' });
      expect(response.jwks_uri).toBeUndefined();
    });

    const publicKeyText = () => JSON.stringify(keys.jwks.keys[0]);
    const privateD = () => `{"d":"${privateJwk.d as string}"}`;
    /** JWK Sets carrying the private `d` inside such a member, at three depths. */
    const leakingJwks: Array<[string, () => string]> = [
      [
        '$ (the JWK Set)',
        () => withMember(`{"keys":[${publicKeyText()}]}`, name, `{"keys":[${privateD()}]}`),
      ],
      ['$.keys[0] (the key)', () => `{"keys":[${withMember(publicKeyText(), name, privateD())}]}`],
      [
        '$.keys[0].extra.x (deeper)',
        () => `{"keys":[${withMember(publicKeyText(), 'extra', `{"x":{${member(name, privateD())}}}`)}]}`,
      ],
    ];

    it.each(leakingJwks)(
      'request: a JWK Set with it at %s is refused and nothing is sent (library)',
      async (_, text) => {
        serve(registrationText('"x":1'), 201);
        const attempt = registerClient({
          authUrl: server.url,
          adminToken: 'admin-secret',
          jwks: JSON.parse(text()) as never,
          scope: 'system/*.rs',
        });
        await expect(attempt).rejects.toThrow(InvalidInputError);
        await expect(attempt).rejects.toThrow(
          new RegExp(`jwks\\.malformed: .*${JSON.stringify(name)} \\(at [^)]*${name}\\)`),
        );
        expect(server.requests).toHaveLength(0);
      },
    );

    it.each(leakingJwks)(
      'request: smart-backend register --jwks FILE with it at %s: exit 2, nothing sent',
      async (where, text) => {
        serve(registrationText('"x":1'), 201);
        const file = join(dir, `jwks-${name}-${where.split(' ')[0]!.replace(/\W/g, '')}.json`);
        await writeFile(file, text());
        const result = await runCli([
          'register',
          '--auth-url',
          server.url,
          '--admin-token',
          'admin-secret',
          '--scope',
          'system/*.rs',
          '--jwks',
          file,
        ]);
        expect(result.code).toBe(2);
        expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(result.stderr).toMatch(
          new RegExp(`jwks\\.malformed: .*${JSON.stringify(name)} \\(at [^)]*${name}\\)`),
        );
        expect(server.requests).toHaveLength(0);
      },
    );
  });

  describe('FHIR responses', () => {
    const client = () =>
      new BackendServicesClient({
        fhirBaseUrl: `${server.url}/fhir`,
        tokenUrl: `${server.url}/token`,
        clientId: 'c',
        privateKey: keys.signingKey,
        scope: 'system/Patient.rs',
      });
    /** Token requests get a token; FHIR requests get `fhir(url)`. */
    function serveFhir(fhir: (url: string) => { status: number; text: string }): void {
      server.requests.length = 0;
      answer = (request, res) => {
        if (request.url === '/token') return sendText(res, 200, tokenText(name), JSON_TYPE);
        const { status, text } = fhir(request.url);
        return sendText(res, status, text, FHIR_TYPE);
      };
    }
    const fhirRequests = () => server.requests.filter((r) => r.url.startsWith('/fhir'));

    it('read: the resource is exactly the JSON sent; its type is read from its own member', async () => {
      const text = `{"resourceType":"Patient","id":"p1",${member(name, '{"resourceType":"Observation","active":true}')}}`;
      serveFhir(() => ({ status: 200, text }));
      const patient = await client().read('Patient', 'p1');
      expectPlainObject(patient);
      expect(patient).toEqual(JSON.parse(text));
      expect((patient as Record<string, unknown>).active).toBeUndefined();
    });

    it('read: a resourceType only inside it is none', async () => {
      serveFhir(() => ({ status: 200, text: `{"id":"p1",${member(name, '{"resourceType":"Patient"}')}}` }));
      await expect(client().read('Patient', 'p1')).rejects.toThrow(InvalidResponseError);
    });

    it('search: a next link and an entry inside it are neither followed nor yielded', async () => {
      const page = `{"resourceType":"Bundle","type":"searchset","link":[{${member(
        name,
        `{"relation":"next","url":"${server.url}/fhir/Patient?page=2"}`,
      )}}],"entry":[{"resource":{"resourceType":"Patient","id":"p1"}},{${member(
        name,
        '{"resource":{"resourceType":"Patient","id":"evil"}}',
      )}}]}`;
      serveFhir(() => ({ status: 200, text: page }));
      const found = await client().searchAll('Patient');
      expect(found.map((r) => r.id)).toEqual(['p1']);
      expect(fhirRequests()).toHaveLength(1);
    });

    it('search: a Bundle whose resourceType is only inside it is refused', async () => {
      serveFhir(() => ({
        status: 200,
        text: `{"type":"searchset",${member(name, '{"resourceType":"Bundle"}')}}`,
      }));
      await expect(client().searchAll('Patient')).rejects.toThrow(/did not answer with a Bundle/);
    });

    it('error: diagnostics inside an issue are not read as its own', async () => {
      const text = `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden",${member(
        name,
        '{"diagnostics":"token.insufficient_scope: evil"}',
      )}}]}`;
      serveFhir(() => ({ status: 403, text }));
      const error = (await client()
        .read('Patient', 'p1')
        .catch((e: unknown) => e)) as FhirRequestError;
      expect(error).toBeInstanceOf(FhirRequestError);
      expect(error.reason).toBeUndefined();
      expect(error.message).not.toContain('evil');
      expect(error.operationOutcome).toEqual(JSON.parse(text));
    });

    it('smart-backend fhir get prints exactly the JSON the server sent', async () => {
      const text = `{"resourceType":"Patient","id":"p1",${member(name, '{"resourceType":"Observation","active":true}')}}`;
      serveFhir(() => ({ status: 200, text }));
      const keyFile = join(dir, `fhir-key-${name}.pem`);
      await writeFile(keyFile, keys.privateKeyPem, { mode: 0o600 });
      await chmod(keyFile, 0o600);
      const result = await runCli([
        'fhir',
        'get',
        'Patient/p1',
        '--fhir-url',
        `${server.url}/fhir`,
        '--token-url',
        `${server.url}/token`,
        '--client-id',
        'c',
        '--key',
        keyFile,
        '--scope',
        'system/Patient.rs',
      ]);
      expect(result.code).toBe(0);
      expect(JSON.stringify(JSON.parse(result.stdout))).toBe(JSON.stringify(JSON.parse(text)));
    });
  });

  describe('the WWW-Authenticate challenge', () => {
    it.each([
      [`Bearer ${name}="evil", error="invalid_token"`, { error: 'invalid_token' }],
      [`Bearer ${name}=evil, error_description="token.expired: x"`, { errorDescription: 'token.expired: x' }],
      [`Bearer ${name}="evil"`, {}],
    ])('%s is read as %j', (header, expected) => {
      const parsed = parseWwwAuthenticate(header);
      expectPlainObject(parsed);
      expect(parsed).toEqual(expected);
      expect(Object.keys(parsed)).toEqual(Object.keys(expected));
    });
  });

  describe('JWK files (smart-backend --key)', () => {
    it('a private d only inside it makes no private key (library and CLI: exit 2)', async () => {
      const text = withMember(JSON.stringify(keys.jwks.keys[0]), name, `{"d":"${privateJwk.d as string}"}`);
      await expect(loadPrivateKey(text)).rejects.toThrow(KeyError);
      const file = join(dir, `public-${name}.jwk`);
      await writeFile(file, text, { mode: 0o600 });
      await chmod(file, 0o600);
      const result = await runCli(['jwks', '--key', file]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/is a public key \(no "d"\)/);
    });

    it('kid, alg and use inside it are not the key’s (library and CLI)', async () => {
      const text = withMember(JSON.stringify(privateJwk), name, '{"kid":"evil","alg":"ES256","use":"enc"}');
      const thumbprint = await calculateJwkThumbprint(privateJwk, 'sha256');
      const key = await loadPrivateKey(text);
      expect({ kid: key.kid, alg: key.alg }).toEqual({ kid: thumbprint, alg: 'ES384' });
      const file = join(dir, `private-${name}.jwk`);
      await writeFile(file, text, { mode: 0o600 });
      await chmod(file, 0o600);
      const result = await runCli(['jwks', '--key', file]);
      expect(result.code).toBe(0);
      const printed = json(result) as { keys: Array<Record<string, unknown>> };
      expect(printed.keys[0]).toMatchObject({ kid: thumbprint, alg: 'ES384', use: 'sig' });
      expect(result.stdout).not.toContain('evil');
    });
  });
});
