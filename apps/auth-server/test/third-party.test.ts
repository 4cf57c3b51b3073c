import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK } from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startServer, type RunningServer } from '../src/server.js';
import { ADMIN_TOKEN, jwksOf, makeClientKey, tempDir, type ClientKey } from './helpers.js';

/**
 * Clients nobody here wrote, against the real server listening on 127.0.0.1:0: openid-client 6.9.0
 * and oauth4webapi 3.8.8, in their library defaults (aud = issuer, no typ) and with SMART-shaped
 * assertions (aud = token URL, typ JWT), with RS384 and ES384 keys.
 */

const FHIR_BASE = 'http://localhost:4001/fhir';
let server: RunningServer;
const keys: Record<'RS384' | 'ES384', ClientKey> = {} as never;
const clientIds: Record<'RS384' | 'ES384', string> = {} as never;

beforeAll(async () => {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: tempDir(),
    ADMIN_TOKEN,
    FHIR_BASE_URL: FHIR_BASE,
  });
  server = await startServer(config, { logger: createLogger('info', { write: () => undefined }) });
  for (const alg of ['RS384', 'ES384'] as const) {
    keys[alg] = await makeClientKey(alg);
    const res = await fetch(`${server.url}/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jwks: jwksOf(keys[alg]), scope: 'system/Patient.rs system/Observation.rs' }),
    });
    clientIds[alg] = ((await res.json()) as { client_id: string }).client_id;
  }
}, 60_000);
afterAll(() => server.close(1000));

const smartShape = (tokenEndpoint: () => string): oauth.ModifyAssertionOptions => ({
  [oauth.modifyAssertion]: (header, payload) => {
    header.typ = 'JWT';
    payload.aud = tokenEndpoint();
  },
});

describe.each([['RS384' as const], ['ES384' as const]])('openid-client 6.9.0 with a %s key', (alg) => {
  const discover = (options?: oauth.ModifyAssertionOptions) =>
    client.discovery(
      new URL(server.url),
      clientIds[alg],
      undefined,
      client.PrivateKeyJwt({ key: keys[alg].privateKey, kid: keys[alg].kid }, options),
      { execute: [client.allowInsecureRequests], algorithm: 'oauth2' },
    );

  it('clientCredentialsGrant in library defaults (aud = issuer, no typ) gets a token', async () => {
    const config = await discover();
    const tokens = await client.clientCredentialsGrant(config, { scope: 'system/Patient.rs' });
    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'system/Patient.rs' });
    expect(tokens.access_token).toEqual(expect.any(String));
  });

  it('clientCredentialsGrant with SMART-shaped assertions (aud = token URL, typ JWT) gets a token', async () => {
    const config = await discover(smartShape(() => `${server.url}/token`));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'system/Observation.rs' });
    expect(tokens.scope).toBe('system/Observation.rs');
  });

  it('sees an RFC 6749 error it can read when the scope cannot be granted', async () => {
    const config = await discover();
    await expect(
      client.clientCredentialsGrant(config, { scope: 'system/Condition.rs' }),
    ).rejects.toMatchObject({
      error: 'invalid_scope',
      error_description: expect.stringMatching(/^scope\.nothing_granted: /),
    });
  });
});

describe.each([['RS384' as const], ['ES384' as const]])('oauth4webapi 3.8.8 with a %s key', (alg) => {
  let as: oauth.AuthorizationServer;
  beforeAll(async () => {
    const issuer = new URL(server.url);
    const response = await oauth.discoveryRequest(issuer, {
      algorithm: 'oauth2',
      [oauth.allowInsecureRequests]: true,
    });
    as = await oauth.processDiscoveryResponse(issuer, response);
  });

  const grant = async (options?: oauth.ModifyAssertionOptions, scope = 'system/Patient.rs') => {
    const c: oauth.Client = { client_id: clientIds[alg] };
    const auth = oauth.PrivateKeyJwt({ key: keys[alg].privateKey, kid: keys[alg].kid }, options);
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      c,
      auth,
      { scope },
      { [oauth.allowInsecureRequests]: true },
    );
    return oauth.processClientCredentialsResponse(as, c, response);
  };

  it('discovers the server from /.well-known/oauth-authorization-server', () => {
    expect(as.issuer).toBe(server.url);
    expect(as.token_endpoint).toBe(`${server.url}/token`);
  });

  it('clientCredentialsGrantRequest in library defaults gets a token', async () => {
    const result = await grant();
    expect(result).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'system/Patient.rs' });
  });

  it('clientCredentialsGrantRequest with SMART-shaped assertions gets a token', async () => {
    const result = await grant(
      smartShape(() => as.token_endpoint as string),
      'system/*.rs',
    );
    expect(result.scope).toBe('system/Patient.rs system/Observation.rs');
  });

  it('validateJwtAccessToken accepts the issued access token for the FHIR audience', async () => {
    const { access_token } = await grant();
    const request = new Request(`${FHIR_BASE}/Patient`, {
      headers: { authorization: `Bearer ${access_token}` },
    });
    const claims = await oauth.validateJwtAccessToken(as, request, FHIR_BASE, {
      [oauth.allowInsecureRequests]: true,
    });
    expect(claims).toMatchObject({
      iss: server.url,
      aud: FHIR_BASE,
      sub: clientIds[alg],
      client_id: clientIds[alg],
      scope: 'system/Patient.rs',
    });
  });

  it('validateJwtAccessToken rejects the token for another audience', async () => {
    const { access_token } = await grant();
    const request = new Request('http://other.example/fhir/Patient', {
      headers: { authorization: `Bearer ${access_token}` },
    });
    await expect(
      oauth.validateJwtAccessToken(as, request, 'http://other.example/fhir', {
        [oauth.allowInsecureRequests]: true,
      }),
    ).rejects.toThrow();
  });
});

/**
 * The README's examples ("Generic OAuth clients") exactly as written: its `tested example` code
 * blocks, run in a separate Node process against this server behind https (a certificate made for
 * the test, trusted through NODE_EXTRA_CA_CERTS), so no option beyond the documented ones is
 * needed. Discovery (RFC 8414) → client_credentials with private_key_jwt → the token validated
 * with oauth4webapi's validateJwtAccessToken.
 */
describe('the README examples, as written, against the server behind https', () => {
  const APP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const HTTPS_FHIR_BASE = 'https://fhir.example.test/fhir';
  const IMPORT_LINE = /^import .+ from '[^']+';$/;
  const examples = new Map<string, string>();
  let certificate: string;
  let backend: RunningServer;
  let proxy: https.Server;
  let issuer: string;
  const proxied: string[] = [];
  const registered: Record<'RS384' | 'ES384', { clientId: string; key: ClientKey }> = {} as never;

  beforeAll(async () => {
    const readme = fs.readFileSync(path.join(APP_DIR, 'README.md'), 'utf8');
    for (const match of readme.matchAll(/<!-- tested example: (\S+) -->\s*```js\n([\s\S]*?)```/g)) {
      examples.set(match[1]!, match[2]!);
    }
    const dir = tempDir();
    certificate = path.join(dir, 'cert.pem');
    const privateKeyFile = path.join(dir, 'key.pem');
    await promisify(execFile)('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
      ...['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'],
      ...['-keyout', privateKeyFile, '-out', certificate],
    ]);
    // TLS in front, as in a deployment; the server itself listens on plain http on 127.0.0.1.
    let target = 0;
    proxy = https.createServer(
      { key: fs.readFileSync(privateKeyFile), cert: fs.readFileSync(certificate) },
      (req, res) => {
        proxied.push(req.url ?? '');
        const upstream = http.request(
          { host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        req.pipe(upstream);
      },
    );
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    issuer = `https://localhost:${(proxy.address() as AddressInfo).port}`;
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      PUBLIC_URL: issuer,
      DATA_DIR: tempDir(),
      ADMIN_TOKEN,
      FHIR_BASE_URL: HTTPS_FHIR_BASE,
    });
    backend = await startServer(config, { logger: createLogger('info', { write: () => undefined }) });
    target = Number(new URL(backend.address).port);
    for (const alg of ['RS384', 'ES384'] as const) {
      const key = await makeClientKey(alg);
      const res = await fetch(`${backend.address}/register`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ jwks: jwksOf(key), scope: 'system/Patient.rs' }),
      });
      registered[alg] = { clientId: ((await res.json()) as { client_id: string }).client_id, key };
    }
  }, 60_000);

  afterAll(async () => {
    proxy?.closeAllConnections();
    await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    await backend?.close(1000);
  });

  /** One ES module: the blocks' import lines first (once each), then their bodies in order. */
  function moduleOf(blocks: string[]): string {
    const imports = new Set<string>();
    const bodies = blocks.map((block) =>
      block
        .split('\n')
        .filter((line) => !(IMPORT_LINE.test(line) && imports.add(line)))
        .join('\n'),
    );
    return [...imports, ...bodies].join('\n');
  }

  /** Runs `clientExample` then the validation example, with the variables the README names. */
  async function runExample(clientExample: string, alg: 'RS384' | 'ES384') {
    const { clientId, key } = registered[alg];
    const input = {
      issuer,
      clientId,
      kid: key.kid,
      fhirBase: HTTPS_FHIR_BASE,
      jwk: await exportJWK(key.privateKey),
      importParams:
        alg === 'RS384'
          ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' }
          : { name: 'ECDSA', namedCurve: 'P-384' },
    };
    const code = moduleOf([
      `const input = JSON.parse(process.env.EXAMPLE_INPUT);
const issuer = new URL(input.issuer);
const { clientId, kid, fhirBase } = input;
const privateKey = await crypto.subtle.importKey('jwk', input.jwk, input.importParams, false, ['sign']);`,
      clientExample,
      'const request = new Request(`${fhirBase}/Patient`, { headers: { authorization: `Bearer ${access_token}` } });',
      examples.get('validate')!,
      'process.stdout.write(JSON.stringify(claims));',
    ]);
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--input-type=module', '--eval', code],
        {
          cwd: APP_DIR, // where openid-client and oauth4webapi are installed
          env: {
            PATH: process.env.PATH ?? '',
            NODE_EXTRA_CA_CERTS: certificate,
            EXAMPLE_INPUT: JSON.stringify(input),
          },
          timeout: 30_000,
        },
        (error, stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
      );
    });
  }

  it('the README has the three examples, each with the one documented discovery option', () => {
    expect([...examples.keys()].sort()).toEqual(['oauth4webapi', 'openid-client', 'validate']);
    expect(examples.get('openid-client')).toMatch(/client\.discovery\([\s\S]*\{ algorithm: 'oauth2' \}/);
    for (const name of ['oauth4webapi', 'validate']) {
      expect(examples.get(name)).toMatch(/oauth\.discoveryRequest\(issuer, \{ algorithm: 'oauth2' \}\)/);
    }
  });

  it.each([
    ['openid-client', 'RS384'],
    ['openid-client', 'ES384'],
    ['oauth4webapi', 'RS384'],
    ['oauth4webapi', 'ES384'],
  ] as const)(
    '%s with a %s key: RFC 8414 discovery, a token, validated by validateJwtAccessToken',
    async (library, alg) => {
      proxied.length = 0;
      const result = await runExample(examples.get(library)!, alg);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const claims = JSON.parse(result.stdout) as Record<string, unknown>;
      const { clientId } = registered[alg];
      expect(claims).toMatchObject({
        iss: issuer,
        aud: HTTPS_FHIR_BASE,
        sub: clientId,
        client_id: clientId,
        scope: 'system/Patient.rs',
      });
      expect(proxied).toContain('/.well-known/oauth-authorization-server');
      expect(proxied).toContain('/token');
      expect(proxied).not.toContain('/.well-known/openid-configuration');
    },
    60_000,
  );

  it.each([['openid-client'], ['oauth4webapi']])(
    '%s without the option looks for /.well-known/openid-configuration, which is 404 here',
    async (library) => {
      proxied.length = 0;
      const withoutOption = examples
        .get(library)!
        .replace(/, \{ algorithm: 'oauth2' \}\)/g, ')')
        .replace(/\{ algorithm: 'oauth2' \},/g, '{},');
      expect(withoutOption).not.toContain('oauth2');
      const result = await runExample(withoutOption, 'ES384');
      expect(result.code).not.toBe(0);
      expect(proxied).toEqual(['/.well-known/openid-configuration']);
      const answer = await fetch(`${backend.address}/.well-known/openid-configuration`);
      expect(answer.status).toBe(404);
    },
    60_000,
  );
});
