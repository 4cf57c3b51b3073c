import { describe, expect, it } from '@jest/globals';
import { createPublicKey, generateKeyPair as generateNodeKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, calculateJwkThumbprint, type JWK } from 'jose';
import { checkPublicJwks, keyAllowsAlgorithm, PublicJwksSchema, type ReasonCode } from '../src/index.js';

async function publicJwk(
  alg: 'RS384' | 'ES384' | 'ES256' | 'RS256',
  options: { modulusLength?: number } = {},
): Promise<JWK> {
  const { publicKey } = await generateKeyPair(alg, { extractable: true, ...options });
  const jwk = await exportJWK(publicKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig', key_ops: ['verify'] };
}

/** base64url of a big-endian unsigned integer. */
const encodeInteger = (value: bigint) => {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex').toString('base64url');
};
const decodeInteger = (text: string) => BigInt(`0x${Buffer.from(text, 'base64url').toString('hex')}`);

describe('public JWKS validation (REG-09, REG-12, ATK-03, ATK-20)', () => {
  let rsa: JWK;
  let ec: JWK;
  let p256: JWK;
  let rsa1024: JWK;

  it('generates test keys', async () => {
    [rsa, ec, p256] = await Promise.all([publicJwk('RS384'), publicJwk('ES384'), publicJwk('ES256')]);
    // jose refuses to make keys under 2048 bits, which is the point; node:crypto still can.
    const small = await promisify(generateNodeKeyPair)('rsa', { modulusLength: 1024 });
    const pem = small.publicKey.export({ type: 'spki', format: 'pem' });
    rsa1024 = { ...(createPublicKey(pem).export({ format: 'jwk' }) as JWK), kid: 'small' };
  }, 60_000);

  it('accepts RSA and P-384 keys, with or without alg/use/key_ops', () => {
    expect(checkPublicJwks({ keys: [rsa, ec] })).toBeUndefined();
    const { alg: _a, use: _u, key_ops: _k, ...bare } = ec;
    expect(checkPublicJwks({ keys: [bare] })).toBeUndefined();
    expect(PublicJwksSchema.safeParse({ keys: [rsa] }).success).toBe(true);
  });

  it('accepts a P-256 key that names ES256 itself', () => {
    expect(checkPublicJwks({ keys: [p256] })).toBeUndefined();
  });

  const bad: Array<[title: string, make: () => unknown, reason: ReasonCode]> = [
    ['not an object', () => 'keys', 'jwks.malformed'],
    ['no keys array', () => ({ key: [] }), 'jwks.malformed'],
    ['an empty set', () => ({ keys: [] }), 'jwks.empty'],
    [
      'too many keys',
      () => ({ keys: Array.from({ length: 17 }, (_, i) => ({ ...ec, kid: `k${i}` })) }),
      'jwks.too_many_keys',
    ],
    ['a private RSA key (d)', () => ({ keys: [{ ...rsa, d: 'AAAA' }] }), 'jwks.private_key'],
    ['a private EC key (d)', () => ({ keys: [{ ...ec, d: 'AAAA' }] }), 'jwks.private_key'],
    ['RSA CRT members (p, q)', () => ({ keys: [{ ...rsa, p: 'AQAB', q: 'AQAB' }] }), 'jwks.private_key'],
    ['a symmetric key', () => ({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }] }), 'jwks.symmetric_key'],
    [
      'an OKP key',
      () => ({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', kid: 'ed' }] }),
      'jwks.unsupported_key_type',
    ],
    ['a key without kid', () => ({ keys: [{ ...ec, kid: undefined }] }), 'jwks.kid_missing'],
    ['duplicate kids', () => ({ keys: [ec, { ...rsa, kid: ec.kid }] }), 'jwks.duplicate_kid'],
    ['RSA under 2048 bits', () => ({ keys: [rsa1024] }), 'jwks.rsa_too_small'],
    ['an RSA key named ES384', () => ({ keys: [{ ...rsa, alg: 'ES384' }] }), 'jwks.alg_key_mismatch'],
    [
      'a P-256 key named ES384 (curve mismatch)',
      () => ({ keys: [{ ...p256, alg: 'ES384' }] }),
      'jwks.alg_key_mismatch',
    ],
    [
      'a P-384 key named ES256 (curve mismatch)',
      () => ({ keys: [{ ...ec, alg: 'ES256' }] }),
      'jwks.alg_key_mismatch',
    ],
    ['a P-256 key without alg', () => ({ keys: [{ ...p256, alg: undefined }] }), 'jwks.alg_key_mismatch'],
    ['alg HS256', () => ({ keys: [{ ...rsa, alg: 'HS256' }] }), 'jwks.alg_not_allowed'],
    ['alg none', () => ({ keys: [{ ...ec, alg: 'none' }] }), 'jwks.alg_not_allowed'],
    ['curve P-521', () => ({ keys: [{ ...ec, crv: 'P-521', alg: undefined }] }), 'jwks.alg_not_allowed'],
    ['coordinates of the wrong size', () => ({ keys: [{ ...ec, x: 'AAAA' }] }), 'jwks.ec_point_invalid'],
    ['non-base64url modulus', () => ({ keys: [{ ...rsa, n: 'not+base64/==' }] }), 'jwks.malformed'],
    ['use enc', () => ({ keys: [{ ...ec, use: 'enc' }] }), 'jwks.use_not_sig'],
    ['key_ops without verify', () => ({ keys: [{ ...ec, key_ops: ['encrypt'] }] }), 'jwks.use_not_sig'],
  ];
  it.each(bad)('refuses %s', (_title, make, reason) => {
    const found = checkPublicJwks(make());
    expect(found?.reason).toBe(reason);
    const parsed = PublicJwksSchema.safeParse(make());
    expect(parsed.success).toBe(false);
    expect((parsed.error?.issues[0] as { params?: { reason?: string } } | undefined)?.params?.reason).toBe(
      reason,
    );
  });

  /**
   * RSA public keys that cannot be real (RFC 8017 §3.1: n is the product of two large primes;
   * FIPS 186-4 Appendix B.3.1: e is odd and greater than 2^16), each derived from a real key.
   */
  const nearest = (n: bigint, residue: bigint, modulus: bigint) =>
    n - ((((n - residue) % modulus) + modulus) % modulus);
  const rsaCases: Array<
    [
      title: string,
      outcome: ReasonCode | 'accepted',
      change: (n: bigint) => { n?: bigint; e?: bigint | string },
    ]
  > = [
    ['the real key', 'accepted', () => ({})],
    [
      'e = 65537 with a leading zero byte',
      'accepted',
      () => ({ e: Buffer.from([0, 1, 0, 1]).toString('base64url') }),
    ],
    ['e = 65539 (odd, above 2^16)', 'accepted', () => ({ e: 65539n })],
    ['e = 2^32 - 1', 'accepted', () => ({ e: 2n ** 32n - 1n })],
    ['an even modulus', 'jwks.rsa_modulus_invalid', (n) => ({ n: n - 1n })],
    ['an even modulus 2^2047', 'jwks.rsa_modulus_invalid', () => ({ n: 2n ** 2047n })],
    ['a modulus divisible by 3', 'jwks.rsa_modulus_invalid', (n) => ({ n: nearest(n, 3n, 6n) })],
    ['a modulus divisible by 997', 'jwks.rsa_modulus_invalid', (n) => ({ n: nearest(n, 997n, 2n * 997n) })],
    ['a 2047-bit modulus', 'jwks.rsa_too_small', (n) => ({ n: (n >> 1n) | 1n })],
    ['e = 1', 'jwks.rsa_exponent_invalid', () => ({ e: 1n })],
    ['e = 3', 'jwks.rsa_exponent_invalid', () => ({ e: 3n })],
    ['e = 17', 'jwks.rsa_exponent_invalid', () => ({ e: 17n })],
    ['e = 65535', 'jwks.rsa_exponent_invalid', () => ({ e: 65535n })],
    ['e = 65536 (even)', 'jwks.rsa_exponent_invalid', () => ({ e: 65536n })],
    ['e = 65538 (even)', 'jwks.rsa_exponent_invalid', () => ({ e: 65538n })],
    ['e = 2^32 + 1 (over 32 bits)', 'jwks.rsa_exponent_invalid', () => ({ e: 2n ** 32n + 1n })],
    ['e = 0', 'jwks.rsa_exponent_invalid', () => ({ e: 0n })],
  ];
  it.each(rsaCases)('RSA: %s → %s', (_title, outcome, change) => {
    const original = decodeInteger(rsa.n as string);
    const { n = original, e = rsa.e as string } = change(original);
    const found = checkPublicJwks({
      keys: [{ ...rsa, n: encodeInteger(n), e: typeof e === 'string' ? e : encodeInteger(e) }],
    });
    expect(found?.reason ?? 'accepted').toBe(outcome);
  });

  it('refuses an RSA key that also carries a non-string crv, without throwing', () => {
    const value = JSON.parse(
      `{"keys":[${JSON.stringify({ ...rsa, alg: 'ES384' }).slice(0, -1)},"crv":{"toString":1}}]}`,
    ) as unknown;
    expect(checkPublicJwks(value)?.reason).toBe('jwks.alg_key_mismatch');
  });

  // JSON texts, not object literals: `{ __proto__: x }` in source sets a prototype, not a member.
  it.each([
    ['the set', (key: string) => `{"keys":[${key}],"__proto__":{"keys":[]}}`],
    ['a key', (key: string) => `{"keys":[${key.slice(0, -1)},"__proto__":{"d":"AAAA"}}]}`],
    ['a key, escaped', (key: string) => `{"keys":[${key.slice(0, -1)},"\\u005f_proto__":{}}]}`],
    ['a key, constructor', (key: string) => `{"keys":[${key.slice(0, -1)},"constructor":{}}]}`],
    ['key_ops', (key: string) => `{"keys":[${key.slice(0, -1)},"x":[{"prototype":1}]}]}`],
  ])('refuses a member named __proto__, constructor or prototype in %s (jwks.malformed)', (_t, make) => {
    const value = JSON.parse(make(JSON.stringify(ec))) as unknown;
    expect(checkPublicJwks(value)?.reason).toBe('jwks.malformed');
    expect(PublicJwksSchema.safeParse(value).success).toBe(false);
  });

  it('keyAllowsAlgorithm: one algorithm per key, by type and curve', () => {
    const { alg: _a, ...bareRsa } = rsa;
    expect(keyAllowsAlgorithm(bareRsa as never, 'RS384')).toBe(true);
    expect(keyAllowsAlgorithm(bareRsa as never, 'RS256')).toBe(false); // opt-in algs need the key's own alg
    expect(keyAllowsAlgorithm({ ...bareRsa, alg: 'RS256' } as never, 'RS256')).toBe(true);
    expect(keyAllowsAlgorithm({ ...bareRsa, alg: 'RS256' } as never, 'RS384')).toBe(false);
    expect(keyAllowsAlgorithm(ec as never, 'ES384')).toBe(true);
    expect(keyAllowsAlgorithm(ec as never, 'RS384')).toBe(false);
    expect(keyAllowsAlgorithm(ec as never, 'HS384')).toBe(false);
    expect(keyAllowsAlgorithm(ec as never, 'none')).toBe(false);
    expect(keyAllowsAlgorithm(p256 as never, 'ES384')).toBe(false);
  });
});
