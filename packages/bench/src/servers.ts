import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { registerClient } from '@smart-backend/client';
import type { PublicJwk } from '@smart-backend/protocol';
import { BENCH_SCOPE, type AssertionTarget } from './assertions.js';
import {
  AUTH_SERVER_MAIN,
  FHIR_API_MAIN,
  benchEntry,
  freePort,
  startService,
  tempDir,
  type Service,
} from './processes.js';

/**
 * The processes under test. Ours run from their built `dist/main.js` with the operator contract's
 * environment variables and production defaults (SQLite under a temporary DATA_DIR, LOG_LEVEL
 * info: one audit line per token decision, one request line per FHIR request). Every process gets
 * NODE_ENV=production.
 */

export interface ProfileSettings {
  /** Directory for --cpu-prof output, when profiling. */
  readonly dir?: string;
}

function nodeArgsFor(name: string, profile: ProfileSettings): string[] {
  if (!profile.dir) return [];
  mkdirSync(profile.dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${profile.dir}`, `--cpu-prof-name=${name}.${Date.now()}.cpuprofile`];
}

export interface AuthServer {
  readonly service: Service;
  readonly url: string;
  readonly tokenUrl: string;
  readonly adminToken: string;
  readonly dataDir: string;
}

export async function startAuthServer(options: {
  name: string;
  fhirBaseUrl: string;
  env?: Record<string, string>;
  profile?: ProfileSettings;
}): Promise<AuthServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const adminToken = randomBytes(24).toString('base64url');
  const dataDir = tempDir(`${options.name}-data`);
  const service = await startService({
    name: options.name,
    script: AUTH_SERVER_MAIN,
    nodeArgs: nodeArgsFor(options.name, options.profile ?? {}),
    env: {
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: url,
      FHIR_BASE_URL: options.fhirBaseUrl,
      ADMIN_TOKEN: adminToken,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      ...options.env,
    },
  });
  return { service, url, tokenUrl: `${url}/token`, adminToken, dataDir };
}

/** Registers the bench client (both keys, by value) through the admin API; returns its target. */
export async function registerBenchClient(
  auth: AuthServer,
  jwks: { keys: PublicJwk[] },
): Promise<AssertionTarget> {
  const registration = await registerClient({
    authUrl: auth.url,
    adminToken: auth.adminToken,
    jwks,
    scope: BENCH_SCOPE,
    clientName: 'bench',
  });
  return { clientId: registration.client_id, tokenUrl: auth.tokenUrl };
}

export const PEER_CLIENT_ID = 'bench-client';

/** oidc-provider 9.13.3 configured for the same flow (see peers/oidc-provider.ts). */
export async function startOidcProvider(
  jwks: { keys: PublicJwk[] },
  fhirBaseUrl: string,
): Promise<{ service: Service; target: AssertionTarget }> {
  const input = { clients: [{ client_id: PEER_CLIENT_ID, jwks }], fhirBase: fhirBaseUrl, scope: BENCH_SCOPE };
  const service = await startService({
    name: 'oidc-provider',
    script: benchEntry('oidc-provider.js'),
    args: [JSON.stringify(input)],
    env: { NODE_ENV: 'production' },
  });
  return { service, target: { clientId: PEER_CLIENT_ID, tokenUrl: `${service.url}/token` } };
}

/** The empty Express 5 POST handler (see peers/express-floor.ts). */
export async function startExpressFloor(): Promise<{ service: Service; tokenUrl: string }> {
  const service = await startService({
    name: 'express-floor',
    script: benchEntry('express-floor.js'),
    env: { NODE_ENV: 'production' },
  });
  return { service, tokenUrl: `${service.url}/token` };
}

export interface FhirApi {
  readonly service: Service;
  /** The FHIR base, e.g. http://127.0.0.1:4001/fhir. */
  readonly base: string;
}

/** A port and the FHIR base it will serve, chosen before the auth server (whose audience it is). */
export async function reserveFhirBase(): Promise<{ port: number; base: string }> {
  const port = await freePort();
  return { port, base: `http://127.0.0.1:${port}/fhir` };
}

/**
 * The FHIR API with the bundled sample data (SEED=true): the product's `dist/main.js`, or the
 * bench-only entry whose verifier accepts any token (`verified: false`).
 */
export async function startFhirApi(options: {
  name: string;
  port: number;
  authUrl: string;
  verified: boolean;
  profile?: ProfileSettings;
}): Promise<FhirApi> {
  const service = await startService({
    name: options.name,
    script: options.verified ? FHIR_API_MAIN : benchEntry('fhir-api-unverified.js'),
    nodeArgs: nodeArgsFor(options.name, options.profile ?? {}),
    env: {
      NODE_ENV: 'production',
      PORT: String(options.port),
      HOST: '127.0.0.1',
      PUBLIC_URL: `http://127.0.0.1:${options.port}`,
      AUTH_URL: options.authUrl,
      DATA_DIR: join(tempDir(`${options.name}-data`)),
      SEED: 'true',
      LOG_LEVEL: 'info',
    },
  });
  return { service, base: service.url };
}
