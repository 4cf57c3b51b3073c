import { z } from 'zod';
import { decodeBase64url } from '../base64url.js';
import {
  ASSERTION_ALGORITHMS,
  MAX_JWKS_KEYS,
  MAX_KID_LENGTH,
  MAX_RSA_MODULUS_BITS,
  MIN_RSA_EXPONENT,
  MIN_RSA_MODULUS_BITS,
  type AssertionAlgorithm,
} from '../constants.js';
import { findPrototypeMember } from '../json-members.js';
import { reasonParam, type Problem } from './problem.js';

/**
 * A client's public signing key as registered. Only what RFC 7517/7518 say a public RSA or EC key
 * has; validation (below) refuses everything else.
 */
export interface PublicJwk {
  kty: 'RSA' | 'EC';
  kid: string;
  alg?: AssertionAlgorithm;
  use?: 'sig';
  key_ops?: string[];
  n?: string;
  e?: string;
  crv?: 'P-256' | 'P-384';
  x?: string;
  y?: string;
  [member: string]: unknown;
}

export interface PublicJwks {
  keys: PublicJwk[];
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const CURVE_COORDINATE_BYTES = { 'P-256': 32, 'P-384': 48 } as const;
/** RFC 7518 §3.1 algorithm → key type and, for EC, curve. */
const ALG_REQUIREMENTS: Record<AssertionAlgorithm, { kty: 'RSA' | 'EC'; crv?: 'P-256' | 'P-384' }> = {
  RS384: { kty: 'RSA' },
  RS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES256: { kty: 'EC', crv: 'P-256' },
};

const problem = (reason: Problem['reason'], message: string): Problem => ({ reason, message });

/**
 * The algorithm a registered key is used with (RFC 8725 §3.1: one algorithm per key): its own
 * `alg`, or RS384 for RSA and ES384 for P-384 keys that don't name one.
 */
export function algorithmForKey(jwk: Pick<PublicJwk, 'kty' | 'crv' | 'alg'>): AssertionAlgorithm | undefined {
  if (jwk.alg) return jwk.alg;
  if (jwk.kty === 'RSA') return 'RS384';
  if (jwk.kty === 'EC' && jwk.crv === 'P-384') return 'ES384';
  return undefined;
}

/** True when `alg` may be used with `jwk` (kty, curve and the key's own alg all fit). */
export function keyAllowsAlgorithm(jwk: Pick<PublicJwk, 'kty' | 'crv' | 'alg'>, alg: string): boolean {
  if (!(ASSERTION_ALGORITHMS as readonly string[]).includes(alg)) return false;
  const need = ALG_REQUIREMENTS[alg as AssertionAlgorithm];
  if (jwk.kty !== need.kty || (need.crv && jwk.crv !== need.crv)) return false;
  if (jwk.alg !== undefined) return jwk.alg === alg;
  // Without its own alg, a key is used only with the SMART default for its type.
  return algorithmForKey(jwk) === alg;
}

/** The first reason `value` is not an acceptable public signing JWK, or undefined. */
export function checkPublicJwk(value: unknown, index = 0): Problem | undefined {
  const at = `keys[${index}]`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return problem('jwks.malformed', `${at} is not a JSON object`);
  }
  const jwk = value as Record<string, unknown>;
  const privateMember = PRIVATE_MEMBERS.find((m) => m in jwk);
  if (jwk.kty === 'oct')
    return problem('jwks.symmetric_key', `${at} is a symmetric (oct) key; register public keys only`);
  if (privateMember)
    return problem(
      'jwks.private_key',
      `${at} contains the private member "${privateMember}"; register public keys only`,
    );
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') {
    return problem(
      'jwks.unsupported_key_type',
      `${at} has kty ${JSON.stringify(jwk.kty)}; only RSA and EC keys are supported`,
    );
  }
  if (typeof jwk.kid !== 'string' || jwk.kid.length === 0 || jwk.kid.length > MAX_KID_LENGTH) {
    return problem('jwks.kid_missing', `${at} needs a kid of 1 to ${MAX_KID_LENGTH} characters`);
  }
  if (jwk.use !== undefined && jwk.use !== 'sig')
    return problem('jwks.use_not_sig', `${at} has use ${JSON.stringify(jwk.use)}, not "sig"`);
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) {
    return problem('jwks.use_not_sig', `${at} has key_ops without "verify"`);
  }
  if (jwk.alg !== undefined && !(ASSERTION_ALGORITHMS as readonly unknown[]).includes(jwk.alg)) {
    return problem(
      'jwks.alg_not_allowed',
      `${at} names alg ${JSON.stringify(jwk.alg)}; allowed: ${ASSERTION_ALGORITHMS.join(', ')}`,
    );
  }
  const keyProblem = jwk.kty === 'RSA' ? checkRsaMembers(jwk, at) : checkEcMembers(jwk, at);
  if (keyProblem) return keyProblem;

  const alg = algorithmForKey(jwk as unknown as PublicJwk);
  if (alg === undefined || !keyAllowsAlgorithm(jwk as unknown as PublicJwk, alg)) {
    // kty and alg are known strings by now; crv is whatever an RSA key carried, so it is described
    // as JSON (String() of an object with a "toString" member throws).
    const keyType = `${String(jwk.kty)}${jwk.crv === undefined ? '' : ` ${JSON.stringify(jwk.crv).slice(0, 32)}`}`;
    return problem(
      'jwks.alg_key_mismatch',
      jwk.alg === undefined
        ? `${at} (${keyType}) needs an alg member: only RSA and P-384 keys default to RS384/ES384`
        : `${at} is ${keyType}, which does not fit alg ${String(jwk.alg)}`,
    );
  }
  return undefined;
}

function checkRsaMembers(jwk: Record<string, unknown>, at: string): Problem | undefined {
  const n = typeof jwk.n === 'string' ? decodeBase64url(jwk.n) : undefined;
  const e = typeof jwk.e === 'string' ? decodeBase64url(jwk.e) : undefined;
  if (!n || n.length === 0 || !e || e.length === 0)
    return problem('jwks.malformed', `${at} needs base64url n and e`);
  const bits = bitLength(n);
  if (bits < MIN_RSA_MODULUS_BITS)
    return problem(
      'jwks.rsa_too_small',
      `${at} is a ${bits}-bit RSA key; at least ${MIN_RSA_MODULUS_BITS} bits are required`,
    );
  if (bits > MAX_RSA_MODULUS_BITS)
    return problem(
      'jwks.rsa_too_large',
      `${at} is a ${bits}-bit RSA key; at most ${MAX_RSA_MODULUS_BITS} bits are accepted`,
    );
  const factor = smallPrimeFactor(n);
  if (factor !== undefined) {
    return problem(
      'jwks.rsa_modulus_invalid',
      `${at} has an RSA modulus divisible by ${factor}; a modulus is the product of two large primes`,
    );
  }
  // FIPS 186-4 Appendix B.3.1: e is odd and greater than 2^16; bounded to 32 bits here because no
  // honest key needs more and a large exponent only makes verification slower.
  const exponent = exponentValue(e);
  if (exponent === undefined || exponent < MIN_RSA_EXPONENT || exponent % 2 === 0) {
    return problem(
      'jwks.rsa_exponent_invalid',
      `${at} has an unacceptable RSA exponent; it must be odd, at least ${MIN_RSA_EXPONENT} and at most 32 bits`,
    );
  }
  return undefined;
}

/** The exponent as a number when it fits 32 bits; undefined for anything longer. */
function exponentValue(e: Uint8Array): number | undefined {
  if (bitLength(e) > 32) return undefined;
  return e.reduce((value, byte) => value * 256 + byte, 0);
}

/** The primes below 1000 (a sieve, once). */
const SMALL_PRIMES: readonly number[] = (() => {
  const composite = new Uint8Array(1000);
  const primes: number[] = [];
  for (let i = 2; i < composite.length; i++) {
    if (composite[i]) continue;
    primes.push(i);
    for (let j = i * i; j < composite.length; j += i) composite[j] = 1;
  }
  return primes;
})();

/**
 * A prime below 1000 that divides the big-endian modulus `n`, or undefined. An RSA modulus is the
 * product of two primes of about half its size (RFC 8017 §3.1), so an even modulus, or one with
 * any other small factor, cannot be one: such a "key" verifies nothing its holder signed and
 * may be chosen to make forgeries easy. Trial division is cheap (a few thousand operations).
 */
function smallPrimeFactor(n: Uint8Array): number | undefined {
  return SMALL_PRIMES.find((prime) => n.reduce((rest, byte) => (rest * 256 + byte) % prime, 0) === 0);
}

function checkEcMembers(jwk: Record<string, unknown>, at: string): Problem | undefined {
  if (jwk.crv !== 'P-256' && jwk.crv !== 'P-384') {
    return problem(
      'jwks.alg_not_allowed',
      `${at} uses curve ${JSON.stringify(jwk.crv)}; only P-384 (ES384) and P-256 (ES256) are accepted`,
    );
  }
  const size = CURVE_COORDINATE_BYTES[jwk.crv];
  const x = typeof jwk.x === 'string' ? decodeBase64url(jwk.x) : undefined;
  const y = typeof jwk.y === 'string' ? decodeBase64url(jwk.y) : undefined;
  if (!x || !y || x.length !== size || y.length !== size) {
    return problem('jwks.ec_point_invalid', `${at} needs ${size}-byte base64url x and y for ${jwk.crv}`);
  }
  return undefined;
}

function bitLength(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i] ?? 0));
}

/** The first reason `value` is not an acceptable public JWK Set for client authentication, or undefined. */
export function checkPublicJwks(value: unknown): Problem | undefined {
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) {
    return problem('jwks.malformed', 'a JWK Set is an object with a "keys" array');
  }
  // What is checked below must be what is stored and used: no member that zod or a copy would
  // turn into something else (see json-members.ts).
  const prototypeMember = findPrototypeMember(value);
  if (prototypeMember !== undefined) {
    return problem(
      'jwks.malformed',
      `the JWK Set has a member named ${JSON.stringify(prototypeMember.name)} (at ${prototypeMember.path}); this name is refused`,
    );
  }
  const keys = (value as { keys: unknown[] }).keys;
  if (keys.length === 0) return problem('jwks.empty', 'the JWK Set has no keys');
  if (keys.length > MAX_JWKS_KEYS)
    return problem(
      'jwks.too_many_keys',
      `the JWK Set has ${keys.length} keys; at most ${MAX_JWKS_KEYS} are accepted`,
    );
  const kids = new Set<string>();
  for (const [index, key] of keys.entries()) {
    const keyProblem = checkPublicJwk(key, index);
    if (keyProblem) return keyProblem;
    const kid = (key as PublicJwk).kid;
    if (kids.has(kid))
      return problem('jwks.duplicate_kid', `kid "${kid}" appears more than once; kids must be unique`);
    kids.add(kid);
  }
  return undefined;
}

/** A public JWK Set that {@link checkPublicJwks} accepts. Issues carry their reason code. */
export const PublicJwksSchema = z.custom<PublicJwks>().superRefine((value, ctx) => {
  const found = checkPublicJwks(value);
  if (found) ctx.addIssue({ code: 'custom', message: found.message, params: reasonParam(found.reason) });
});
