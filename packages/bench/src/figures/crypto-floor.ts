import {
  constants,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { SignJWT, compactVerify, exportJWK, generateKeyPair, importJWK, type CryptoKey } from 'jose';
import type { BenchClientKeys } from '../assertions.js';

/**
 * The per-token crypto floor (figure 2b): what one issued token costs in signatures alone — one
 * RS384 client-assertion verify and one ES256 access-token sign — measured in this process, one
 * operation at a time (so: per core), with the same key objects reused for every token.
 *
 * Two variants: with jose (WebCrypto, what the issue asks for), and with node:crypto's synchronous
 * sign/verify on KeyObjects (what the auth server's hot path uses). Each is an upper bound for a
 * single-threaded token endpoint; the table reports ours as a fraction of both.
 */
export interface CryptoFloor {
  /** Tokens per second per core, jose (WebCrypto). */
  readonly jose: number;
  /** Tokens per second per core, node:crypto sign/verify (the server's own primitives). */
  readonly nodeCrypto: number;
}

export async function measureCryptoFloor(
  keys: BenchClientKeys,
  assertions: readonly string[],
  seconds: number,
): Promise<CryptoFloor> {
  const rsPublicJwk = keys.keys.RS384.jwks.keys[0];
  if (!rsPublicJwk) throw new Error('no RS384 public key');
  const tokens = assertions.map((body) => new URLSearchParams(body).get('client_assertion') ?? '');

  // The server's access-token key: ES256 (ACCESS_TOKEN_ALG default).
  const es256 = await generateKeyPair('ES256', { extractable: true });
  const accessTokenClaims = (i: number) => ({
    iss: 'http://127.0.0.1:4000',
    sub: 'bench-client',
    aud: 'http://127.0.0.1:4001/fhir',
    exp: 1_900_000_300,
    iat: 1_900_000_000,
    jti: `${randomBytes(18).toString('base64url')}${i}`,
    client_id: 'bench-client',
    scope: 'system/Patient.rs system/Observation.rs',
  });

  // jose: keys imported once.
  const joseVerifyKey = (await importJWK({ ...rsPublicJwk }, 'RS384')) as CryptoKey;
  const joseSignKey = es256.privateKey;
  const jose = await perSecond(seconds, async (i) => {
    await compactVerify(tokens[i % tokens.length] as string, joseVerifyKey, { algorithms: ['RS384'] });
    await new SignJWT(accessTokenClaims(i))
      .setProtectedHeader({ alg: 'ES256', kid: 'k', typ: 'at+jwt' })
      .sign(joseSignKey);
  });

  // node:crypto: KeyObjects imported once, as the server does.
  const verifyKey: KeyObject = createPublicKey({ key: { ...rsPublicJwk } as never, format: 'jwk' });
  const signKey: KeyObject = createPrivateKey({
    key: (await exportJWK(es256.privateKey)) as never,
    format: 'jwk',
  });
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'k', typ: 'at+jwt' })).toString('base64url');
  const nodeCrypto = await perSecond(seconds, async (i) => {
    const token = tokens[i % tokens.length] as string;
    const dot = token.lastIndexOf('.');
    const ok = verify(
      'sha384',
      Buffer.from(token.slice(0, dot), 'latin1'),
      { key: verifyKey, padding: constants.RSA_PKCS1_PADDING },
      Buffer.from(token.slice(dot + 1), 'base64url'),
    );
    if (!ok) throw new Error('assertion did not verify');
    const input = `${header}.${Buffer.from(JSON.stringify(accessTokenClaims(i))).toString('base64url')}`;
    sign('sha256', Buffer.from(input, 'latin1'), { key: signKey, dsaEncoding: 'ieee-p1363' }).toString(
      'base64url',
    );
  });

  return { jose, nodeCrypto };
}

/** Runs `operation` back to back for `seconds` (after a short warm-up) and returns operations per second. */
async function perSecond(seconds: number, operation: (i: number) => Promise<void>): Promise<number> {
  for (let i = 0; i < 500; i++) await operation(i);
  const started = performance.now();
  const until = started + seconds * 1000;
  let count = 0;
  while (performance.now() < until) {
    // Batches of 100 keep the clock reads out of the measurement.
    for (let j = 0; j < 100; j++) await operation(count + j);
    count += 100;
  }
  return count / ((performance.now() - started) / 1000);
}
