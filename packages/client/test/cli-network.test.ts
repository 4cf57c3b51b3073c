import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import type { PublicJwks } from '@smart-backend/protocol';
import { json, runCli } from './support/cli.js';
import {
  sendJson,
  sendText,
  startServer,
  tokenBody,
  type RecordedRequest,
  type TestServer,
} from './support/http-server.js';
import { startReferenceServer, type ReferenceServer } from './support/provider.js';

interface KeyFiles {
  privateKey: string;
  jwks: PublicJwks;
}

describe('smart-backend CLI against servers', () => {
  let dir: string;
  const keys: Record<'RS384' | 'ES384' | 'stranger', KeyFiles> = {} as never;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smart-backend-cli-net-'));
    await Promise.all(
      (
        [
          ['RS384', 'RS384'],
          ['ES384', 'ES384'],
          ['stranger', 'ES384'],
        ] as const
      ).map(async ([name, alg]) => {
        const result = await runCli(['keys', 'generate', '--alg', alg, '--out', join(dir, name)]);
        expect(result.code).toBe(0);
        const summary = json(result) as { files: { privateKey: string }; jwks: PublicJwks };
        keys[name] = { privateKey: summary.files.privateKey, jwks: summary.jwks };
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Proof against a server nobody here wrote.
  describe('token, against oidc-provider', () => {
    let reference: ReferenceServer;

    beforeAll(async () => {
      reference = await startReferenceServer([
        { client_id: 'rsa-client', jwks: keys.RS384.jwks },
        { client_id: 'ec-client', jwks: keys.ES384.jwks },
      ]);
    }, 30_000);

    afterAll(async () => {
      await reference?.close();
    });

    it.each([
      ['RS384', 'rsa-client'],
      ['ES384', 'ec-client'],
    ] as const)(
      'gets a token with an %s key from keys generate (exit 0, token response JSON)',
      async (alg, clientId) => {
        const result = await runCli([
          'token',
          '--token-url',
          reference.tokenUrl,
          '--client-id',
          clientId,
          '--key',
          keys[alg].privateKey,
          '--scope',
          'system/Observation.rs',
        ]);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        const response = json(result) as Record<string, unknown>;
        expect(response).toMatchObject({ token_type: 'Bearer', scope: 'system/Observation.rs' });
        expect(decodeJwt(response.access_token as string)).toMatchObject({
          client_id: clientId,
          aud: reference.fhirBase,
        });
      },
    );

    it('exits 1 with the server error on one line when the key is not registered', async () => {
      const result = await runCli([
        'token',
        '--token-url',
        reference.tokenUrl,
        '--client-id',
        'ec-client',
        '--key',
        keys.stranger.privateKey,
        '--scope',
        'system/Observation.rs',
      ]);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        /^smart-backend token: token request refused \(HTTP 40[01] invalid_client\): .+\n$/,
      );
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    });

    it('discovers the token endpoint from --fhir-url', async () => {
      const fhir = await startServer((req, res) =>
        req.url === '/fhir/.well-known/smart-configuration'
          ? sendJson(res, 200, { token_endpoint: reference.tokenUrl })
          : sendJson(res, 404, {}),
      );
      try {
        const result = await runCli([
          'token',
          '--fhir-url',
          `${fhir.url}/fhir`,
          '--client-id',
          'ec-client',
          '--key',
          keys.ES384.privateKey,
          '--scope',
          'system/Patient.rs',
        ]);
        expect(result.code).toBe(0);
        expect(json(result)).toHaveProperty('access_token');
      } finally {
        await fhir.close();
      }
    });
  });

  describe('token, against misbehaving servers', () => {
    let server: TestServer | undefined;

    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    async function token(handler: (res: ServerResponse) => void, extra: string[] = []) {
      server = await startServer((_req, res) => handler(res));
      return runCli([
        'token',
        '--token-url',
        `${server.url}/token`,
        '--client-id',
        'c',
        '--key',
        keys.ES384.privateKey,
        '--scope',
        'system/*.rs',
        ...extra,
      ]);
    }

    it.each([
      [
        'a non-JSON answer',
        (res: ServerResponse) => sendText(res, 200, '<html>hi</html>'),
        /with a body that is not JSON \(text\/html\)/,
      ],
      [
        'a token response without access_token',
        (res: ServerResponse) => sendJson(res, 200, { token_type: 'bearer', expires_in: 300, scope: 's' }),
        /invalid token response: missing access_token/,
      ],
      [
        'a token response without expires_in and scope',
        (res: ServerResponse) => sendJson(res, 200, { access_token: 'a', token_type: 'bearer' }),
        /missing expires_in, scope/,
      ],
      [
        'an error that is not an OAuth error',
        (res: ServerResponse) => sendJson(res, 500, { oops: true }),
        /HTTP 500 without an OAuth error body/,
      ],
    ])('exits 1 with a one-line message for %s', async (_name, handler, message) => {
      const result = await token(handler, ['--retries', '0']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    });

    it('exits 1 when the server cannot be reached', async () => {
      const closed = await startServer(() => undefined);
      await closed.close();
      const result = await runCli([
        'token',
        '--token-url',
        `${closed.url}/token`,
        '--client-id',
        'c',
        '--key',
        keys.ES384.privateKey,
        '--scope',
        'system/*.rs',
        '--retries',
        '0',
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/POST http:\/\/127\.0\.0\.1:\d+\/token failed: ECONNREFUSED/);
    });

    it('exits 2 for plain http to a remote host unless --allow-insecure-http', async () => {
      const result = await runCli([
        'token',
        '--token-url',
        'http://auth.example.test/token',
        '--client-id',
        'c',
        '--key',
        keys.ES384.privateKey,
        '--scope',
        'system/*.rs',
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/refusing plain http .*--allow-insecure-http/);
    });
  });

  describe('fhir', () => {
    let server: TestServer | undefined;
    let fhirRequests: RecordedRequest[];

    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    async function serve(
      fhir: (req: RecordedRequest, res: ServerResponse, base: string) => void,
    ): Promise<string> {
      fhirRequests = [];
      server = await startServer((req, res) => {
        if (req.url === '/token') return sendJson(res, 200, tokenBody('tok-cli'));
        fhirRequests.push(req);
        fhir(req, res, `${server!.url}/fhir`);
      });
      return `${server.url}/fhir`;
    }

    const common = (base: string) => [
      '--fhir-url',
      base,
      '--token-url',
      `${base.replace('/fhir', '')}/token`,
      '--client-id',
      'c',
      '--key',
      keys.ES384.privateKey,
      '--scope',
      'system/*.cruds',
    ];

    const fhirJson = (res: ServerResponse, status: number, body: unknown) =>
      sendJson(res, status, body, { 'content-type': 'application/fhir+json' });

    it('get prints the FHIR JSON and sends the bearer token', async () => {
      const base = await serve((_req, res) => fhirJson(res, 200, { resourceType: 'Patient', id: 'p1' }));
      const result = await runCli(['fhir', 'get', 'Patient/p1', ...common(base)]);
      expect(result.code).toBe(0);
      expect(json(result)).toEqual({ resourceType: 'Patient', id: 'p1' });
      expect(fhirRequests[0]?.headers.authorization).toBe('Bearer tok-cli');
    });

    it('get --all follows paging and prints one searchset Bundle with every entry', async () => {
      const base = await serve((req, res, fhirBase) => {
        const page = Number(new URL(req.url, 'http://x').searchParams.get('page') ?? '1');
        fhirJson(res, 200, {
          resourceType: 'Bundle',
          type: 'searchset',
          total: 3,
          link: page === 1 ? [{ relation: 'next', url: `${fhirBase}/Patient?name=x&page=2` }] : [],
          entry: (page === 1 ? ['a', 'b'] : ['c']).map((id) => ({
            resource: { resourceType: 'Patient', id },
          })),
        });
      });
      const result = await runCli(['fhir', 'get', 'Patient?name=x', '--all', ...common(base)]);
      expect(result.code).toBe(0);
      expect(json(result)).toEqual({
        resourceType: 'Bundle',
        type: 'searchset',
        total: 3,
        entry: ['a', 'b', 'c'].map((id) => ({ resource: { resourceType: 'Patient', id } })),
      });
      expect(fhirRequests.map((r) => r.url)).toEqual(['/fhir/Patient?name=x', '/fhir/Patient?name=x&page=2']);
    });

    it('get --all refuses a next link outside the FHIR base (exit 1) and never follows it', async () => {
      const foreign = await startServer((_req, res) => fhirJson(res, 200, {}));
      try {
        const base = await serve((_req, res) =>
          fhirJson(res, 200, {
            resourceType: 'Bundle',
            type: 'searchset',
            link: [{ relation: 'next', url: `${foreign.url}/fhir/Patient?page=2` }],
            entry: [],
          }),
        );
        const result = await runCli(['fhir', 'get', 'Patient', '--all', ...common(base)]);
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/refusing to send the access token to paging next link/);
        expect(foreign.requests).toHaveLength(0);
      } finally {
        await foreign.close();
      }
    });

    it('post --data FILE and put --data - (stdin) send the resource', async () => {
      const base = await serve((req, res) =>
        fhirJson(res, req.method === 'POST' ? 201 : 200, { ...JSON.parse(req.body), id: 'p2' }),
      );
      const file = join(dir, 'patient.json');
      await writeFile(file, JSON.stringify({ resourceType: 'Patient', active: true }));
      const posted = await runCli(['fhir', 'post', 'Patient', '--data', file, ...common(base)]);
      expect(posted.code).toBe(0);
      expect(json(posted)).toEqual({ resourceType: 'Patient', active: true, id: 'p2' });
      const put = await runCli(['fhir', 'put', 'Patient/p2', '--data', '-', ...common(base)], {
        input: JSON.stringify({ resourceType: 'Patient', id: 'p2' }),
      });
      expect(put.code).toBe(0);
      expect(fhirRequests.map((r) => `${r.method} ${r.url}`)).toEqual([
        'POST /fhir/Patient',
        'PUT /fhir/Patient/p2',
      ]);
      expect(JSON.parse(fhirRequests[1]!.body)).toEqual({ resourceType: 'Patient', id: 'p2' });
    });

    it('delete prints an informational OperationOutcome for an empty 204', async () => {
      const base = await serve((_req, res) => res.writeHead(204).end());
      const result = await runCli(['fhir', 'delete', 'Patient/p2', ...common(base)]);
      expect(result.code).toBe(0);
      expect(json(result)).toMatchObject({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'information' }],
      });
    });

    it('exits 1 on a FHIR error, printing the OperationOutcome and the reason', async () => {
      const outcome = {
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'error',
            code: 'forbidden',
            diagnostics: 'token.insufficient_scope: needs system/Patient.d',
          },
        ],
      };
      const base = await serve((_req, res) => fhirJson(res, 403, outcome));
      const result = await runCli(['fhir', 'delete', 'Patient/p2', ...common(base)]);
      expect(result.code).toBe(1);
      expect(json(result)).toEqual(outcome);
      expect(result.stderr).toMatch(
        /failed \(HTTP 403\): token\.insufficient_scope: needs system\/Patient\.d/,
      );
    });

    it.each([
      [['get', 'https://evil.example.test/fhir/Patient'], /outside the FHIR base/],
      [['get', '../token'], /outside the FHIR base/],
      [['post', 'Patient'], /needs --data FILE/],
      [['get', 'Patient', '--data', 'x.json'], /--data does not apply/],
      [['post', 'Patient', '--all', '--data', 'x.json'], /--all applies to get only/],
    ])('%j is a usage error (exit 2) and sends nothing', async (args, message) => {
      const base = await serve((_req, res) => fhirJson(res, 200, {}));
      const result = await runCli(['fhir', ...args, ...common(base)]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(server!.requests).toHaveLength(0);
    });

    it('exits 2 for a --data file that is not JSON', async () => {
      const base = await serve((_req, res) => fhirJson(res, 200, {}));
      const file = join(dir, 'bad.json');
      await writeFile(file, '{ nope');
      const result = await runCli(['fhir', 'post', 'Patient', '--data', file, ...common(base)]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/data file .*bad\.json is not valid JSON/);
    });
  });

  describe('register', () => {
    let server: TestServer | undefined;

    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    async function serve(status: number, body: (request: RecordedRequest) => unknown): Promise<string> {
      server = await startServer((req, res) => sendJson(res, status, body(req)));
      return server.url;
    }

    const registered = (req: RecordedRequest) => ({
      client_id: 'cli-client',
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      client_id_issued_at: 1_900_000_000,
      status: 'active',
      ...(JSON.parse(req.body) as object),
    });

    it('registers a JWKS file with the admin token from SMART_ADMIN_TOKEN and prints the response', async () => {
      const authUrl = await serve(201, registered);
      const jwksFile = join(dir, 'ES384', 'jwks.json');
      const result = await runCli(
        ['register', '--auth-url', authUrl, '--jwks', jwksFile, '--scope', 'system/*.rs', '--name', 'lab'],
        { env: { SMART_ADMIN_TOKEN: 'env-admin-secret' } },
      );
      expect(result.code).toBe(0);
      expect(json(result)).toMatchObject({
        client_id: 'cli-client',
        client_name: 'lab',
        scope: 'system/*.rs',
      });
      const [sent] = server!.requests;
      expect(sent?.headers.authorization).toBe('Bearer env-admin-secret');
      expect(JSON.parse(sent!.body)).toEqual({
        client_name: 'lab',
        jwks: JSON.parse(await readFile(jwksFile, 'utf8')),
        scope: 'system/*.rs',
      });
      expect(result.stdout + result.stderr).not.toContain('env-admin-secret');
    });

    it('prefers --admin-token and registers a --jwks-uri', async () => {
      const authUrl = await serve(201, registered);
      const result = await runCli(
        [
          'register',
          '--auth-url',
          authUrl,
          '--admin-token',
          'flag-secret',
          '--jwks-uri',
          'https://c.example.test/jwks.json',
          '--scope',
          'system/*.rs',
        ],
        { env: { SMART_ADMIN_TOKEN: 'env-secret' } },
      );
      expect(result.code).toBe(0);
      expect(server!.requests[0]?.headers.authorization).toBe('Bearer flag-secret');
      expect(JSON.parse(server!.requests[0]!.body)).toEqual({
        jwks_uri: 'https://c.example.test/jwks.json',
        scope: 'system/*.rs',
      });
    });

    it('exits 1 with the server error when registration is refused', async () => {
      const authUrl = await serve(401, () => ({
        error: 'invalid_token',
        error_description: 'admin.unauthorized: a valid administrator bearer token is required',
      }));
      const result = await runCli([
        'register',
        '--auth-url',
        authUrl,
        '--admin-token',
        'wrong',
        '--jwks',
        join(dir, 'ES384', 'jwks.json'),
        '--scope',
        'system/*.rs',
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/registration refused \(HTTP 401 invalid_token\): admin\.unauthorized: /);
    });

    it('exits 2 without sending anything when the JWKS file holds a private key', async () => {
      const authUrl = await serve(201, registered);
      const pair = await generateKeyPair('ES384', { extractable: true });
      const file = join(dir, 'private-jwks.json');
      await writeFile(
        file,
        JSON.stringify({ keys: [{ ...(await exportJWK(pair.privateKey)), kid: 'k', alg: 'ES384' }] }),
      );
      const result = await runCli([
        'register',
        '--auth-url',
        authUrl,
        '--admin-token',
        't',
        '--jwks',
        file,
        '--scope',
        'system/*.rs',
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/jwks\.private_key/);
      expect(server!.requests).toHaveLength(0);
    });

    it('requires exactly one of --jwks and --jwks-uri', async () => {
      const result = await runCli([
        'register',
        '--auth-url',
        'http://127.0.0.1:9',
        '--admin-token',
        't',
        '--scope',
        's',
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/exactly one of --jwks and --jwks-uri/);
    });
  });
});
