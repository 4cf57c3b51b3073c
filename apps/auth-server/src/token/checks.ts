import type { IncomingMessage } from 'node:http';
import {
  ASSERTION_ALGORITHMS,
  CLIENT_ASSERTION_TYPE,
  CLIENT_CREDENTIALS_GRANT,
  MAX_ASSERTION_LENGTH,
  MAX_ASSERTION_LIFETIME_SECONDS,
  OAuthError,
  OPT_IN_ASSERTION_ALGORITHMS,
  checkResourceIndicator,
  grantScopes,
  keyAllowsAlgorithm,
  parseClientAssertionClaims,
  parseClientAssertionHeader,
  typMatches,
  type ClientAssertionClaims,
  type ClientAssertionHeader,
  type PublicJwk,
  type ScopeGrant,
  type TokenResponse,
} from '@smart-backend/protocol';
import { verifyJwsSignature, type BoundKey } from '../crypto/jws.js';
import {
  checkFormContentType,
  checkNoQueryParameters,
  parseFormParameters,
  readBodyWithinLimit,
  type FormParameters,
} from '../http/body.js';
import { jtiHash, truncateForLog } from '../logger.js';
import { signAccessToken } from '../signing/access-token.js';
import type { SigningKeyRing } from '../signing/signing-keys.js';
import type { ClientRecord, ClientStore, ReplayCache } from '../store/interfaces.js';
import type { ClientKeyResolver } from './client-keys.js';
import { parseCompactJws, type CompactJws } from './compact-jws.js';

/**
 * The token endpoint (SMART Backend Services; RFC 6749 §4.4, RFC 7521, RFC 7523 §3, RFC 8725),
 * top to bottom in the order of reference §1.11: the HTTP request, the grant, the assertion's
 * structure and header, the client, its key, the signature, the claims, replay, scopes, and only
 * then a token. Each step is a named function that throws an `OAuthError` with a reason code; the
 * first failure ends the request. Nothing is stored (no jti) and nothing is fetched (no jwks_uri)
 * for an assertion that fails an earlier step.
 */

export interface TokenEndpointContext {
  /** PUBLIC_URL: the issuer, also accepted as an assertion `aud`. */
  readonly issuer: string;
  /** PUBLIC_URL/token: the assertion `aud` SMART asks for. */
  readonly tokenEndpoint: string;
  readonly fhirBaseUrl: string;
  readonly clockSkewSeconds: number;
  readonly accessTokenTtlSeconds: number;
  readonly clients: ClientStore;
  readonly replay: ReplayCache;
  readonly clientKeys: ClientKeyResolver;
  readonly signingKeys: SigningKeyRing;
  /** Epoch milliseconds. */
  readonly now: () => number;
}

/** What the audit line says about a decision, filled in as the checks get that far. */
export interface TokenAudit {
  /** The `iss` the assertion claims (authenticated only if `authenticated`). */
  clientId?: string;
  authenticated?: boolean;
  jtiHash?: string;
  scope?: string;
  accessTokenJtiHash?: string;
}

export async function processTokenRequest(
  req: IncomingMessage,
  ctx: TokenEndpointContext,
  audit: TokenAudit,
): Promise<TokenResponse> {
  // ── The HTTP request (RFC 6749 §3.2, §3.1, §2.3) ──
  checkMethod(req.method);
  checkFormContentType(req.headers['content-type']);
  const body = await readBodyWithinLimit(req);
  checkNoQueryParameters(req.url ?? '');
  // RFC 8707 §2: resource may be sent more than once; every other parameter only once.
  const form = parseFormParameters(body, ['resource']);
  checkSingleClientAuthentication(form, req.headers.authorization);

  // ── Grant and client authentication method (RFC 6749 §4.4.2, RFC 7523 §2.2) ──
  checkGrantType(form.get('grant_type'));
  checkClientAssertionType(form.get('client_assertion_type'));
  const assertion = checkClientAssertionPresent(form.get('client_assertion'));

  // ── The assertion: structure and header (RFC 7515, RFC 8725 §3.1, §3.10, §3.11) ──
  const jws = parseCompactJws(assertion);
  const header = checkHeaderShape(jws.header);
  checkAlgorithmAllowed(header.alg);
  checkTyp(header.typ);
  checkNoCriticalExtensions(jws.header);
  checkNoEmbeddedKey(jws.header);
  checkNotNested(jws.header);
  const claims = checkClaimsShape(jws.payload);
  audit.clientId = truncateForLog(claims.iss);
  audit.jtiHash = jtiHash(claims.iss, claims.jti);

  // ── The client and its key (SMART CCA "Signature Verification" steps 1–4) ──
  const client = await findClient(claims, form.get('client_id'), ctx);
  checkJku(header, client);
  const key = await resolveClientKey(header, client, ctx);
  checkSignatureLength(jws, key);
  await verifySignature(jws, key);
  audit.authenticated = true;

  // ── The claims (RFC 7523 §3, SMART CCA claims table) ──
  const now = Math.floor(ctx.now() / 1000);
  checkAudience(claims.aud, ctx);
  checkExpiry(claims.exp, now, ctx.clockSkewSeconds);
  checkNotBefore(claims.nbf, now, ctx.clockSkewSeconds);
  checkIssuedAt(claims.iat, now, ctx.clockSkewSeconds);

  // ── Replay: recorded only now that the assertion is authentic and current (ATK-16) ──
  await claimJti(claims, ctx);

  // ── Requested access: resources (RFC 8707) and scopes (SMART "Evaluate Requested Access") ──
  checkResources(form.getAll('resource'), ctx.fhirBaseUrl);
  const grant = mediateScopes(form.get('scope'), client);
  audit.scope = grant.scope;
  return issueAccessToken(client, grant, now, ctx, audit);
}

// ── The HTTP request ─────────────────────────────────────────────────────────────────────────────

/** RFC 6749 §3.2: the client MUST use POST. */
function checkMethod(method: string | undefined): void {
  if (method !== 'POST') {
    throw new OAuthError(
      'request.method_not_allowed',
      `${method ?? 'this method'} is not allowed; the token endpoint accepts POST only`,
    );
  }
}

/**
 * RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request. The
 * refusal names the methods in this server's words only: the Authorization header is a credential
 * (with no scheme, its first word is the secret itself), so not a byte of it is echoed or logged.
 */
function checkSingleClientAuthentication(form: FormParameters, authorization: string | undefined): void {
  const methods: string[] = [];
  if (authorization !== undefined) methods.push('an Authorization header');
  if (form.has('client_secret')) methods.push('client_secret');
  if (form.has('client_assertion') || form.has('client_assertion_type')) methods.push('client_assertion');
  if (methods.length > 1) {
    throw new OAuthError(
      'request.multiple_client_auth',
      `the client authenticates with ${methods.join(' and ')}; exactly one method (client_assertion) is allowed`,
    );
  }
}

// ── Grant and client authentication method ───────────────────────────────────────────────────────

function checkGrantType(grantType: string | undefined): void {
  if (grantType === undefined) throw new OAuthError('grant_type.missing', 'grant_type is required');
  if (grantType !== CLIENT_CREDENTIALS_GRANT) {
    throw new OAuthError(
      'grant_type.unsupported',
      `grant_type ${JSON.stringify(truncateForLog(grantType, 64))} is not supported; use client_credentials`,
    );
  }
}

function checkClientAssertionType(type: string | undefined): void {
  if (type === undefined) {
    throw new OAuthError(
      'client_assertion_type.missing',
      `client_assertion_type is required (${CLIENT_ASSERTION_TYPE})`,
    );
  }
  if (type !== CLIENT_ASSERTION_TYPE) {
    throw new OAuthError(
      'client_assertion_type.unsupported',
      `client_assertion_type ${JSON.stringify(truncateForLog(type, 64))} is not supported; use ${CLIENT_ASSERTION_TYPE}`,
    );
  }
}

/** RFC 7523 §2.2: exactly one JWT; ATK-20: bounded size. */
function checkClientAssertionPresent(assertion: string | undefined): string {
  if (assertion === undefined) throw new OAuthError('assertion.missing', 'client_assertion is required');
  if (assertion.length > MAX_ASSERTION_LENGTH) {
    throw new OAuthError(
      'assertion.too_large',
      `client_assertion is ${assertion.length} characters; at most ${MAX_ASSERTION_LENGTH} are accepted`,
    );
  }
  return assertion;
}

// ── The assertion header ─────────────────────────────────────────────────────────────────────────

function checkHeaderShape(header: Record<string, unknown>): ClientAssertionHeader {
  const parsed = parseClientAssertionHeader(header);
  if (!parsed.ok) throw new OAuthError(parsed.reason, parsed.message);
  return parsed.value;
}

/**
 * ATK-01, ATK-02, RFC 8725 §3.1: a server-side allow-list, case-sensitive. RS384 and ES384 always;
 * RS256, ES256 and PS384 only with a key whose own `alg` names them (checked with the key).
 */
function checkAlgorithmAllowed(alg: string): void {
  if ((ASSERTION_ALGORITHMS as readonly string[]).includes(alg)) return;
  const why =
    alg.toLowerCase() === 'none'
      ? 'unsigned assertions are never accepted'
      : /^HS\d+$/i.test(alg)
        ? 'symmetric (HMAC) algorithms are never accepted for client assertions'
        : 'it is not on the allow-list';
  throw new OAuthError(
    'assertion.alg_not_allowed',
    `alg ${JSON.stringify(truncateForLog(alg, 32))} is refused: ${why}; use RS384 or ES384`,
  );
}

/**
 * SMART CCA: typ is JWT — the media type application/jwt, which RFC 7515 §4.1.9 lets a sender
 * write as `JWT`, `jwt` or `application/jwt` in any case. Absent is tolerated (generic clients omit
 * it); any other type, e.g. at+jwt (RFC 8725 §3.11), or a value with parameters, is refused.
 */
function checkTyp(typ: string | undefined): void {
  if (typ !== undefined && !typMatches(typ, 'jwt')) {
    throw new OAuthError(
      'assertion.typ_invalid',
      `typ ${JSON.stringify(truncateForLog(typ, 32))} is refused; a client assertion has typ JWT (application/jwt)`,
    );
  }
}

/** RFC 7515 §4.1.11, ATK-10: this server implements no extension, so any `crit` is refused (and b64, RFC 7797). */
function checkNoCriticalExtensions(header: Record<string, unknown>): void {
  if (header.crit !== undefined) {
    throw new OAuthError(
      'assertion.crit_unsupported',
      `crit ${truncateForLog(JSON.stringify(header.crit), 64)} names extensions this server does not implement`,
    );
  }
  if (header.b64 !== undefined) {
    throw new OAuthError(
      'assertion.crit_unsupported',
      'the b64 header (RFC 7797 unencoded payload) is not supported',
    );
  }
}

/** ATK-06, ATK-07, RFC 8725 §3.10: keys come from registration only, never from the token. */
function checkNoEmbeddedKey(header: Record<string, unknown>): void {
  const embedded = ['jwk', 'x5c', 'x5u'].filter((member) => header[member] !== undefined);
  if (embedded.length > 0) {
    throw new OAuthError(
      'assertion.embedded_key',
      `the header carries ${embedded.join(', ')}; only keys registered for the client are used`,
    );
  }
}

/** ATK-19: a nested JWT (cty JWT) is not a client assertion. */
function checkNotNested(header: Record<string, unknown>): void {
  if (typeof header.cty === 'string' && header.cty.toUpperCase() === 'JWT') {
    throw new OAuthError('assertion.malformed', 'nested JWTs (cty JWT) are not accepted');
  }
}

/** SMART CCA claims table: iss, sub, aud (one value), exp, jti; optional iat, nbf (RFC 7519 §2 NumericDates, not necessarily integers). */
function checkClaimsShape(payload: Record<string, unknown>): ClientAssertionClaims {
  const parsed = parseClientAssertionClaims(payload);
  if (!parsed.ok) throw new OAuthError(parsed.reason, parsed.message);
  return parsed.value;
}

// ── The client and its key ───────────────────────────────────────────────────────────────────────

/** VAL-02, ATK-13: iss = sub = a registered, enabled client_id (= the client_id parameter if sent), exact strings. */
async function findClient(
  claims: ClientAssertionClaims,
  clientIdParameter: string | undefined,
  ctx: TokenEndpointContext,
): Promise<ClientRecord> {
  if (claims.iss !== claims.sub) {
    throw new OAuthError('assertion.iss_sub_mismatch', 'iss and sub differ; both must be the client_id');
  }
  if (clientIdParameter !== undefined && clientIdParameter !== claims.iss) {
    throw new OAuthError(
      'assertion.client_id_mismatch',
      'the client_id parameter names another client than the assertion iss',
    );
  }
  const client = await guardStore('client store', () => ctx.clients.get(claims.iss));
  if (!client) throw new OAuthError('client.unknown', 'no registered client has the client_id given as iss');
  if (client.disabledAt !== null)
    throw new OAuthError('client.disabled', 'this client has been disabled by an administrator');
  return client;
}

/** KEY-01, ATK-07: a jku must be the registered jwks_uri, exactly — checked before anything is fetched. */
function checkJku(header: ClientAssertionHeader, client: ClientRecord): void {
  if (header.jku === undefined) return;
  if (client.jwksUri === undefined || header.jku !== client.jwksUri) {
    throw new OAuthError(
      'assertion.jku_not_registered',
      client.jwksUri === undefined
        ? 'the header names a jku, but this client registered its keys by value'
        : `jku ${JSON.stringify(truncateForLog(header.jku, 128))} is not the registered jwks_uri; nothing was fetched`,
    );
  }
}

/**
 * KEY-04, KEY-08, ATK-03, ATK-08, ATK-09: exactly one candidate key with the header's kid and a
 * kty that fits the alg (and the same alg, if the key names one). An unknown kid triggers one
 * refetch of a remote JWKS per cooldown (ATK-26).
 */
async function resolveClientKey(
  header: ClientAssertionHeader,
  client: ClientRecord,
  ctx: TokenEndpointContext,
): Promise<BoundKey> {
  let keySet = await ctx.clientKeys.keysFor(client);
  let withKid = keySet.keys.filter((k) => k.kid === header.kid);
  if (withKid.length === 0 && keySet.mayRefetch) {
    keySet = await ctx.clientKeys.keysFor(client, true);
    withKid = keySet.keys.filter((k) => k.kid === header.kid);
  }
  if (withKid.length === 0) {
    throw new OAuthError(
      'assertion.key_not_found',
      `no key with kid ${JSON.stringify(truncateForLog(header.kid, 64))} is registered for this client`,
    );
  }
  const kty = header.alg.startsWith('ES') ? 'EC' : 'RSA';
  const matching = withKid.filter((k) => k.kty === kty && (k.alg === undefined || k.alg === header.alg));
  if (matching.length > 1) {
    throw new OAuthError(
      'assertion.key_ambiguous',
      `${matching.length} registered keys match kid ${JSON.stringify(truncateForLog(header.kid, 64))}`,
    );
  }
  const jwk = matching[0];
  if (!jwk || !keyAllowsAlgorithm(jwk, header.alg)) {
    const found = withKid[0] as PublicJwk;
    const described = `${found.kty}${found.crv ? ` ${found.crv}` : ''}${found.alg ? ` registered for ${found.alg}` : ''}`;
    if (
      (OPT_IN_ASSERTION_ALGORITHMS as readonly string[]).includes(header.alg) &&
      found.kty === kty &&
      found.alg === undefined
    ) {
      throw new OAuthError(
        'assertion.alg_not_allowed',
        `${header.alg} is accepted only with a key registered with alg ${header.alg}; this key (${described}) is used with ${found.kty === 'RSA' ? 'RS384' : 'ES384'}`,
      );
    }
    throw new OAuthError(
      'assertion.key_alg_mismatch',
      `the key with this kid (${described}) cannot verify ${header.alg}`,
    );
  }
  try {
    return ctx.clientKeys.importKey(client.clientId, jwk, header.alg);
  } catch (error) {
    throw new OAuthError('client.jwks_invalid', 'the selected key could not be imported', { cause: error });
  }
}

/** ATK-04, ATK-05: the signature has the exact size of its algorithm and key (raw R‖S for ECDSA, the modulus for RSA). */
function checkSignatureLength(jws: CompactJws, key: BoundKey): void {
  if (jws.signature.length !== key.signatureLength) {
    throw new OAuthError(
      'assertion.signature_invalid',
      jws.signature.length === 0
        ? 'the signature is empty'
        : `the signature is ${jws.signature.length} bytes; a ${key.alg} signature with this key is ${key.signatureLength} bytes`,
    );
  }
}

/** VAL-01, KEY-05: verify with that one key, bound to that one algorithm. */
async function verifySignature(jws: CompactJws, key: BoundKey): Promise<void> {
  if (!(await verifyJwsSignature(key, jws.signingInput, jws.signature))) {
    throw new OAuthError(
      'assertion.signature_invalid',
      `the ${key.alg} signature does not verify with the registered key`,
    );
  }
}

// ── The claims ───────────────────────────────────────────────────────────────────────────────────

/**
 * VAL-03, ATK-12: aud names this server — the token endpoint URL, or the issuer (what generic
 * OAuth clients send) — exactly; one value only (multi-valued arrays were refused with the shape).
 */
function checkAudience(aud: ClientAssertionClaims['aud'], ctx: TokenEndpointContext): void {
  const value = typeof aud === 'string' ? aud : aud[0];
  if (value !== ctx.tokenEndpoint && value !== ctx.issuer) {
    throw new OAuthError(
      'assertion.aud_invalid',
      `aud ${JSON.stringify(truncateForLog(value ?? '', 128))} is not this server; use ${ctx.tokenEndpoint}`,
    );
  }
}

/** VAL-04, VAL-05, ATK-14: not expired, and at most 5 minutes ahead (plus skew). */
function checkExpiry(exp: number, now: number, skew: number): void {
  if (exp <= now - skew) {
    throw new OAuthError(
      'assertion.expired',
      `exp is ${now - exp} s in the past (clock skew allowed: ${skew} s)`,
    );
  }
  if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS + skew) {
    throw new OAuthError(
      'assertion.exp_too_far',
      `exp is ${exp - now} s in the future; at most ${MAX_ASSERTION_LIFETIME_SECONDS} s (+${skew} s skew) is allowed`,
    );
  }
}

/** VAL-07, ATK-15. */
function checkNotBefore(nbf: number | undefined, now: number, skew: number): void {
  if (nbf !== undefined && nbf > now + skew) {
    throw new OAuthError(
      'assertion.nbf_in_future',
      `nbf is ${nbf - now} s in the future (clock skew allowed: ${skew} s)`,
    );
  }
}

/** VAL-07, ATK-15. */
function checkIssuedAt(iat: number | undefined, now: number, skew: number): void {
  if (iat !== undefined && iat > now + skew) {
    throw new OAuthError(
      'assertion.iat_in_future',
      `iat is ${iat - now} s in the future (clock skew allowed: ${skew} s)`,
    );
  }
}

// ── Replay ───────────────────────────────────────────────────────────────────────────────────────

/**
 * VAL-06, ATK-16: (iss, jti) is accepted once, until the assertion could no longer pass the exp
 * check (exp + skew). Keyed on the claims, not the token text (ECDSA signatures are malleable).
 * An unreachable store fails closed: no token without replay protection.
 */
async function claimJti(claims: ClientAssertionClaims, ctx: TokenEndpointContext): Promise<void> {
  // The key lookup and signature took time: an assertion that expired meanwhile is expired, not a
  // replay (and the store refuses such a claim anyway).
  checkExpiry(claims.exp, Math.floor(ctx.now() / 1000), ctx.clockSkewSeconds);
  // A non-integer exp (RFC 7519 §2) is kept until the next whole second: the stores count seconds.
  const first = await guardStore('replay cache', () =>
    ctx.replay.claim(claims.iss, claims.jti, Math.ceil(claims.exp) + ctx.clockSkewSeconds),
  );
  if (!first)
    throw new OAuthError(
      'assertion.replayed',
      'this jti has already been used by this client; sign a new assertion for every request',
    );
}

// ── Requested access and the token ───────────────────────────────────────────────────────────────

/**
 * RFC 8707 §2: each `resource` is an absolute URI without a fragment that names a resource server
 * this server issues tokens for — here only the FHIR base, which is every token's audience anyway.
 * Absent means that default; a resource naming anything else is refused, never ignored.
 */
function checkResources(resources: readonly string[], fhirBaseUrl: string): void {
  for (const resource of resources) {
    const problem = checkResourceIndicator(resource, fhirBaseUrl);
    if (problem) throw new OAuthError(problem.reason, problem.message);
  }
}

/**
 * SCP-09, SCP-14, ATK-24: grant the intersection of what is asked and what is registered. A
 * malformed scope refuses the whole request; so does a request of which nothing can be granted.
 */
function mediateScopes(requested: string | undefined, client: ClientRecord): ScopeGrant {
  const grant = grantScopes(requested, client.scope);
  const malformed = grant.dropped.find((d) => d.malformed);
  if (malformed) throw new OAuthError(malformed.reason, malformed.message);
  if (grant.granted.length === 0) {
    throw new OAuthError(
      'scope.nothing_granted',
      grant.dropped.map((d) => `${d.reason}: ${d.message}`).join('; '),
    );
  }
  return grant;
}

async function issueAccessToken(
  client: ClientRecord,
  grant: ScopeGrant,
  now: number,
  ctx: TokenEndpointContext,
  audit: TokenAudit,
): Promise<TokenResponse> {
  const issued = await signAccessToken(ctx.signingKeys, {
    clientId: client.clientId,
    scope: grant.scope,
    issuer: ctx.issuer,
    audience: ctx.fhirBaseUrl,
    ttlSeconds: ctx.accessTokenTtlSeconds,
    now,
  });
  audit.accessTokenJtiHash = jtiHash(ctx.issuer, issued.jti);
  return {
    access_token: issued.token,
    token_type: 'bearer',
    expires_in: ctx.accessTokenTtlSeconds,
    scope: grant.scope,
  };
}

/** Any store failure becomes 503 `server.unavailable`: the endpoint fails closed. */
async function guardStore<T>(store: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw new OAuthError('server.unavailable', `the ${store} is unavailable; no token can be issued safely`, {
      cause: error,
    });
  }
}
