import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import request from 'supertest';
import { DEFAULT_FETCH_LIMITS } from '../../src/discovery/bounded-fetch.js';
import {
  createApp,
  createJwksTokenVerifier,
  openSqliteResourceStore,
  remoteSmartConfiguration,
  type AppConfig,
  type JwksTokenVerifierOptions,
  type ResourceStore,
} from '../../src/index.js';
import { startFakeAuthServer, type FakeAuthServer, type MintOptions } from './fake-auth-server.js';

export const FHIR_BASE = 'http://fhir.test:4001/fhir';

export interface TestApi {
  readonly auth: FakeAuthServer;
  readonly store: ResourceStore;
  readonly config: AppConfig;
  readonly dataDir: string;
  /** Where the app listens: http://127.0.0.1:<port>. */
  readonly address: string;
  /** How many requests have reached the app so far. */
  readonly requestsReceived: number;
  /** Resolves once every request that reached the app has ended its response (`res.end`), sent or not. */
  whenSettled(): Promise<void>;
  /** supertest against the app, listening on 127.0.0.1:0. */
  http(): ReturnType<typeof request>;
  /** A valid token for this FHIR base with the given scope (default system/*.cruds). */
  token(scope?: string, options?: MintOptions): Promise<string>;
  /** Rebuilds the app on the same DATA_DIR, as after a restart. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface TestApiOptions {
  readonly dataDir?: string;
  readonly verifier?: Partial<JwksTokenVerifierOptions>;
  /** Default: silent. */
  readonly logger?: Logger;
}

/** The FHIR API in-process, with a temp DATA_DIR and a stand-in auth server. */
export async function startTestApi(options: TestApiOptions = {}): Promise<TestApi> {
  const auth = await startFakeAuthServer();
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'fhir-api-test-'));
  const config: AppConfig = {
    publicUrl: 'http://fhir.test:4001',
    fhirBaseUrl: FHIR_BASE,
    authUrl: auth.url,
    clockSkewSeconds: 10,
  };

  let store: ResourceStore;
  let server: Server;
  let received = 0;
  const unsettled = new Set<ServerResponse>();
  const onSettled: Array<() => void> = [];
  const settle = (res: ServerResponse) => {
    unsettled.delete(res);
    if (unsettled.size > 0) return;
    for (const resolve of onSettled.splice(0)) resolve();
  };
  /** Counts requests in and watches `res.end`, which the app calls even when the client has gone. */
  const tracked = (app: (req: IncomingMessage, res: ServerResponse) => void) => {
    return (req: IncomingMessage, res: ServerResponse) => {
      received += 1;
      unsettled.add(res);
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      res.end = ((...args: unknown[]) => {
        const result = end(...args);
        settle(res);
        return result;
      }) as ServerResponse['end'];
      app(req, res);
    };
  };
  const build = async () => {
    store = openSqliteResourceStore({ dataDir });
    // Fetches from the stand-in auth server (in this process) must not race a deadline: on a
    // loaded machine the 5 s defaults were raced by fetches that succeed. Longer than any test.
    const fetchTimeoutMs = 120_000;
    const verifier = createJwksTokenVerifier({
      issuer: auth.url,
      audience: FHIR_BASE,
      clockSkewSeconds: 10,
      jwksCooldownMs: 0,
      jwksTimeoutMs: fetchTimeoutMs,
      ...options.verifier,
    });
    const smartConfiguration = remoteSmartConfiguration({
      authUrl: auth.url,
      retryAfterMs: 0,
      limits: { ...DEFAULT_FETCH_LIMITS, timeoutMs: fetchTimeoutMs },
    });
    const app = createApp(config, {
      store,
      verifier,
      smartConfiguration,
      ...(options.logger && { logger: options.logger }),
    });
    server = createServer(tracked(app));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  };
  const stop = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await store.close();
  };
  await build();

  return {
    auth,
    get store() {
      return store;
    },
    config,
    dataDir,
    get address() {
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    get requestsReceived() {
      return received;
    },
    whenSettled: () =>
      unsettled.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => onSettled.push(resolve)),
    http: () => request(server),
    token: (scope = 'system/*.cruds', mint = {}) => auth.mint(FHIR_BASE, { ...mint, scope }),
    async restart() {
      await stop();
      await build();
    },
    async close() {
      await stop();
      await auth.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const FHIR_JSON = 'application/fhir+json';

/** A minimal valid Patient. */
export function patient(family = 'Test', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { resourceType: 'Patient', name: [{ family, given: ['Pat'] }], gender: 'unknown', ...extra };
}

export const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
export const VITALS = 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs';

/** An Observation of the given category ('laboratory' | 'vital-signs'). */
export function observation(
  category: 'laboratory' | 'vital-signs',
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] },
    ],
    code: { coding: [{ system: 'http://loinc.org', code: category === 'laboratory' ? '2345-7' : '8867-4' }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2024-03-01T10:00:00Z',
    ...extra,
  };
}
