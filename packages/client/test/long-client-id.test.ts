import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRemoteJWKSet, importJWK, jwtVerify } from 'jose';
import { MAX_CLIENT_ID_LENGTH } from '@smart-backend/protocol';
import {
  BackendServicesClient,
  InvalidInputError,
  createClientAssertion,
  decodeClientAssertion,
  generateClientKeys,
  requestAccessToken,
  type GeneratedClientKeys,
} from '../src/index.js';
import { json, runCli } from './support/cli.js';
import { startServer, type TestServer } from './support/http-server.js';
import { startReferenceServer, type ReferenceServer } from './support/provider.js';

/**
 * RFC 6749 §2.2 leaves the size of a client id undefined; the SMART reference bulk-data server
 * issues signed JWTs of 557–831 characters as client ids. The client takes any id up to 4 KiB made
 * of VSCHAR (RFC 6749 Appendix A.1: %x20-7E), through the library and the CLI.
 */

const b64 = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** A client id shaped like the bulk-data server's (a JWS over the registration), `length` long. */
function jwtShapedClientId(length: number): string {
  const header = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const signature = b64(randomBytes(32));
  const room = length - header.length - signature.length - 2;
  const claims = b64(
    JSON.stringify({ jwks_url: 'https://client.example.test/jwks.json', filler: 'x'.repeat(room) }),
  ).slice(0, room);
  const id = `${header}.${claims}.${signature}`;
  expect(id).toHaveLength(length);
  return id;
}

const LONGEST_REAL = jwtShapedClientId(831);
const TOKEN_URL = 'https://auth.example.test/token';

let keys: GeneratedClientKeys;
let dir: string;
let keyFile: string;

beforeAll(async () => {
  keys = await generateClientKeys({ alg: 'ES384' });
  dir = await mkdtemp(join(tmpdir(), 'smart-backend-long-id-'));
  keyFile = join(dir, 'private_key.pem');
  await writeFile(keyFile, keys.privateKeyPem, { mode: 0o600 });
  await chmod(keyFile, 0o600);
}, 30_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('client ids up to 4 KiB of visible ASCII', () => {
  it.each([
    ['257 characters (one past the old limit)', () => jwtShapedClientId(257)],
    ['831 characters (the longest the bulk-data server issued)', () => LONGEST_REAL],
    [`${MAX_CLIENT_ID_LENGTH} characters (the limit)`, () => 'c'.repeat(MAX_CLIENT_ID_LENGTH)],
    ['VSCHAR edges: space and tilde', () => ' client ~ id '],
  ])('signs an assertion with iss = sub = a client id of %s', async (_, id) => {
    const clientId = id();
    const assertion = await createClientAssertion({ clientId, tokenUrl: TOKEN_URL, key: keys.signingKey });
    const publicKey = await importJWK(keys.signingKey.publicJwk, keys.signingKey.alg);
    const { payload } = await jwtVerify(assertion, publicKey, { audience: TOKEN_URL });
    expect(payload.iss).toBe(clientId);
    expect(payload.sub).toBe(clientId);
    expect(() => new BackendServicesClient(clientOptions(clientId))).not.toThrow();
  });

  it.each([
    ['empty', ''],
    [`${MAX_CLIENT_ID_LENGTH + 1} characters`, 'c'.repeat(MAX_CLIENT_ID_LENGTH + 1)],
    ['a tab', 'client\tid'],
    ['a line break', 'client\nid'],
    ['DEL (%x7F)', 'client\x7fid'],
    ['a non-ASCII letter', 'clïent'],
    ['an emoji', 'client-😀'],
    ['a NUL', 'client\0id'],
  ])('refuses a client id with %s, without repeating it, and sends nothing', async (_, clientId) => {
    const server: TestServer = await startServer((_request, res) => void res.writeHead(500).end());
    try {
      const attempts = [
        createClientAssertion({ clientId, tokenUrl: TOKEN_URL, key: keys.signingKey }),
        requestAccessToken({
          tokenUrl: `${server.url}/token`,
          clientId,
          key: keys.signingKey,
          scope: 'system/*.rs',
        }),
        Promise.resolve().then(() => new BackendServicesClient(clientOptions(clientId))),
      ];
      for (const attempt of attempts) {
        const error = await attempt.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InvalidInputError);
        expect((error as Error).message).toMatch(/client id must be 1 to 4096 visible ASCII characters/);
        if (clientId.length > 4) expect((error as Error).message).not.toContain(clientId);
      }
      expect(server.requests).toHaveLength(0);
    } finally {
      await server.close();
    }
  });
});

describe('an 831-character client id against oidc-provider on 127.0.0.1', () => {
  let reference: ReferenceServer;

  beforeAll(async () => {
    reference = await startReferenceServer([{ client_id: LONGEST_REAL, jwks: keys.jwks }]);
  }, 30_000);

  afterAll(async () => {
    await reference?.close();
  });

  const verify = (token: string) =>
    jwtVerify(token, createRemoteJWKSet(new URL(reference.jwksUrl)), {
      issuer: reference.issuer,
      audience: reference.fhirBase,
    });

  it('requestAccessToken obtains a token issued to that client', async () => {
    const response = await requestAccessToken({
      tokenUrl: reference.tokenUrl,
      clientId: LONGEST_REAL,
      key: keys.signingKey,
      scope: 'system/Patient.rs',
    });
    expect((await verify(response.access_token)).payload.client_id).toBe(LONGEST_REAL);
  });

  it('BackendServicesClient obtains a token issued to that client', async () => {
    const client = new BackendServicesClient({
      ...clientOptions(LONGEST_REAL),
      fhirBaseUrl: reference.fhirBase,
      tokenUrl: reference.tokenUrl,
      scope: 'system/Patient.rs',
    });
    const token = await client.getAccessToken();
    expect((await verify(token)).payload.client_id).toBe(LONGEST_REAL);
  });

  it('smart-backend token --client-id obtains one (exit 0)', async () => {
    const result = await runCli([
      'token',
      '--token-url',
      reference.tokenUrl,
      '--client-id',
      LONGEST_REAL,
      '--key',
      keyFile,
      '--scope',
      'system/Patient.rs',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { access_token } = json(result) as { access_token: string };
    expect((await verify(access_token)).payload.client_id).toBe(LONGEST_REAL);
  });

  it('smart-backend assertion --client-id signs iss = sub = that id (exit 0)', async () => {
    const result = await runCli([
      'assertion',
      '--client-id',
      LONGEST_REAL,
      '--token-url',
      reference.tokenUrl,
      '--key',
      keyFile,
    ]);
    expect(result.code).toBe(0);
    const { claims } = decodeClientAssertion((json(result) as { assertion: string }).assertion);
    expect(claims).toMatchObject({ iss: LONGEST_REAL, sub: LONGEST_REAL });
  });

  it('smart-backend refuses an id over 4 KiB or outside VSCHAR (exit 2, one line, the id not repeated)', async () => {
    for (const clientId of ['c'.repeat(MAX_CLIENT_ID_LENGTH + 1), `${LONGEST_REAL}\u00e9`]) {
      const result = await runCli([
        'token',
        '--token-url',
        reference.tokenUrl,
        '--client-id',
        clientId,
        '--key',
        keyFile,
        '--scope',
        'system/Patient.rs',
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/client id must be 1 to 4096 visible ASCII characters/);
      expect(result.stderr).not.toContain(LONGEST_REAL.slice(0, 64));
    }
  });
});

function clientOptions(clientId: string) {
  return {
    fhirBaseUrl: 'https://fhir.example.test/fhir',
    tokenUrl: TOKEN_URL,
    clientId,
    privateKey: keys.signingKey,
    scope: 'system/*.rs',
  };
}
