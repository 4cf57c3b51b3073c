import {
  ACCESS_TOKEN_ALGORITHMS,
  AccessTokenClaimsSchema,
  AccessTokenHeaderSchema,
  OAuthError,
  parseScope,
  type ResourceScope,
} from '@smart-backend/protocol';
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type JWTVerifyGetKey,
  type ProtectedHeaderParameters,
} from 'jose';
import { VerifiedTokenCache } from './token-cache.js';
import { boundedFetch, DEFAULT_FETCH_LIMITS } from '../discovery/bounded-fetch.js';

/** What a verified access token tells the FHIR API about its caller. */
export interface VerifiedToken {
  readonly clientId: string;
  readonly subject: string;
  readonly jti: string;
  /** `exp`, epoch seconds. */
  readonly expiresAt: number;
  /** The `scope` claim as issued. */
  readonly scope: string;
  /** The `system/` (and other) resource scopes in it; tokens that do not parse are ignored. */
  readonly scopes: readonly ResourceScope[];
}

/**
 * Turns a bearer token into its verified claims, or throws `OAuthError` with a `token.*` reason.
 * The app depends on this interface only: benchmarks substitute a verifier that accepts anything
 * to measure what authentication costs.
 */
export interface TokenVerifier {
  verify(token: string): Promise<VerifiedToken>;
}

export interface JwksTokenVerifierOptions {
  /** The auth server's base URL; tokens' `iss` must equal it exactly. */
  readonly issuer: string;
  /** This server's FHIR base URL; tokens' `aud` must name it. */
  readonly audience: string;
  /** Default `{issuer}/.well-known/jwks.json` (DESIGN.md). */
  readonly jwksUrl?: string;
  readonly clockSkewSeconds: number;
  /** Verified tokens kept until expiry (LRU). Default 10 000; 0 disables the cache. */
  readonly cacheSize?: number;
  /** Minimum time between JWKS refetches caused by an unknown `kid` (ATK-20). Default 30 s. */
  readonly jwksCooldownMs?: number;
  /**
   * How long fetched keys are used before the next token triggers a refetch. Default 60 s: the auth
   * server publishes a rotated key before it signs with it, so keys are known here before tokens
   * carry them, whatever the unknown-kid cooldown is doing.
   */
  readonly jwksMaxAgeMs?: number;
  readonly jwksTimeoutMs?: number;
  /** Clock in epoch milliseconds, for tests. */
  readonly now?: () => number;
}

/**
 * Longer than any access token our auth server issues (SMART TRESP-06: keep tokens small enough for
 * ~8 kB header limits), short enough to refuse junk before any crypto.
 */
export const MAX_ACCESS_TOKEN_LENGTH = 8 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const ALLOWED_ALGORITHMS: ReadonlySet<string> = new Set(ACCESS_TOKEN_ALGORITHMS);

/**
 * Verifies RFC 9068 JWT access tokens issued by the auth server (DESIGN.md "The flow" step 5), in
 * this order: shape → header (alg allow-list, typ at+jwt, kid) → iss (read unverified, so that a
 * token from another issuer never makes us look up or fetch a key) → signature with the issuer's
 * published key → iss again, aud, exp, nbf, iat → claim shapes. Verified tokens are cached until
 * `exp`. Refusals never quote the token: it is a credential, and so is every part of it.
 */
export function createJwksTokenVerifier(options: JwksTokenVerifierOptions): TokenVerifier {
  const now = options.now ?? Date.now;
  const skew = options.clockSkewSeconds;
  const cache = new VerifiedTokenCache(options.cacheSize ?? 10_000);
  const jwksUrl = new URL(options.jwksUrl ?? `${options.issuer}/.well-known/jwks.json`);
  const remoteKeys = createRemoteJWKSet(jwksUrl, {
    cooldownDuration: options.jwksCooldownMs ?? 30_000,
    cacheMaxAge: options.jwksMaxAgeMs ?? 60_000,
    timeoutDuration: options.jwksTimeoutMs ?? DEFAULT_FETCH_LIMITS.timeoutMs,
    [customFetch]: boundedFetch({
      timeoutMs: options.jwksTimeoutMs ?? DEFAULT_FETCH_LIMITS.timeoutMs,
      maxBytes: DEFAULT_FETCH_LIMITS.maxBytes,
    }),
  });

  /** The issuer's key for this token; an unreachable or broken JWKS is the issuer's outage, not the client's fault. */
  async function issuerKey(header: JWSHeaderParameters, token: FlattenedJWSInput) {
    try {
      return await remoteKeys(header, token);
    } catch (error) {
      if (
        error instanceof errors.JWKSNoMatchingKey ||
        error instanceof errors.JWKSMultipleMatchingKeys ||
        error instanceof errors.JOSENotSupported
      ) {
        throw error;
      }
      throw new OAuthError(
        'token.issuer_unavailable',
        `the keys at ${jwksUrl.href} could not be fetched: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }

  return {
    async verify(token: string): Promise<VerifiedToken> {
      const nowSeconds = Math.floor(now() / 1000);
      const cached = cache.get(token, nowSeconds, skew);
      if (cached === 'expired') throw new OAuthError('token.expired', 'the access token has expired');
      if (cached) return cached;

      checkCompactShape(token);
      const header = decodeHeader(token);
      checkAlgorithm(header);
      checkHeader(header);
      checkIssuerBeforeKeyLookup(token, options.issuer);
      const payload = await verifySignatureAndClaims(token, issuerKey, {
        issuer: options.issuer,
        audience: options.audience,
        skew,
        nowSeconds,
      });
      checkIssuedAt(payload, nowSeconds, skew);
      const verified = parseClaims(payload);
      cache.set(token, verified);
      return verified;
    },
  };
}

/** RFC 7515 §7.1: exactly three base64url segments, within a sane length (ATK-19, ATK-20). */
function checkCompactShape(token: string): void {
  if (token.length > MAX_ACCESS_TOKEN_LENGTH) {
    throw new OAuthError('token.malformed', `the token is longer than ${MAX_ACCESS_TOKEN_LENGTH} characters`);
  }
  if (!COMPACT_JWS.test(token)) {
    throw new OAuthError('token.malformed', 'the token is not a compact JWS (three base64url segments)');
  }
}

function decodeHeader(token: string): ProtectedHeaderParameters {
  try {
    return decodeProtectedHeader(token);
  } catch {
    throw new OAuthError('token.malformed', 'the token header is not base64url-encoded JSON');
  }
}

/** RFC 8725 §3.1: the algorithm comes from our allow-list, never from the token (no `none`, no HMAC). */
function checkAlgorithm(header: ProtectedHeaderParameters): void {
  if (typeof header.alg !== 'string' || !ALLOWED_ALGORITHMS.has(header.alg)) {
    throw new OAuthError(
      'token.alg_not_allowed',
      `the token alg is not one of ${ACCESS_TOKEN_ALGORITHMS.join(', ')}`,
    );
  }
}

/**
 * RFC 9068 §2.1 / RFC 8725 §3.11: only `typ` at+jwt — in any case, with or without "application/"
 * (RFC 9068 §4, RFC 7515 §4.1.9) — so client assertions (`typ: JWT`) never pass.
 */
function checkHeader(header: ProtectedHeaderParameters): void {
  const parsed = AccessTokenHeaderSchema.safeParse(header);
  if (parsed.success) return;
  const member = parsed.error.issues[0]?.path[0];
  if (member === 'typ') {
    throw new OAuthError(
      'token.wrong_type',
      `the token typ is ${header.typ === undefined ? 'missing' : 'not at+jwt'}: this is not an RFC 9068 access token`,
    );
  }
  throw new OAuthError(
    'token.malformed',
    `the token header has no usable ${member === 'alg' || member === 'kid' ? member : 'member'}`,
  );
}

/**
 * RFC 9068 §4 checks the issuer (step 3) before the signature (step 5): a token that names another
 * issuer is refused on what it says, without a JWKS lookup — its unknown `kid` would otherwise cost
 * a refetch at the auth server. Only the refusal relies on the unverified claim; after the
 * signature, jose checks `iss` again.
 */
function checkIssuerBeforeKeyLookup(token: string, issuer: string): void {
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(token);
  } catch {
    throw new OAuthError('token.malformed', 'the token payload is not a base64url-encoded JSON object');
  }
  if (claims.iss !== issuer) {
    throw new OAuthError(
      'token.wrong_issuer',
      `iss is ${claims.iss === undefined ? 'missing' : 'not the configured authorization server (AUTH_URL)'}`,
    );
  }
}

async function verifySignatureAndClaims(
  token: string,
  key: JWTVerifyGetKey,
  expected: { issuer: string; audience: string; skew: number; nowSeconds: number },
): Promise<Record<string, unknown>> {
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: [...ACCESS_TOKEN_ALGORITHMS],
      typ: 'at+jwt',
      issuer: expected.issuer,
      audience: expected.audience,
      clockTolerance: expected.skew,
      currentDate: new Date(expected.nowSeconds * 1000),
      requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id'],
    });
    return payload as Record<string, unknown>;
  } catch (error) {
    throw refusalFor(error);
  }
}

/** Maps a jose failure to the catalogue's reason (jose errors carry stable codes, STYLE.md). */
function refusalFor(error: unknown): unknown {
  if (error instanceof OAuthError) return error;
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new OAuthError('token.key_unknown', "no key in the issuer's JWKS matches the token kid and alg");
  }
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return new OAuthError('token.key_unknown', "several keys in the issuer's JWKS match the token kid");
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new OAuthError('token.signature_invalid', 'the token signature does not verify');
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new OAuthError('token.alg_not_allowed', 'the token algorithm is not allowed');
  }
  if (error instanceof errors.JWTExpired) {
    return new OAuthError('token.expired', 'the access token has expired (exp is in the past)');
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return new OAuthError(
          'token.wrong_issuer',
          'iss is not the configured authorization server (AUTH_URL)',
        );
      case 'aud':
        return new OAuthError('token.wrong_audience', 'aud does not name this FHIR server');
      case 'nbf':
        return new OAuthError('token.not_yet_valid', 'the token is not valid yet (nbf)');
      case 'typ':
        return new OAuthError('token.wrong_type', 'typ is not at+jwt');
      default:
        return new OAuthError(
          'token.claims_invalid',
          `${error.claim}: ${error.reason === 'missing' ? 'missing' : error.message}`,
        );
    }
  }
  if (error instanceof errors.JOSENotSupported) {
    // e.g. an unknown crit header (RFC 7515 §4.1.11); jose's message names it, so it is not used.
    return new OAuthError('token.malformed', 'the token uses a JOSE feature this server does not support');
  }
  if (
    error instanceof errors.JWSInvalid ||
    error instanceof errors.JWTInvalid ||
    error instanceof errors.JWKInvalid
  ) {
    return new OAuthError('token.malformed', 'the token is not a valid JWS or JWT');
  }
  return error;
}

/** RFC 9068 §2.2: `iat` is required; one in the future (beyond the skew) is refused. */
function checkIssuedAt(payload: Record<string, unknown>, nowSeconds: number, skew: number): void {
  if (typeof payload.iat === 'number' && payload.iat > nowSeconds + skew) {
    throw new OAuthError('token.not_yet_valid', 'the token was issued in the future (iat)');
  }
}

function parseClaims(payload: Record<string, unknown>): VerifiedToken {
  const parsed = AccessTokenClaimsSchema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new OAuthError(
      'token.claims_invalid',
      `${issue?.path.map(String).join('.') || 'claims'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const claims = parsed.data;
  return {
    clientId: claims.client_id,
    subject: claims.sub,
    jti: claims.jti,
    expiresAt: claims.exp,
    scope: claims.scope,
    scopes: scopesFromClaim(claims.scope),
  };
}

/** The resource scopes of a `scope` claim (space-separated, RFC 6749 §3.3); unparseable ones grant nothing. */
export function scopesFromClaim(scope: string): ResourceScope[] {
  return scope
    .split(' ')
    .filter((token) => token.length > 0)
    .flatMap((token) => {
      const result = parseScope(token);
      return result.ok ? [result.scope] : [];
    });
}
