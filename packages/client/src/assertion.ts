import { randomBytes } from 'node:crypto';
import {
  SignJWT,
  decodeJwt,
  decodeProtectedHeader,
  type JWTPayload,
  type ProtectedHeaderParameters,
} from 'jose';
import {
  CLIENT_ID_PATTERN,
  MAX_ASSERTION_LIFETIME_SECONDS,
  MAX_CLIENT_ID_LENGTH,
} from '@smart-backend/protocol';
import { InvalidInputError } from './errors.js';
import { loadPrivateKey, type PrivateKeyInput } from './keys.js';
import { parseHttpUrl } from './urls.js';

export const DEFAULT_ASSERTION_LIFETIME_SECONDS = MAX_ASSERTION_LIFETIME_SECONDS;
/** CLM-05 / ATK-16: 256 random bits, base64url; the server keeps it until `exp`. */
const JTI_BYTES = 32;

export interface ClientAssertionOptions {
  /** The client_id the authorization server assigned (REG-10); becomes `iss` and `sub`. */
  clientId: string;
  /** The token endpoint URL the assertion will be POSTed to; becomes `aud` (CLM-03, ATK-12). */
  tokenUrl: string;
  /** The private key: a loaded {@link ClientSigningKey}, PKCS#8 PEM, or a private JWK. */
  key: PrivateKeyInput;
  /** Signing algorithm; default derived from the key (RSA → RS384, P-384 → ES384). */
  alg?: string;
  /** Header `kid`; default the key's kid (RFC 7638 thumbprint unless the JWK names one). */
  kid?: string;
  /** Header `jku`: only the JWKS URL registered for this client (HDR-05). */
  jku?: string;
  /** Seconds until `exp`: an integer from 1 to 300 (CLM-04). Default 300. */
  lifetime?: number;
  /** Current time in milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
}

/** The decoded parts of an assertion, for display (`smart-backend assertion --decode`). */
export interface DecodedAssertion {
  header: ProtectedHeaderParameters;
  claims: JWTPayload;
}

/**
 * Signs a new, single-use client assertion (SMART CCA, RFC 7523 §3): header `{alg, kid, typ: "JWT",
 * jku?}`, claims `iss = sub = clientId`, `aud = tokenUrl`, `iat`, `exp = iat + lifetime` (≤ 300 s),
 * and a fresh random `jti`. Call it for every token request (TREQ-03).
 */
export async function createClientAssertion(options: ClientAssertionOptions): Promise<string> {
  const clientId = checkClientId(options.clientId);
  // ATK-12 (client side): aud is the token URL verbatim, as advertised and as it will be POSTed to.
  parseHttpUrl(options.tokenUrl, 'the token URL');
  const tokenUrl = options.tokenUrl;
  const lifetime = checkLifetime(options.lifetime ?? DEFAULT_ASSERTION_LIFETIME_SECONDS);
  const jku = options.jku;
  if (jku !== undefined) parseHttpUrl(jku, 'jku');
  const key = await loadPrivateKey(options.key, {
    ...(options.alg !== undefined && { alg: options.alg }),
    ...(options.kid !== undefined && { kid: options.kid }),
  });
  const now = Math.floor((options.clock ?? Date.now)() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...(jku !== undefined && { jku }) })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenUrl)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .setJti(randomBytes(JTI_BYTES).toString('base64url'))
    .sign(key.privateKey);
}

/** Decodes (without verifying) an assertion's header and claims. */
export function decodeClientAssertion(assertion: string): DecodedAssertion {
  return { header: decodeProtectedHeader(assertion), claims: decodeJwt(assertion) };
}

/**
 * A client id as RFC 6749 Appendix A.1 defines it (VSCHAR: %x20-7E), of any length a server may
 * issue up to {@link MAX_CLIENT_ID_LENGTH} (RFC 6749 §2.2 sets no size; the SMART reference
 * bulk-data server issues JWTs of 550–850 characters). The message never repeats the id.
 */
export function checkClientId(clientId: string): string {
  const rule = `the client id must be 1 to ${MAX_CLIENT_ID_LENGTH} visible ASCII characters (RFC 6749 Appendix A.1)`;
  if (typeof clientId !== 'string' || clientId === '') {
    throw new InvalidInputError(
      `${rule}; got ${typeof clientId === 'string' ? 'an empty string' : typeof clientId}`,
    );
  }
  if (clientId.length > MAX_CLIENT_ID_LENGTH) {
    throw new InvalidInputError(`${rule}; it has ${clientId.length}`);
  }
  if (!CLIENT_ID_PATTERN.test(clientId)) {
    const characters = [...clientId];
    const position = characters.findIndex((character) => !CLIENT_ID_PATTERN.test(character));
    const code = (characters[position] ?? '').codePointAt(0) ?? 0;
    throw new InvalidInputError(
      `${rule}; character ${position + 1} is U+${code.toString(16).toUpperCase().padStart(4, '0')}`,
    );
  }
  return clientId;
}

function checkLifetime(lifetime: number): number {
  if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > MAX_ASSERTION_LIFETIME_SECONDS) {
    throw new InvalidInputError(
      `the assertion lifetime must be an integer from 1 to ${MAX_ASSERTION_LIFETIME_SECONDS} seconds (SMART: exp at most 5 minutes ahead), got ${String(lifetime)}`,
    );
  }
  return lifetime;
}
