import { randomFillSync } from 'node:crypto';
import { ACCESS_TOKEN_TYP } from '@smart-backend/protocol';
import { signCompactJws } from '../crypto/jws.js';
import type { SigningKeyRing } from './signing-keys.js';

export interface AccessTokenRequest {
  readonly clientId: string;
  readonly scope: string;
  /** PUBLIC_URL. */
  readonly issuer: string;
  /** FHIR_BASE_URL. */
  readonly audience: string;
  readonly ttlSeconds: number;
  /** Epoch seconds. */
  readonly now: number;
}

export interface IssuedAccessToken {
  readonly token: string;
  readonly kid: string;
  readonly jti: string;
  readonly expiresAt: number;
}

/** 144 random bits per token id (RFC 9068 §2.2: jti unique per token). */
const JTI_BYTES = 18;
/**
 * Token ids come from a pool of CSPRNG bytes refilled 256 ids at a time: one getrandom() per 256
 * tokens instead of one per token (the per-call cost was ~3 % of the token endpoint's CPU). Every
 * byte is used once.
 */
const jtiPool = Buffer.alloc(JTI_BYTES * 256);
let jtiPoolOffset = jtiPool.length;

export function newTokenId(): string {
  if (jtiPoolOffset === jtiPool.length) {
    randomFillSync(jtiPool);
    jtiPoolOffset = 0;
  }
  const jti = jtiPool.toString('base64url', jtiPoolOffset, jtiPoolOffset + JTI_BYTES);
  jtiPoolOffset += JTI_BYTES;
  return jti;
}

/**
 * Signs an RFC 9068 JWT access token with the current key: `typ: at+jwt` (so it can never pass as
 * a client assertion, ATK-11), `aud` = the FHIR base, `sub` = `client_id` = the client.
 */
export async function signAccessToken(
  ring: SigningKeyRing,
  request: AccessTokenRequest,
): Promise<IssuedAccessToken> {
  const key = ring.current();
  const jti = newTokenId();
  const expiresAt = request.now + request.ttlSeconds;
  const header = { alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYP };
  const claims = {
    iss: request.issuer,
    sub: request.clientId,
    aud: request.audience,
    exp: expiresAt,
    iat: request.now,
    jti,
    client_id: request.clientId,
    scope: request.scope,
  };
  const token = await signCompactJws(key.signer, JSON.stringify(header), JSON.stringify(claims));
  return { token, kid: key.kid, jti, expiresAt };
}
