import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { generateClientKeys, type GeneratedClientKeys } from '@smart-backend/client';
import type { PublicJwk } from '@smart-backend/protocol';

/** The two algorithms SMART clients must support (SMART CCA), in the order they are reported. */
export const CLIENT_ALGORITHMS = ['RS384', 'ES384'] as const;
export type ClientAlgorithm = (typeof CLIENT_ALGORITHMS)[number];

/** The scope every benchmark token request asks for (granted in full by every server). */
export const BENCH_SCOPE = 'system/Patient.rs system/Observation.rs';

export interface BenchClientKeys {
  readonly keys: Record<ClientAlgorithm, GeneratedClientKeys>;
  /** The public JWK Set holding both keys: what every server registers for the client. */
  readonly jwks: { keys: PublicJwk[] };
}

/** One RSA-2048 and one P-384 key, generated with the client library (jose's async generator). */
export async function generateBenchClientKeys(): Promise<BenchClientKeys> {
  const withTimeout = <T>(promise: Promise<T>) =>
    Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('key generation hung (see TOOLCHAIN.md)')), 30_000).unref(),
      ),
    ]);
  const rs = await withTimeout(generateClientKeys({ alg: 'RS384' }));
  const es = await withTimeout(generateClientKeys({ alg: 'ES384' }));
  return {
    keys: { RS384: rs, ES384: es },
    jwks: { keys: [...rs.jwks.keys, ...es.jwks.keys] as PublicJwk[] },
  };
}

export interface AssertionTarget {
  readonly clientId: string;
  /** The token endpoint URL: the assertion's aud. */
  readonly tokenUrl: string;
}

/** What one worker signs. */
export interface AssertionBatch {
  readonly alg: ClientAlgorithm;
  readonly privateKeyPem: string;
  readonly kid: string;
  readonly clientId: string;
  readonly aud: string;
  readonly scope: string;
  readonly lifetimeSeconds: number;
  readonly count: number;
  readonly worker: number;
}

const WORKER = new URL('./assertion-worker.js', import.meta.url);

/**
 * `count` token-request bodies, each with its own freshly signed assertion (unique jti), signed
 * on every core in parallel. Nothing else runs while they are signed.
 */
export async function signTokenRequests(
  keys: BenchClientKeys,
  alg: ClientAlgorithm,
  target: AssertionTarget,
  count: number,
  lifetimeSeconds = 300,
): Promise<string[]> {
  const key = keys.keys[alg];
  const workers = Math.max(1, Math.min(availableParallelism(), Math.ceil(count / 500)));
  const per = Math.ceil(count / workers);
  const parts = await Promise.all(
    Array.from({ length: workers }, (_, worker) => {
      const batch: AssertionBatch = {
        alg,
        privateKeyPem: key.privateKeyPem,
        kid: key.kid,
        clientId: target.clientId,
        aud: target.tokenUrl,
        scope: BENCH_SCOPE,
        lifetimeSeconds,
        count: Math.max(0, Math.min(per, count - worker * per)),
        worker,
      };
      return new Promise<string[]>((resolve, reject) => {
        const thread = new Worker(WORKER, { workerData: batch });
        thread.once('message', (bodies: string[]) => resolve(bodies));
        thread.once('error', reject);
        thread.once('exit', (code) => {
          if (code !== 0) reject(new Error(`assertion worker exited with ${code}`));
        });
      });
    }),
  );
  return parts.flat();
}
