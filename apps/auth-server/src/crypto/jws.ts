import {
  constants,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import type { JWK } from 'jose';

/**
 * JWS signatures (RFC 7515 §5, RFC 7518 §3) with node:crypto on KeyObjects imported once: about a
 * third of the CPU of the WebCrypto path per operation, which matters on the token endpoint (one
 * verify and one sign per token). Only the algorithms below exist; each names its hash, padding
 * and signature encoding, and every key is checked at import to fit the one algorithm it will be
 * used with (RFC 8725 §3.1).
 *
 * Where an operation runs depends on what it costs. A trip through the libuv threadpool costs the
 * event loop ~30 µs of CPU under load (dispatch, a worker wake-up, the completion callback) — more
 * than the cheap operations themselves: RSA verification up to 4096 bits (~20-50 µs), and every
 * P-256 and Ed25519 operation (~20-60 µs) run inline. The expensive ones — P-384 (~0.5 ms) and
 * RSA signing (0.3-25 ms) — run on the threadpool, so they never stall the event loop. (Profile of
 * the token endpoint, RS384 assertions and ES256 access tokens: with both on the threadpool the
 * server spent ~210 µs of CPU per token; inline, ~150 µs.)
 */

interface AlgorithmSpec {
  /** null: the algorithm fixes its own hash (EdDSA). */
  readonly hash: 'sha256' | 'sha384' | null;
  readonly keyType: 'rsa' | 'ec' | 'ed25519';
  /** OpenSSL curve name for EC algorithms. */
  readonly curve?: 'prime256v1' | 'secp384r1';
  /** RSASSA-PSS with the salt as long as the hash (RFC 7518 §3.5). */
  readonly pssSaltLength?: number;
}

const ALGORITHMS: Readonly<Record<string, AlgorithmSpec>> = {
  RS256: { hash: 'sha256', keyType: 'rsa' },
  RS384: { hash: 'sha384', keyType: 'rsa' },
  PS256: { hash: 'sha256', keyType: 'rsa', pssSaltLength: 32 },
  PS384: { hash: 'sha384', keyType: 'rsa', pssSaltLength: 48 },
  ES256: { hash: 'sha256', keyType: 'ec', curve: 'prime256v1' },
  ES384: { hash: 'sha384', keyType: 'ec', curve: 'secp384r1' },
  EdDSA: { hash: null, keyType: 'ed25519' },
};

/** A key bound to the single algorithm it may be used with. */
export interface BoundKey {
  readonly alg: string;
  readonly key: KeyObject;
  /** Bytes in a signature by this key (RFC 7518: raw R‖S for ECDSA, the modulus size for RSA). */
  readonly signatureLength: number;
  /** Whether signing / verifying with this key is cheap enough to run on the event loop (see above). */
  readonly inline: { readonly sign: boolean; readonly verify: boolean };
}

/** RSA moduli up to this size verify in ≤ ~50 µs; larger ones go to the threadpool. */
const INLINE_RSA_VERIFY_MAX_BITS = 4096;

function specFor(alg: string): AlgorithmSpec {
  const spec = Object.hasOwn(ALGORITHMS, alg) ? ALGORITHMS[alg] : undefined;
  if (!spec) throw new Error(`unsupported JWS algorithm ${alg}`);
  return spec;
}

function bind(key: KeyObject, alg: string): BoundKey {
  const spec = specFor(alg);
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== spec.keyType || (spec.curve !== undefined && curve !== spec.curve)) {
    throw new Error(
      `a ${key.asymmetricKeyType ?? 'symmetric'}${curve ? ` ${curve}` : ''} key cannot be used with ${alg}`,
    );
  }
  const signatureLength =
    spec.keyType === 'rsa'
      ? Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)
      : spec.curve === 'secp384r1'
        ? 96
        : 64;
  const modulusLength = key.asymmetricKeyDetails?.modulusLength ?? 0;
  const inline =
    spec.keyType === 'rsa'
      ? { sign: false, verify: modulusLength <= INLINE_RSA_VERIFY_MAX_BITS }
      : spec.curve === 'secp384r1'
        ? { sign: false, verify: false }
        : { sign: true, verify: true };
  return { alg, key, signatureLength, inline };
}

/** Imports a public JWK for verification with `alg`; throws if the key does not fit the algorithm. */
export function importPublicJwk(jwk: JWK, alg: string): BoundKey {
  return bind(createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }), alg);
}

/** Imports a private JWK for signing with `alg`; throws if the key does not fit the algorithm. */
export function importPrivateJwk(jwk: JWK, alg: string): BoundKey {
  return bind(createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' }), alg);
}

function options(spec: AlgorithmSpec, key: KeyObject) {
  if (spec.keyType === 'ec') return { key, dsaEncoding: 'ieee-p1363' as const };
  if (spec.pssSaltLength !== undefined) {
    return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.pssSaltLength };
  }
  return { key, padding: constants.RSA_PKCS1_PADDING };
}

/**
 * True when `signature` is a valid `bound.alg` signature of `signingInput` (ASCII, RFC 7515 §5.2
 * step 8). Inline or on the threadpool, by the key's cost (see above).
 */
export function verifyJwsSignature(
  bound: BoundKey,
  signingInput: string,
  signature: Uint8Array,
): Promise<boolean> {
  const spec = specFor(bound.alg);
  if (bound.inline.verify) {
    try {
      return Promise.resolve(
        verify(spec.hash, Buffer.from(signingInput, 'latin1'), options(spec, bound.key), signature),
      );
    } catch {
      return Promise.resolve(false);
    }
  }
  return new Promise((resolve) => {
    try {
      verify(
        spec.hash,
        Buffer.from(signingInput, 'latin1'),
        options(spec, bound.key),
        signature,
        (error, valid) => resolve(!error && valid),
      );
    } catch {
      resolve(false);
    }
  });
}

/** Produces a compact JWS over the given (already JSON) header and payload texts; inline or on the threadpool, by cost. */
export function signCompactJws(bound: BoundKey, headerJson: string, payloadJson: string): Promise<string> {
  const signingInput = `${Buffer.from(headerJson).toString('base64url')}.${Buffer.from(payloadJson).toString('base64url')}`;
  const spec = specFor(bound.alg);
  if (bound.inline.sign) {
    try {
      const signature = sign(spec.hash, Buffer.from(signingInput, 'latin1'), options(spec, bound.key));
      return Promise.resolve(`${signingInput}.${signature.toString('base64url')}`);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
  return new Promise((resolve, reject) => {
    sign(spec.hash, Buffer.from(signingInput, 'latin1'), options(spec, bound.key), (error, signature) => {
      if (error) reject(error);
      else resolve(`${signingInput}.${signature.toString('base64url')}`);
    });
  });
}
