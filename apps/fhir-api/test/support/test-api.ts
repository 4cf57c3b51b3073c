import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
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
  const build = async () => {
    store = openSqliteResourceStore({ dataDir });
    const verifier = createJwksTokenVerifier({
      issuer: auth.url,
      audience: FHIR_BASE,
      clockSkewSeconds: 10,
      jwksCooldownMs: 0,
      ...options.verifier,
    });
    const smartConfiguration = remoteSmartConfiguration({ authUrl: auth.url, retryAfterMs: 0 });
    server = createServer(createApp(config, { store, verifier, smartConfiguration }));
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
