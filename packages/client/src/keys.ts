import { createPrivateKey, type JsonWebKey as NodeJsonWebKey, type KeyObject } from 'node:crypto';
import {
  calculateJwkThumbprint,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  importJWK,
  importPKCS8,
  type CryptoKey,
  type JWK,
} from 'jose';
import {
  ASSERTION_ALGORITHMS,
  MAX_KID_LENGTH,
  MAX_RSA_MODULUS_BITS,
  MIN_RSA_MODULUS_BITS,
  checkPublicJwks,
  type AssertionAlgorithm,
  type PublicJwk,
  type PublicJwks,
} from '@smart-backend/protocol';
import { InvalidInputError, KeyError } from './errors.js';
import { readSmallFile } from './files.js';

/** Algorithms keys can be generated for (SMART CCA: clients SHALL support both). */
export const GENERATED_KEY_ALGORITHMS = ['RS384', 'ES384'] as const;
export type GeneratedKeyAlgorithm = (typeof GENERATED_KEY_ALGORITHMS)[number];
export const DEFAULT_GENERATED_KEY_ALGORITHM: GeneratedKeyAlgorithm = 'ES384';
export const RSA_MODULUS_LENGTHS = [2048, 3072, 4096] as const;
export const DEFAULT_RSA_MODULUS_LENGTH = 2048;

/**
 * A private key ready to sign client assertions: bound to one algorithm (RFC 8725 §3.1), with the
 * `kid` the authorization server knows it by and its public JWK. The CryptoKey is not extractable,
 * so the private material cannot be exported from this object by accident.
 */
export interface ClientSigningKey {
  readonly alg: AssertionAlgorithm;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: PublicJwk;
}

export interface GeneratedClientKeys {
  readonly alg: GeneratedKeyAlgorithm;
  readonly kid: string;
  /** PKCS#8 PEM. Secret: store it with mode 0600 and never log it. */
  readonly privateKeyPem: string;
  /** SPKI PEM. */
  readonly publicKeyPem: string;
  /** The public JWK Set to register: kty and public members, kid (RFC 7638 thumbprint), alg, use, key_ops. */
  readonly jwks: PublicJwks;
  readonly signingKey: ClientSigningKey;
}

export interface LoadKeyOptions {
  /** The algorithm to sign with. Default: the JWK's own `alg`, else RS384 (RSA), ES384 (P-384), ES256 (P-256). */
  alg?: string;
  /** The kid to announce. Default: the JWK's own `kid`, else the RFC 7638 thumbprint of the public key. */
  kid?: string;
}

/** A private key in any form this package reads: PKCS#8 PEM text, a private JWK (object or JSON text), or an already loaded key. */
export type PrivateKeyInput = string | JWK | ClientSigningKey;

const CURVE_ALGORITHMS: Record<string, AssertionAlgorithm> = { 'P-384': 'ES384', 'P-256': 'ES256' };
const NODE_CURVE_NAMES: Record<string, string> = { secp384r1: 'P-384', prime256v1: 'P-256' };
const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * Generates a key pair for client authentication (jose's async generator: `generateKeyPairSync`
 * can hang on Node 20 while exporting). RS384 → RSA (2048 bits by default), ES384 → P-384.
 */
export async function generateClientKeys(
  options: { alg?: GeneratedKeyAlgorithm; modulusLength?: number } = {},
): Promise<GeneratedClientKeys> {
  const alg = options.alg ?? DEFAULT_GENERATED_KEY_ALGORITHM;
  if (!(GENERATED_KEY_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new InvalidInputError(
      `cannot generate keys for alg ${JSON.stringify(alg)}; choose ${GENERATED_KEY_ALGORITHMS.join(' or ')}`,
    );
  }
  const modulusLength = options.modulusLength ?? DEFAULT_RSA_MODULUS_LENGTH;
  if (alg === 'RS384' && !(RSA_MODULUS_LENGTHS as readonly number[]).includes(modulusLength)) {
    throw new InvalidInputError(
      `RSA modulus length must be one of ${RSA_MODULUS_LENGTHS.join(', ')} bits, got ${String(modulusLength)}`,
    );
  }
  const pair = await generateKeyPair(alg, { extractable: true, modulusLength });
  const privateKeyPem = await exportPKCS8(pair.privateKey);
  const publicKeyPem = await exportSPKI(pair.publicKey);
  const signingKey = await loadPrivateKey(privateKeyPem, { alg });
  return {
    alg,
    kid: signingKey.kid,
    privateKeyPem,
    publicKeyPem,
    jwks: { keys: [signingKey.publicJwk] },
    signingKey,
  };
}

/**
 * Loads a private signing key from PKCS#8 PEM or a private JWK and binds it to one algorithm.
 * Refuses, with a message naming the problem: other PEM types (PKCS#1, SEC1, encrypted, public),
 * public-only or symmetric JWKs, unsupported key types, RSA keys outside 2048–8192 bits, and a key
 * that does not fit the requested algorithm (ATK-03, seen from the client side).
 */
export async function loadPrivateKey(
  input: PrivateKeyInput,
  options: LoadKeyOptions = {},
): Promise<ClientSigningKey> {
  if (isClientSigningKey(input)) return rebindLoadedKey(input, options);
  if (typeof input === 'string') {
    const text = input.trim();
    if (text.startsWith('{')) return loadPrivateJwk(parseJwkText(text), options);
    return loadPkcs8Pem(text, options);
  }
  if (typeof input === 'object' && input !== null) return loadPrivateJwk(input, options);
  throw new KeyError('a private key must be PKCS#8 PEM text or a private JWK');
}

/** Reads a key file (PKCS#8 PEM or private JWK JSON) and loads it. Messages name the file. */
export async function readPrivateKeyFile(
  path: string,
  options: LoadKeyOptions = {},
): Promise<ClientSigningKey> {
  return (await readPrivateKeyFileWithMode(path, options)).key;
}

/** {@link readPrivateKeyFile}, with the permission bits of the file the key was read from. */
export async function readPrivateKeyFileWithMode(
  path: string,
  options: LoadKeyOptions = {},
): Promise<{ key: ClientSigningKey; mode: number }> {
  const file = await readSmallFile(path, 'key file', MAX_KEY_FILE_BYTES);
  try {
    return { key: await loadPrivateKey(file.text, options), mode: file.mode };
  } catch (error) {
    if (error instanceof KeyError) throw new KeyError(`key file ${path}: ${error.message}`);
    throw error;
  }
}

/** The public JWK Set for a private key (what `smart-backend jwks` prints and the server registers). */
export async function publicJwksFor(
  input: PrivateKeyInput,
  options: LoadKeyOptions = {},
): Promise<PublicJwks> {
  const key = await loadPrivateKey(input, options);
  return { keys: [key.publicJwk] };
}

function isClientSigningKey(value: unknown): value is ClientSigningKey {
  return (
    typeof value === 'object' &&
    value !== null &&
    'privateKey' in value &&
    'publicJwk' in value &&
    'alg' in value &&
    'kid' in value
  );
}

function rebindLoadedKey(key: ClientSigningKey, options: LoadKeyOptions): ClientSigningKey {
  if (options.alg !== undefined && options.alg !== key.alg) {
    throw new KeyError(`the loaded key is bound to ${key.alg}; it cannot sign ${options.alg}`);
  }
  if (options.kid === undefined || options.kid === key.kid) return key;
  checkKid(options.kid);
  return { ...key, kid: options.kid, publicJwk: { ...key.publicJwk, kid: options.kid } };
}

function parseJwkText(text: string): JWK {
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as JWK;
  } catch {
    throw new KeyError('the key is neither PEM nor a JSON Web Key (JSON parse failed)');
  }
}

/** PEM labels we recognise, with the reason each non-PKCS#8 one is refused. */
const REFUSED_PEM_LABELS: Array<[label: string, why: string]> = [
  [
    'RSA PRIVATE KEY',
    'is a PKCS#1 RSA key; PKCS#8 is required (convert: openssl pkcs8 -topk8 -nocrypt -in key.pem -out pkcs8.pem)',
  ],
  [
    'EC PRIVATE KEY',
    'is a SEC1 EC key; PKCS#8 is required (convert: openssl pkcs8 -topk8 -nocrypt -in key.pem -out pkcs8.pem)',
  ],
  [
    'ENCRYPTED PRIVATE KEY',
    'is encrypted; decrypt it first (openssl pkcs8 -in key.pem -out plain.pem) and keep the result mode 0600',
  ],
  ['PUBLIC KEY', 'is a public key; signing needs the private key'],
  ['CERTIFICATE', 'is a certificate; signing needs the private key'],
];

async function loadPkcs8Pem(pem: string, options: LoadKeyOptions): Promise<ClientSigningKey> {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1];
  if (label === undefined)
    throw new KeyError('the key is neither PEM (BEGIN PRIVATE KEY) nor a JSON Web Key');
  if (label !== 'PRIVATE KEY') {
    const refused = REFUSED_PEM_LABELS.find(([known]) => known === label);
    throw new KeyError(`the PEM ${refused ? refused[1] : `block "${label}" is not a PKCS#8 private key`}`);
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new KeyError('the PEM is not a valid PKCS#8 private key');
  }
  const alg = chooseAlgorithm(describeKeyObject(keyObject), options.alg, undefined);
  let extractable: CryptoKey;
  try {
    extractable = await importPKCS8(pem, alg, { extractable: true });
  } catch {
    throw new KeyError(`the PEM key cannot be used with ${alg}`);
  }
  const privateJwk = await exportJWK(extractable);
  return bindKey(privateJwk, alg, options.kid);
}

async function loadPrivateJwk(jwk: JWK, options: LoadKeyOptions): Promise<ClientSigningKey> {
  if (jwk.kty === 'oct')
    throw new KeyError('the JWK is a symmetric (oct) key; client assertions need an RSA or EC private key');
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') {
    throw new KeyError(`the JWK has kty ${JSON.stringify(jwk.kty)}; only RSA and EC keys are supported`);
  }
  if (typeof jwk.d !== 'string')
    throw new KeyError('the JWK is a public key (no "d"); signing needs the private key');
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: jwk as NodeJsonWebKey, format: 'jwk' });
  } catch {
    throw new KeyError('the JWK is not a valid private key');
  }
  const alg = chooseAlgorithm(describeKeyObject(keyObject), options.alg, jwk.alg);
  return bindKey(jwk, alg, options.kid ?? jwk.kid);
}

interface KeyDescription {
  type: 'RSA' | 'EC';
  bits?: number;
  curve?: string;
}

function describeKeyObject(key: KeyObject): KeyDescription {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    return details.modulusLength === undefined
      ? { type: 'RSA' }
      : { type: 'RSA', bits: details.modulusLength };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = NODE_CURVE_NAMES[details.namedCurve ?? ''] ?? details.namedCurve ?? 'unknown curve';
    return { type: 'EC', curve };
  }
  throw new KeyError(
    `the key type ${key.asymmetricKeyType ?? 'unknown'} is not supported; use an RSA (RS384) or EC P-384 (ES384) key`,
  );
}

/** The requested algorithm, checked against the key (kty, curve, size) and the JWK's own alg. */
function chooseAlgorithm(
  key: KeyDescription,
  requested: string | undefined,
  jwkAlg: string | undefined,
): AssertionAlgorithm {
  if (requested !== undefined && jwkAlg !== undefined && requested !== jwkAlg) {
    throw new KeyError(`the JWK is bound to alg ${jwkAlg}; it cannot sign ${requested}`);
  }
  const alg = requested ?? jwkAlg ?? defaultAlgorithm(key);
  if (!(ASSERTION_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new KeyError(`alg ${JSON.stringify(alg)} is not supported; use ${ASSERTION_ALGORITHMS.join(', ')}`);
  }
  const describe =
    key.type === 'RSA' ? `an RSA${key.bits ? ` ${key.bits}-bit` : ''} key` : `an EC ${key.curve} key`;
  if (alg.startsWith('ES')) {
    const needed = alg === 'ES384' ? 'P-384' : 'P-256';
    if (key.type !== 'EC' || key.curve !== needed) {
      throw new KeyError(`${alg} needs an EC ${needed} key, but this is ${describe}`);
    }
  } else {
    if (key.type !== 'RSA') throw new KeyError(`${alg} needs an RSA key, but this is ${describe}`);
    // RFC 7518 §3.3: RSA keys of 2048 bits or larger MUST be used; servers refuse the rest (REG-12).
    if (key.bits !== undefined && (key.bits < MIN_RSA_MODULUS_BITS || key.bits > MAX_RSA_MODULUS_BITS)) {
      throw new KeyError(
        `the RSA key has ${key.bits} bits; ${MIN_RSA_MODULUS_BITS} to ${MAX_RSA_MODULUS_BITS} bits are required`,
      );
    }
  }
  return alg as AssertionAlgorithm;
}

function defaultAlgorithm(key: KeyDescription): AssertionAlgorithm {
  if (key.type === 'RSA') return 'RS384';
  const alg = key.curve === undefined ? undefined : CURVE_ALGORITHMS[key.curve];
  if (alg === undefined) {
    throw new KeyError(`EC keys on ${key.curve ?? 'this curve'} are not supported; use P-384 (ES384)`);
  }
  return alg;
}

function checkKid(kid: string): void {
  if (kid.length === 0 || kid.length > MAX_KID_LENGTH) {
    throw new InvalidInputError(`kid must be 1 to ${MAX_KID_LENGTH} characters`);
  }
}

/**
 * Builds the non-extractable signing key and its public JWK: kty plus the public members only,
 * `kid` (given, or the RFC 7638 thumbprint), `alg`, `use: "sig"`, `key_ops: ["verify"]`.
 */
async function bindKey(
  privateJwk: JWK,
  alg: AssertionAlgorithm,
  kid: string | undefined,
): Promise<ClientSigningKey> {
  const bare = publicMembers(privateJwk);
  const thumbprint = await calculateJwkThumbprint(bare, 'sha256');
  const chosenKid = kid ?? thumbprint;
  checkKid(chosenKid);
  const signingJwk: JWK = { ...privateJwk };
  delete signingJwk.alg;
  delete signingJwk.use;
  delete signingJwk.key_ops;
  delete signingJwk.ext;
  let privateKey: CryptoKey;
  try {
    privateKey = (await importJWK(signingJwk, alg, { extractable: false })) as CryptoKey;
  } catch {
    throw new KeyError(`the key cannot be used with ${alg}`);
  }
  const publicJwk = { ...bare, kid: chosenKid, alg, use: 'sig', key_ops: ['verify'] } as PublicJwk;
  const problem = checkPublicJwks({ keys: [publicJwk] });
  if (problem) throw new KeyError(`the public key would not be accepted by a server: ${problem.message}`);
  return { alg, kid: chosenKid, privateKey, publicJwk };
}

/** RFC 7517/7518: the members of a public RSA or EC key; everything private is dropped. */
function publicMembers(jwk: JWK): JWK {
  return jwk.kty === 'RSA'
    ? { kty: 'RSA', n: jwk.n, e: jwk.e }
    : { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
}
