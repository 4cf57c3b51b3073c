import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BackendServicesClient,
  createClientAssertion,
  generateClientKeys,
  registerClient,
  type GeneratedClientKeys,
} from '@smart-backend/client';
import { CLIENT_ASSERTION_TYPE } from '@smart-backend/protocol';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import {
  AUTH_CLI,
  AUTH_MAIN,
  FHIR_MAIN,
  freePort,
  startApp,
  tempDir,
  type RunningApp,
} from '../src/stack.js';
import {
  REDIS_URL,
  createTestDatabase,
  removeRedisPrefix,
  startRoundRobinProxy,
  testRedisPrefix,
  type RoundRobinProxy,
  type TestDatabase,
} from './services.js';

/**
 * Scale-out: two auth-server processes sharing one PostgreSQL database (clients, signing keys) and
 * one Redis key prefix (replay cache), behind a round-robin load balancer that gives them one
 * public URL — the issuer every token carries and the FHIR API trusts. The FHIR API reads the
 * JWKS through the balancer too. Tests also talk to each replica directly to pin which one answers.
 */

interface Replica {
  readonly name: string;
  readonly address: string;
  readonly app: RunningApp;
}

let db: TestDatabase;
const prefix = testRedisPrefix();
let proxy: RoundRobinProxy;
let replicas: [Replica, Replica];
let fhir: RunningApp;
let fhirBase: string;
let authEnv: Record<string, string>;
const adminToken = randomBytes(24).toString('base64url');
const dataDirs: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const [portA, portB, fhirPort] = [await freePort(), await freePort(), await freePort()];
  const addresses = [`http://127.0.0.1:${portA}`, `http://127.0.0.1:${portB}`];
  proxy = await startRoundRobinProxy(addresses);
  fhirBase = `http://127.0.0.1:${fhirPort}/fhir`;
  authEnv = {
    HOST: '127.0.0.1',
    PUBLIC_URL: proxy.url,
    FHIR_BASE_URL: fhirBase,
    ADMIN_TOKEN: adminToken,
    DATABASE_URL: db.url,
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    // Publish-before-sign, shortened so the test sees both phases of a rotation (default 120 s).
    KEY_ACTIVATION_DELAY: '5',
  };
  const start = (name: string, port: number) => {
    const dataDir = tempDir(`replica-${name}`);
    dataDirs.push(dataDir);
    return startApp(AUTH_MAIN, { ...authEnv, PORT: String(port), DATA_DIR: dataDir }, `auth-server ${name}`);
  };
  // Both at once, on an empty database: migrations and the first signing key must not collide.
  const [a, b] = await Promise.all([start('A', portA), start('B', portB)]);
  replicas = [
    { name: 'A', address: addresses[0]!, app: a },
    { name: 'B', address: addresses[1]!, app: b },
  ];
  const fhirDir = tempDir('replicas-fhir');
  dataDirs.push(fhirDir);
  fhir = await startApp(
    FHIR_MAIN,
    {
      PORT: String(fhirPort),
      HOST: '127.0.0.1',
      PUBLIC_URL: `http://127.0.0.1:${fhirPort}`,
      AUTH_URL: proxy.url,
      DATA_DIR: fhirDir,
      SEED: 'true',
    },
    'fhir-api',
  );
}, 60_000);

afterAll(async () => {
  const apps = [...(replicas ?? []).map((r) => r.app), ...(fhir ? [fhir] : [])];
  const codes = await Promise.all(apps.map((app) => app.stop()));
  await proxy?.close();
  await db?.drop();
  await removeRedisPrefix(prefix);
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  expect(codes.every((code) => code === 0)).toBe(true);
});

const [A, B] = [0, 1] as const;
const tokenUrl = () => `${proxy.url}/token`;

async function newClient(
  scope = 'system/Patient.rs',
): Promise<{ clientId: string; keys: GeneratedClientKeys }> {
  const keys = await generateClientKeys({ alg: 'ES384' });
  // Registered through replica A only.
  const { client_id: clientId } = await registerClient({
    authUrl: replicas[A].address,
    adminToken,
    jwks: keys.jwks,
    scope,
  });
  return { clientId, keys };
}

const assertionFor = (client: { clientId: string; keys: GeneratedClientKeys }) =>
  createClientAssertion({ clientId: client.clientId, tokenUrl: tokenUrl(), key: client.keys.signingKey });

async function postToken(base: string, assertion: string, scope = 'system/Patient.rs') {
  const response = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: assertion,
    }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function jwksOf(base: string): Promise<{ keys: Array<{ kid: string }> }> {
  return (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
}

function reasonOf(body: Record<string, unknown>): string {
  return String(body.error_description).split(':')[0] ?? '';
}

describe('two auth-server replicas on shared PostgreSQL and Redis', () => {
  it('started together, they share one schema and one signing key, and both are ready', async () => {
    const [jwksA, jwksB] = [await jwksOf(replicas[A].address), await jwksOf(replicas[B].address)];
    expect(jwksA.keys).toHaveLength(1);
    expect(jwksB).toEqual(jwksA);
    for (const replica of replicas) {
      const ready = await fetch(`${replica.address}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        checks: {
          clients: { backend: 'postgres' },
          keys: { backend: 'postgres' },
          replay: { backend: 'redis' },
        },
      });
    }
  });

  it('a client registered through replica A gets tokens from replica B, and a disable on B is seen by A', async () => {
    const client = await newClient();
    const fromB = await postToken(replicas[B].address, await assertionFor(client));
    expect(fromB.status).toBe(200);
    expect(fromB.body.scope).toBe('system/Patient.rs');

    const inspect = await fetch(`${replicas[B].address}/clients/${client.clientId}`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(await inspect.json()).toMatchObject({ client_id: client.clientId, status: 'active' });
    const disabled = await fetch(`${replicas[B].address}/clients/${client.clientId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(disabled.status).toBe(200);
    const fromA = await postToken(replicas[A].address, await assertionFor(client));
    expect([fromA.status, reasonOf(fromA.body)]).toEqual([400, 'client.disabled']);
  });

  it('an assertion accepted by replica A is refused by replica B (ATK-16 across replicas)', async () => {
    const client = await newClient();
    const assertion = await assertionFor(client);
    expect((await postToken(replicas[A].address, assertion)).status).toBe(200);
    const replay = await postToken(replicas[B].address, assertion);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_client');
    expect(reasonOf(replay.body)).toBe('assertion.replayed');
    expect(replay.body).not.toHaveProperty('access_token');
  });

  it('one assertion sent to both replicas at the same moment is accepted exactly once', async () => {
    const client = await newClient();
    for (let round = 0; round < 10; round++) {
      const assertion = await assertionFor(client);
      const answers = await Promise.all([
        postToken(replicas[A].address, assertion),
        postToken(replicas[B].address, assertion),
        postToken(replicas[round % 2 === 0 ? A : B].address, assertion),
      ]);
      expect(answers.map((a) => a.status).sort()).toEqual([200, 400, 400]);
      for (const refused of answers.filter((a) => a.status === 400))
        expect(reasonOf(refused.body)).toBe('assertion.replayed');
    }
  });

  it('tokens signed by either replica carry the one issuer and verify at the FHIR API', async () => {
    const client = await newClient('system/Patient.rs system/Observation.rs');
    for (const replica of replicas) {
      const answer = await postToken(replica.address, await assertionFor(client), 'system/Patient.rs');
      expect(answer.status).toBe(200);
      const token = answer.body.access_token as string;
      const { payload } = await jwtVerify(token, createLocalJWKSet(await jwksOf(replica.address)), {
        issuer: proxy.url,
        audience: fhirBase,
      });
      expect(payload.client_id).toBe(client.clientId);
      const search = await fetch(`${fhirBase}/Patient?_count=2`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect([replica.name, search.status]).toEqual([replica.name, 200]);
    }

    // The client library through the balancer: discovery via the FHIR API, tokens from both replicas.
    const before = [...proxy.forwarded];
    for (let i = 0; i < 4; i++) {
      const library = new BackendServicesClient({
        fhirBaseUrl: fhirBase,
        clientId: client.clientId,
        privateKey: client.keys.privateKeyPem,
        scope: 'system/Observation.rs',
      });
      const page = await library.searchPages('Observation', { _count: '1' }).next();
      expect(page.value).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    }
    expect(proxy.forwarded.every((count, i) => count > before[i]!)).toBe(true);
  });

  it('a key rotated on the shared database is published by both replicas at once and used by both from activates_at', async () => {
    const client = await newClient();
    const issue = async (address: string) => {
      const token = (await postToken(address, await assertionFor(client))).body.access_token as string;
      return { kid: decodeProtectedHeader(token).kid, iat: decodeJwt(token).iat!, receivedAt: Date.now() };
    };
    const before = await postToken(replicas[B].address, await assertionFor(client));
    const oldKid = decodeProtectedHeader(before.body.access_token as string).kid;

    const rotated = await runAuthCli(['keys', 'rotate', '--json'], { ...authEnv });
    expect(rotated.code).toBe(0);
    const {
      kid: newKid,
      retired,
      activates_at: activatesAt,
    } = JSON.parse(rotated.stdout) as { kid: string; retired: string[]; activates_at: string };
    expect(retired).toEqual([oldKid]);

    // Published by every replica before any token carries it (the JWKS endpoint re-reads the
    // store, so from here on each replica knows the new key).
    for (const replica of replicas) {
      expect((await jwksOf(replica.address)).keys.map((k) => k.kid)).toEqual([oldKid, newKid]);
    }
    // Each replica, asked until it signs with the new key. Not a timed window: a token received
    // before activates_at was signed before it and must carry the old kid; a replica stamps iat
    // before it picks the key, so a token whose iat is at or past activates_at must carry the new one.
    const activatesAtMs = Date.parse(activatesAt);
    for (const replica of replicas) {
      const issued: Array<Awaited<ReturnType<typeof issue>>> = [];
      do {
        if (issued.length > 0) await new Promise((resolve) => setTimeout(resolve, 100));
        issued.push(await issue(replica.address));
      } while (issued.at(-1)!.kid !== newKid);
      for (const token of issued) {
        if (token.receivedAt < activatesAtMs)
          expect([replica.name, token.kid]).toEqual([replica.name, oldKid]);
        if (token.iat * 1000 >= activatesAtMs)
          expect([replica.name, token.kid]).toEqual([replica.name, newKid]);
      }
    }

    for (const replica of replicas) {
      const after = await postToken(replica.address, await assertionFor(client));
      expect([replica.name, decodeProtectedHeader(after.body.access_token as string).kid]).toEqual([
        replica.name,
        newKid,
      ]);
      await expect(
        jwtVerify(after.body.access_token as string, createLocalJWKSet(await jwksOf(replica.address)), {
          issuer: proxy.url,
          audience: fhirBase,
        }),
      ).resolves.toBeDefined();
    }
    // A token signed with the previous key still verifies at the FHIR API (the key stays published).
    const old = await fetch(`${fhirBase}/Patient?_count=1`, {
      headers: { authorization: `Bearer ${before.body.access_token as string}` },
    });
    expect(old.status).toBe(200);
  });
});

function runAuthCli(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [AUTH_CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
