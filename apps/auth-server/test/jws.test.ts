import { randomBytes } from 'node:crypto';
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

  it.each<[number, boolean]>([
    [2048, true],
    [4096, true],
    [4104, false],
    [6144, false],
  ])('a %i-bit RSA public key verifies inline: %s (larger moduli go to the threadpool)', (bits, inline) => {
    // Only the modulus size decides, so a public key with a random odd modulus of that size stands
    // in for a generated pair: generating a 6144-bit key took 4-35 s on a loaded 2-core machine,
    // past any sensible test timeout now and then, and kept a threadpool thread busy after it.
    const n = randomBytes(bits / 8);
    n[0]! |= 0x80;
    n[n.length - 1]! |= 1;
    const jwk = { kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' };
    expect(importPublicJwk(jwk, 'RS384').inline.verify).toBe(inline);
  });
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
