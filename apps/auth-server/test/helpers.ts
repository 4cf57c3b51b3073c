import { randomUUID, webcrypto } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect } from '@jest/globals';
import {
  CLIENT_ASSERTION_TYPE,
  REASONS,
  type AssertionAlgorithm,
  type ReasonCode,
} from '@smart-backend/protocol';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import request from 'supertest';
import { createApp, type AppDeps, type AuthServerApp } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { SigningKeyRing } from '../src/signing/signing-keys.js';
import { openSqliteStores, type SqliteStores } from '../src/store/sqlite.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const PUBLIC_URL = 'http://auth.test';
export const TOKEN_URL = `${PUBLIC_URL}/token`;
export const FHIR_BASE = 'http://fhir.test/fhir';

export type LogLine = Record<string, unknown> & { msg?: string; event?: string };

/**
 * A controllable clock: real time plus an offset tests move forward. A {@link TestClock.frozen}
 * clock does not tick on its own, so a test can stand exactly one second before a boundary.
 */
export class TestClock {
  offsetMs = 0;
  constructor(private readonly frozenAtMs?: number) {}
  /** Stopped at the start of the current second; only `advance` moves it. */
  static frozen(): TestClock {
    return new TestClock(Math.floor(Date.now() / 1000) * 1000);
  }
  readonly now = () => (this.frozenAtMs ?? Date.now()) + this.offsetMs;
  advance(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }
  seconds(): number {
    return Math.floor(this.now() / 1000);
  }
}

const createdDirs: string[] = [];
afterAll(() => {
  for (const dir of createdDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the OS temp dir, removed after the test file. */
export function tempDir(prefix = 'auth-server-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  createdDirs.push(dir);
  return dir;
}

export interface TestServer {
  readonly app: AuthServerApp;
  readonly config: Config;
  readonly stores: SqliteStores;
  readonly signingKeys: SigningKeyRing;
  readonly clock: TestClock;
  readonly logs: LogLine[];
  readonly dataDir: string;
  close(): Promise<void>;
}

export interface TestServerOptions {
  readonly env?: Record<string, string | undefined>;
  readonly dataDir?: string;
  readonly clock?: TestClock;
  readonly clientKeyOptions?: AppDeps['clientKeyOptions'];
  /** Another replay cache (e.g. Redis) instead of the SQLite one; the caller closes it. */
  readonly replay?: AppDeps['replay'];
}

/** The app in-process on a temp DATA_DIR (or a given one, for restart tests), logs captured. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? tempDir();
  const config = loadConfig({
    PUBLIC_URL,
    FHIR_BASE_URL: FHIR_BASE,
    ADMIN_TOKEN,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    ...options.env,
  });
  const clock = options.clock ?? new TestClock();
  const logs: LogLine[] = [];
  const logger = createLogger(config.logLevel, {
    write: (line: string) => {
      logs.push(JSON.parse(line) as LogLine);
    },
  });
  const stores = openSqliteStores(config.dataDir, { now: clock.now, pruneIntervalMs: 0 });
  const signingKeys = await SigningKeyRing.open(stores.keys, {
    alg: config.accessTokenAlg,
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    clockSkewSeconds: config.clockSkewSeconds,
    keyActivationDelaySeconds: config.keyActivationDelaySeconds,
    now: clock.now,
    refreshIntervalMs: 0,
    logger,
  });
  const app = createApp(config, {
    clients: stores.clients,
    replay: options.replay ?? stores.replay,
    signingKeys,
    logger,
    now: clock.now,
    ...(options.clientKeyOptions && { clientKeyOptions: options.clientKeyOptions }),
  });
  return {
    app,
    config,
    stores,
    signingKeys,
    clock,
    logs,
    dataDir,
    close: async () => {
      signingKeys.close();
      await Promise.all([stores.clients.close(), stores.replay.close(), stores.keys.close()]);
    },
  };
}

// ── Client keys ──────────────────────────────────────────────────────────────────────────────────

export interface ClientKey {
  readonly alg: AssertionAlgorithm;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** Public JWK with kid (and alg unless `withAlg: false`). */
  readonly publicJwk: JWK & { kid: string };
}

export async function makeClientKey(
  alg: AssertionAlgorithm,
  options: { withAlg?: boolean; kid?: string; modulusLength?: number } = {},
): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(options.modulusLength && { modulusLength: options.modulusLength }),
  });
  const exported = await exportJWK(publicKey);
  const kid = options.kid ?? (await calculateJwkThumbprint(exported));
  const publicJwk = { ...exported, kid, ...(options.withAlg !== false && { alg }) };
  return { alg, kid, privateKey, publicJwk };
}

export const jwksOf = (...keys: ClientKey[]) => ({ keys: keys.map((k) => k.publicJwk) });

// ── Assertions ───────────────────────────────────────────────────────────────────────────────────

const b64 = (data: string | Uint8Array) => Buffer.from(data).toString('base64url');

const SIGN_PARAMS: Record<
  string,
  webcrypto.AlgorithmIdentifier | webcrypto.RsaPssParams | webcrypto.EcdsaParams
> = {
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
  RS384: { name: 'RSASSA-PKCS1-v1_5' },
  PS384: { name: 'RSA-PSS', saltLength: 48 },
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  ES384: { name: 'ECDSA', hash: 'SHA-384' },
};

/** Signs exact header and payload texts (for duplicate-member and encoding attacks). */
export async function signRaw(
  headerText: string,
  payloadText: string,
  key: ClientKey,
  alg: string = key.alg,
): Promise<string> {
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  const params = SIGN_PARAMS[alg];
  if (!params) throw new Error(`no signer for ${alg}`);
  const signature = await webcrypto.subtle.sign(
    params,
    key.privateKey as webcrypto.CryptoKey,
    Buffer.from(input),
  );
  return `${input}.${b64(new Uint8Array(signature))}`;
}

export interface AssertionOptions {
  readonly header?: Record<string, unknown>;
  readonly claims?: Record<string, unknown>;
  /** Member names to leave out of header or claims. */
  readonly omit?: string[];
  readonly now?: number;
}

/** A SMART-shaped assertion (iss = sub = clientId, aud = token URL, exp = now + 300, fresh jti, typ JWT). */
export async function makeAssertion(
  clientId: string,
  key: ClientKey,
  options: AssertionOptions = {},
): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const header: Record<string, unknown> = { alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header };
  const claims: Record<string, unknown> = {
    iss: clientId,
    sub: clientId,
    aud: TOKEN_URL,
    exp: now + 300,
    jti: randomUUID(),
    ...options.claims,
  };
  for (const name of options.omit ?? []) {
    delete header[name];
    delete claims[name];
  }
  return signRaw(JSON.stringify(header), JSON.stringify(claims), key, String(header.alg));
}

// ── Requests ─────────────────────────────────────────────────────────────────────────────────────

export async function register(app: AuthServerApp, body: Record<string, unknown>): Promise<string> {
  const res = await request(app).post('/register').set('Authorization', `Bearer ${ADMIN_TOKEN}`).send(body);
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.client_id as string;
}

export function tokenForm(assertion: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    grant_type: 'client_credentials',
    scope: 'system/Patient.rs',
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: assertion,
    ...extra,
  };
}

export function postToken(app: AuthServerApp, form: Record<string, string> | string) {
  return request(app)
    .post('/token')
    .set('Content-Type', 'application/x-www-form-urlencoded')
    .send(typeof form === 'string' ? form : new URLSearchParams(form).toString());
}

/** An RFC 6749 §5.2 refusal with the given reason code and the catalogue's status and error. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, unknown>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

export function expectRefusal(res: HttpAnswer, reason: ReasonCode): void {
  const entry = REASONS[reason];
  expect({
    status: res.status,
    error: res.body.error,
    reason: String(res.body.error_description).split(':')[0],
  }).toEqual({
    status: entry.status,
    error: entry.error,
    reason,
  });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers['pragma']).toBe('no-cache');
  expect(res.body.access_token).toBeUndefined();
}

// ── A local HTTP server for jwks_uri tests ───────────────────────────────────────────────────────

export interface JwksHost {
  readonly url: string;
  readonly base: string;
  /** Requests received, per path. */
  readonly hits: Map<string, number>;
  /** Replace what a path answers. */
  handle(path: string, handler: http.RequestListener): void;
  serveJwks(path: string, jwks: unknown, headers?: Record<string, string>): void;
  count(path: string): number;
  close(): Promise<void>;
}

export async function startJwksHost(): Promise<JwksHost> {
  const handlers = new Map<string, http.RequestListener>();
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const p = (req.url ?? '/').split('?')[0] as string;
    hits.set(p, (hits.get(p) ?? 0) + 1);
    const handler = handlers.get(p);
    if (handler) handler(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/jwks.json`,
    base,
    hits,
    handle: (p, handler) => void handlers.set(p, handler),
    serveJwks: (p, jwks, headers = {}) =>
      void handlers.set(p, (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(jwks));
      }),
    count: (p) => hits.get(p) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A byte-exact request through a real socket (supertest re-encodes Buffers created in Jest's realm). */
export async function rawRequest(
  app: AuthServerApp,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: Uint8Array | string },
): Promise<{
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  text: string;
}> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: options.method ?? 'POST',
          path: options.path ?? '/token',
          headers: options.headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: Record<string, unknown> = {};
            try {
              body = JSON.parse(text) as Record<string, unknown>;
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
          });
        },
      );
      req.on('error', reject);
      if (options.body !== undefined) req.write(options.body);
      req.end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
