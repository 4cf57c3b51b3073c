import { randomBytes, sign, constants, createPrivateKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import type { AssertionBatch } from './assertions.js';

/**
 * Signs a batch of token-request bodies in a worker thread, each with a fresh client assertion
 * (SMART CCA: header { alg, kid, typ: JWT }; iss = sub = client_id, aud = token URL, exp, iat,
 * unique jti) — what a SMART client sends, signed before the timed run so the load generator only
 * has to hand them out.
 */
const batch = workerData as AssertionBatch;
const key = createPrivateKey(batch.privateKeyPem);
const hash = batch.alg.endsWith('256') ? 'sha256' : 'sha384';
const options = batch.alg.startsWith('ES')
  ? { key, dsaEncoding: 'ieee-p1363' as const }
  : { key, padding: constants.RSA_PKCS1_PADDING };
const header = Buffer.from(JSON.stringify({ alg: batch.alg, kid: batch.kid, typ: 'JWT' })).toString(
  'base64url',
);
const prefix =
  `grant_type=client_credentials&scope=${encodeURIComponent(batch.scope)}` +
  `&client_assertion_type=${encodeURIComponent('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')}` +
  '&client_assertion=';
const jtiPrefix = randomBytes(12).toString('base64url');

const bodies: string[] = new Array<string>(batch.count);
for (let i = 0; i < batch.count; i++) {
  const iat = Math.floor(Date.now() / 1000);
  const claims = {
    iss: batch.clientId,
    sub: batch.clientId,
    aud: batch.aud,
    exp: iat + batch.lifetimeSeconds,
    iat,
    jti: `${jtiPrefix}.${batch.worker}.${i}`,
  };
  const signingInput = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = sign(hash, Buffer.from(signingInput), options).toString('base64url');
  bodies[i] = `${prefix}${signingInput}.${signature}`;
}
parentPort?.postMessage(bodies);
