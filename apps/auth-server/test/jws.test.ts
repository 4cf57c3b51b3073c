import { describe, expect, it } from '@jest/globals';
import { ACCESS_TOKEN_ALGORITHMS, ASSERTION_ALGORITHMS } from '@smart-backend/protocol';
import { CompactSign, compactVerify, exportJWK, generateKeyPair, importJWK, type CryptoKey } from 'jose';
import { importPrivateJwk, importPublicJwk, signCompactJws, verifyJwsSignature } from '../src/crypto/jws.js';
import { parseCompactJws } from '../src/token/compact-jws.js';

/** The node:crypto JWS primitives agree with jose, in both directions, for every algorithm we use. */

const keyPairs = new Map<string, Awaited<ReturnType<typeof generateKeyPair>>>();
async function keyPair(alg: string) {
  if (!keyPairs.has(alg)) keyPairs.set(alg, await generateKeyPair(alg, { extractable: true }));
  return keyPairs.get(alg) as Awaited<ReturnType<typeof generateKeyPair>>;
}

describe('verifyJwsSignature (client assertions)', () => {
  it.each(ASSERTION_ALGORITHMS.map((alg) => [alg]))(
    'verifies a %s signature made by jose, and nothing else',
    async (alg) => {
      const { privateKey, publicKey } = await keyPair(alg);
      const token = await new CompactSign(new TextEncoder().encode('{"iss":"c"}'))
        .setProtectedHeader({ alg })
        .sign(privateKey);
      const jws = parseCompactJws(token);
      const bound = importPublicJwk(await exportJWK(publicKey), alg);
      expect(await verifyJwsSignature(bound, jws.signingInput, jws.signature)).toBe(true);
      expect(await verifyJwsSignature(bound, `${jws.signingInput}x`, jws.signature)).toBe(false);
      const flipped = Uint8Array.from(jws.signature);
      flipped[flipped.length - 1] = (flipped.at(-1) ?? 0) ^ 1;
      expect(await verifyJwsSignature(bound, jws.signingInput, flipped)).toBe(false);
      expect(await verifyJwsSignature(bound, jws.signingInput, new Uint8Array())).toBe(false);
    },
    30_000,
  );

  it.each<[string, string]>([
    ['ES256', 'ES384'],
    ['ES384', 'ES256'],
    ['ES384', 'RS384'],
    ['RS384', 'ES384'],
  ])(
    'refuses to bind a %s key to %s',
    async (keyAlg, alg) => {
      const jwk = await exportJWK((await keyPair(keyAlg)).publicKey);
      expect(() => importPublicJwk(jwk, alg)).toThrow(/cannot be used with/);
    },
    30_000,
  );

  it('refuses algorithms outside its table', async () => {
    const jwk = await exportJWK((await keyPair('RS384')).publicKey);
    expect(() => importPublicJwk(jwk, 'HS256')).toThrow(/unsupported/);
    expect(() => importPublicJwk(jwk, 'none')).toThrow(/unsupported/);
  }, 30_000);
});

describe('where the work runs', () => {
  it.each<[string, boolean, boolean]>([
    ['RS384', false, true],
    ['ES256', true, true],
    ['ES384', false, false],
    ['EdDSA', true, true],
  ])(
    '%s keys: signing inline %s, verifying inline %s (P-384 and RSA signing go to the threadpool)',
    async (alg, sign, verify) => {
      const { privateKey, publicKey } = await keyPair(alg);
      expect(importPrivateJwk(await exportJWK(privateKey), alg).inline.sign).toBe(sign);
      expect(importPublicJwk(await exportJWK(publicKey), alg).inline.verify).toBe(verify);
    },
    30_000,
  );

  it('verifies RSA keys larger than 4096 bits on the threadpool', async () => {
    const { publicKey } = await generateKeyPair('RS384', { extractable: true, modulusLength: 6144 });
    expect(importPublicJwk(await exportJWK(publicKey), 'RS384').inline.verify).toBe(false);
  }, 60_000);
});

describe('signCompactJws (access tokens)', () => {
  it.each(ACCESS_TOKEN_ALGORITHMS.map((alg) => [alg]))(
    'produces %s tokens that jose verifies',
    async (alg) => {
      const { privateKey, publicKey } = await keyPair(alg);
      const bound = importPrivateJwk(await exportJWK(privateKey), alg);
      const token = await signCompactJws(
        bound,
        JSON.stringify({ alg, typ: 'at+jwt' }),
        '{"scope":"system/Patient.rs"}',
      );
      const verifyKey = (await importJWK(await exportJWK(publicKey), alg)) as CryptoKey;
      const { payload, protectedHeader } = await compactVerify(token, verifyKey, { algorithms: [alg] });
      expect(protectedHeader).toEqual({ alg, typ: 'at+jwt' });
      expect(new TextDecoder().decode(payload)).toBe('{"scope":"system/Patient.rs"}');
    },
    30_000,
  );
});
