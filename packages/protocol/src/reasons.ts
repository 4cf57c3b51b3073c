/**
 * The catalogue of reason codes. Every rejection anywhere in smart-backend names one of these, so a
 * log line, an `error_description`, a client exception and the README all speak the same words.
 *
 * `error` is the code on the wire for the protocol that carries the rejection: RFC 6749 §5.2 at the
 * token endpoint, RFC 6750 §3.1 at the FHIR API, RFC 7591 §3.2.2 at registration, or a FHIR
 * OperationOutcome issue code (http://hl7.org/fhir/R4/valueset-issue-type.html) for FHIR errors.
 */
export interface ReasonEntry {
  readonly error: WireErrorCode;
  readonly status: number;
  readonly summary: string;
}

export type WireErrorCode =
  // RFC 6749 §5.2 (+ §4.1.2.1 temporarily_unavailable / server_error)
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'temporarily_unavailable'
  | 'server_error'
  | 'access_denied'
  // RFC 8707 §2 (resource indicators)
  | 'invalid_target'
  // RFC 6750 §3.1
  | 'invalid_token'
  | 'insufficient_scope'
  // RFC 7591 §3.2.2
  | 'invalid_client_metadata'
  // FHIR issue types
  | 'not-found'
  | 'deleted'
  | 'invalid'
  | 'structure'
  | 'not-supported'
  | 'too-long'
  | 'too-costly'
  | 'conflict'
  | 'exception';

const entry = (error: WireErrorCode, status: number, summary: string): ReasonEntry => ({
  error,
  status,
  summary,
});

export const REASONS = {
  // ── HTTP request shape (any endpoint) ──────────────────────────────────────────────────────────
  'request.method_not_allowed': entry(
    'invalid_request',
    405,
    'the HTTP method is not allowed on this endpoint',
  ),
  'request.unsupported_content_type': entry(
    'invalid_request',
    400,
    'the body must be application/x-www-form-urlencoded',
  ),
  'request.body_too_large': entry(
    'invalid_request',
    413,
    'the request body is larger than the server accepts',
  ),
  'request.malformed_body': entry('invalid_request', 400, 'the request body could not be parsed'),
  'request.repeated_parameter': entry('invalid_request', 400, 'a parameter appears more than once'),
  'request.query_parameters': entry(
    'invalid_request',
    400,
    'parameters must be sent in the body, not the query string',
  ),
  'request.multiple_client_auth': entry(
    'invalid_request',
    400,
    'more than one client authentication method was used',
  ),
  'request.not_found': entry('invalid_request', 404, 'no such endpoint'),

  // ── Token request parameters (RFC 6749 §4.4, SMART Backend Services) ─────────────────────────
  'grant_type.missing': entry('invalid_request', 400, 'grant_type is required'),
  'grant_type.unsupported': entry(
    'unsupported_grant_type',
    400,
    'only grant_type=client_credentials is supported',
  ),
  'client_assertion_type.missing': entry('invalid_client', 400, 'client_assertion_type is required'),
  'client_assertion_type.unsupported': entry(
    'invalid_client',
    400,
    'client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  ),
  'assertion.missing': entry('invalid_client', 400, 'client_assertion is required'),

  // ── Client assertion: structure and header (RFC 7515, RFC 7523 §3, RFC 8725) ─────────────────
  'assertion.too_large': entry('invalid_client', 400, 'the client assertion is larger than allowed'),
  'assertion.malformed': entry(
    'invalid_client',
    400,
    'the client assertion is not a compact JWS with a JSON header and payload',
  ),
  'assertion.duplicate_member': entry(
    'invalid_client',
    400,
    'the client assertion repeats a JSON member name',
  ),
  'assertion.alg_not_allowed': entry('invalid_client', 400, 'the assertion algorithm is not allowed'),
  'assertion.typ_invalid': entry(
    'invalid_client',
    400,
    'the assertion typ header, when present, must be JWT (or application/jwt)',
  ),
  'assertion.crit_unsupported': entry(
    'invalid_client',
    400,
    'the assertion names a critical header extension this server does not implement',
  ),
  'assertion.embedded_key': entry(
    'invalid_client',
    400,
    'keys embedded in or referenced by the assertion (jwk, x5c, x5u) are never used',
  ),
  'assertion.kid_missing': entry(
    'invalid_client',
    400,
    'the assertion header must carry the kid of the signing key',
  ),
  'assertion.kid_invalid': entry(
    'invalid_client',
    400,
    'the assertion kid is not a string of acceptable length',
  ),

  // ── Client assertion: claims (SMART CCA, RFC 7523 §3, RFC 7519 §4.1) ─────────────────────────
  'assertion.iss_missing': entry('invalid_client', 400, 'the assertion has no iss claim'),
  'assertion.sub_missing': entry('invalid_client', 400, 'the assertion has no sub claim'),
  'assertion.iss_sub_mismatch': entry(
    'invalid_client',
    400,
    'the assertion iss and sub must both equal the client_id',
  ),
  'assertion.client_id_mismatch': entry(
    'invalid_client',
    400,
    'the client_id parameter does not equal the assertion iss',
  ),
  'assertion.aud_missing': entry('invalid_client', 400, 'the assertion has no aud claim'),
  'assertion.aud_invalid': entry(
    'invalid_client',
    400,
    "the assertion aud must be this server's token endpoint URL",
  ),
  'assertion.aud_multiple': entry('invalid_client', 400, 'the assertion aud must be a single value'),
  'assertion.exp_missing': entry('invalid_client', 400, 'the assertion has no exp claim'),
  'assertion.exp_invalid': entry('invalid_client', 400, 'the assertion exp must be a NumericDate'),
  'assertion.expired': entry('invalid_client', 400, 'the assertion has expired'),
  'assertion.exp_too_far': entry(
    'invalid_client',
    400,
    'the assertion exp is more than 5 minutes in the future',
  ),
  'assertion.nbf_invalid': entry('invalid_client', 400, 'the assertion nbf must be a NumericDate'),
  'assertion.nbf_in_future': entry('invalid_client', 400, 'the assertion is not valid yet (nbf)'),
  'assertion.iat_invalid': entry('invalid_client', 400, 'the assertion iat must be a NumericDate'),
  'assertion.iat_in_future': entry('invalid_client', 400, 'the assertion iat is in the future'),
  'assertion.jti_missing': entry('invalid_client', 400, 'the assertion has no jti claim'),
  'assertion.jti_invalid': entry(
    'invalid_client',
    400,
    'the assertion jti must be a non-empty string of acceptable length',
  ),
  'assertion.replayed': entry('invalid_client', 400, 'this assertion jti has already been used'),

  // ── Client and key resolution (SMART CCA "Signature Verification" steps 1–4) ─────────────────
  'client.unknown': entry('invalid_client', 400, 'no registered client has this client_id'),
  'client.disabled': entry('invalid_client', 400, 'the client has been disabled'),
  'assertion.jku_not_registered': entry(
    'invalid_client',
    400,
    "the assertion jku is not the client's registered jwks_uri",
  ),
  'client.jwks_unavailable': entry(
    'invalid_client',
    400,
    "the client's registered jwks_uri could not be fetched",
  ),
  'client.jwks_invalid': entry(
    'invalid_client',
    400,
    "the client's registered JWKS is not a valid public JWK Set",
  ),
  'assertion.key_not_found': entry(
    'invalid_client',
    400,
    'no registered key matches the assertion kid and algorithm',
  ),
  'assertion.key_ambiguous': entry(
    'invalid_client',
    400,
    'more than one registered key matches the assertion kid',
  ),
  'assertion.key_alg_mismatch': entry(
    'invalid_client',
    400,
    'the key selected by kid does not fit the assertion algorithm',
  ),
  'assertion.signature_invalid': entry('invalid_client', 400, 'the assertion signature does not verify'),

  // ── Scopes (SMART "Scopes and Launch Context", RFC 6749 §3.3) ────────────────────────────────
  'scope.missing': entry('invalid_scope', 400, 'scope is required'),
  'scope.too_long': entry('invalid_scope', 400, 'the scope string is longer than allowed'),
  'scope.too_many': entry('invalid_scope', 400, 'too many scopes were requested'),
  'scope.invalid_characters': entry(
    'invalid_scope',
    400,
    'a scope contains characters outside the RFC 6749 scope charset',
  ),
  'scope.malformed': entry('invalid_scope', 400, 'a scope does not follow the SMART scope grammar'),
  'scope.unknown_resource_type': entry(
    'invalid_scope',
    400,
    'a scope names a resource type that is not in FHIR R4',
  ),
  'scope.unknown_permission': entry(
    'invalid_scope',
    400,
    'a scope uses a permission other than read, write, * or the letters cruds',
  ),
  'scope.repeated_permission': entry('invalid_scope', 400, 'a scope repeats a permission letter'),
  'scope.permission_order': entry(
    'invalid_scope',
    400,
    'scope permission letters must appear in the order c, r, u, d, s',
  ),
  'scope.empty_permissions': entry('invalid_scope', 400, 'a scope names no permission'),
  'scope.v1_constraint': entry('invalid_scope', 400, 'query constraints need SMART v2 permission letters'),
  'scope.constraint_malformed': entry(
    'invalid_scope',
    400,
    'a scope query constraint is not a list of name=value pairs',
  ),
  'scope.constraint_parameter_not_allowed': entry(
    'invalid_scope',
    400,
    'a scope query constraint uses a search parameter that is not supported for constraints',
  ),
  'scope.constraint_value_invalid': entry(
    'invalid_scope',
    400,
    'a scope query constraint value is not valid for its search parameter',
  ),
  'scope.context_not_allowed': entry(
    'invalid_scope',
    400,
    'patient/ and user/ scopes need a launch context that backend services do not have',
  ),
  'scope.not_for_backend': entry('invalid_scope', 400, 'this scope is not available to backend services'),
  'scope.not_registered': entry('invalid_scope', 400, 'the client is not registered for this scope'),
  'scope.nothing_granted': entry('invalid_scope', 400, 'none of the requested scopes can be granted'),

  // ── Resource indicators (RFC 8707 §2) ─────────────────────────────────────────────────────────
  'resource.invalid': entry(
    'invalid_target',
    400,
    'a resource parameter is not an absolute URI without a fragment',
  ),
  'resource.unknown': entry(
    'invalid_target',
    400,
    "a resource parameter does not name this server's FHIR base",
  ),

  // ── Registration and administration (RFC 7591) ───────────────────────────────────────────────
  'admin.not_configured': entry(
    'access_denied',
    403,
    'administration is disabled: ADMIN_TOKEN is not configured',
  ),
  'admin.unauthorized': entry('invalid_token', 401, 'a valid administrator bearer token is required'),
  'client.not_found': entry('invalid_request', 404, 'no client with this id'),
  'registration.invalid_metadata': entry(
    'invalid_client_metadata',
    400,
    'the registration request is not valid',
  ),
  'registration.jwks_source': entry(
    'invalid_client_metadata',
    400,
    'exactly one of jwks and jwks_uri is required',
  ),
  'registration.jwks_uri_invalid': entry(
    'invalid_client_metadata',
    400,
    'jwks_uri must be an https URL (http only on loopback hosts)',
  ),
  'registration.scope_invalid': entry(
    'invalid_client_metadata',
    400,
    'the registered scope is not a valid list of system/ scopes',
  ),

  // ── Public JWK Sets (RFC 7517, RFC 7518 §3, RFC 8725 §3.1) ───────────────────────────────────
  'jwks.malformed': entry('invalid_client_metadata', 400, 'the JWKS is not a JSON object with a keys array'),
  'jwks.empty': entry('invalid_client_metadata', 400, 'the JWKS has no keys'),
  'jwks.too_many_keys': entry('invalid_client_metadata', 400, 'the JWKS has more keys than allowed'),
  'jwks.private_key': entry('invalid_client_metadata', 400, 'the JWKS contains private key members'),
  'jwks.symmetric_key': entry('invalid_client_metadata', 400, 'the JWKS contains a symmetric key'),
  'jwks.unsupported_key_type': entry('invalid_client_metadata', 400, 'only RSA and EC keys are supported'),
  'jwks.kid_missing': entry('invalid_client_metadata', 400, 'every key needs a kid'),
  'jwks.duplicate_kid': entry('invalid_client_metadata', 400, 'two keys share a kid'),
  'jwks.rsa_too_small': entry('invalid_client_metadata', 400, 'RSA keys must be at least 2048 bits'),
  'jwks.rsa_too_large': entry('invalid_client_metadata', 400, 'RSA keys larger than 8192 bits are refused'),
  'jwks.rsa_modulus_invalid': entry(
    'invalid_client_metadata',
    400,
    'the RSA modulus cannot be a product of two large primes (it has a small factor)',
  ),
  'jwks.rsa_exponent_invalid': entry(
    'invalid_client_metadata',
    400,
    'the RSA public exponent must be odd, at least 65537 and at most 32 bits',
  ),
  'jwks.ec_point_invalid': entry(
    'invalid_client_metadata',
    400,
    'the EC key coordinates do not fit its curve',
  ),
  'jwks.alg_not_allowed': entry(
    'invalid_client_metadata',
    400,
    'the key names an algorithm this server does not accept',
  ),
  'jwks.alg_key_mismatch': entry(
    'invalid_client_metadata',
    400,
    "the key type or curve does not fit the key's alg",
  ),
  'jwks.use_not_sig': entry(
    'invalid_client_metadata',
    400,
    'keys must be usable for signature verification (use "sig", key_ops "verify")',
  ),

  // ── Introspection (RFC 7662) ─────────────────────────────────────────────────────────────────
  'introspection.token_missing': entry('invalid_request', 400, 'the token parameter is required'),

  // ── Access tokens at the FHIR API (RFC 6750, RFC 9068) ───────────────────────────────────────
  'token.missing': entry('invalid_token', 401, 'a bearer access token is required'),
  'token.in_query': entry(
    'invalid_request',
    400,
    'access tokens must be sent in the Authorization header, not the URL',
  ),
  'token.malformed': entry('invalid_token', 401, 'the access token is not a well-formed JWT'),
  'token.wrong_type': entry('invalid_token', 401, 'the token is not an RFC 9068 access token (typ at+jwt)'),
  'token.alg_not_allowed': entry('invalid_token', 401, 'the access token algorithm is not allowed'),
  'token.key_unknown': entry('invalid_token', 401, 'the access token was signed with an unknown key'),
  'token.signature_invalid': entry('invalid_token', 401, 'the access token signature does not verify'),
  'token.wrong_issuer': entry('invalid_token', 401, 'the access token was issued by another server'),
  'token.wrong_audience': entry(
    'invalid_token',
    401,
    'the access token is meant for another resource server',
  ),
  'token.expired': entry('invalid_token', 401, 'the access token has expired'),
  'token.not_yet_valid': entry('invalid_token', 401, 'the access token is not valid yet'),
  'token.claims_invalid': entry('invalid_token', 401, 'the access token claims are incomplete or malformed'),
  'token.issuer_unavailable': entry(
    'temporarily_unavailable',
    503,
    "the authorization server's keys could not be fetched",
  ),
  'token.insufficient_scope': entry(
    'insufficient_scope',
    403,
    'the access token does not grant this interaction',
  ),
  'token.constraint_not_met': entry(
    'insufficient_scope',
    403,
    'the resource is outside the query constraints of the granted scopes',
  ),

  // ── FHIR REST (http://hl7.org/fhir/R4/http.html) ─────────────────────────────────────────────
  'fhir.unknown_resource_type': entry(
    'not-supported',
    404,
    'the resource type is not a FHIR R4 resource type',
  ),
  'fhir.not_found': entry('not-found', 404, 'no resource with this id'),
  'fhir.gone': entry('deleted', 410, 'the resource has been deleted'),
  'fhir.invalid_json': entry('structure', 400, 'the body is not valid JSON'),
  'fhir.invalid_resource': entry('structure', 400, 'the body is not a FHIR resource'),
  'fhir.resource_type_mismatch': entry('invalid', 400, 'the body resourceType does not match the URL'),
  'fhir.id_mismatch': entry('invalid', 400, 'the body id does not match the URL'),
  'fhir.invalid_id': entry('invalid', 400, 'the id is not a valid FHIR id'),
  'fhir.unsupported_media_type': entry(
    'not-supported',
    415,
    'the body must be application/fhir+json or application/json',
  ),
  'fhir.body_too_large': entry('too-long', 413, 'the request body is larger than the server accepts'),
  'fhir.unsupported_search_parameter': entry(
    'not-supported',
    400,
    'the search parameter is not supported for this resource type',
  ),
  'fhir.invalid_search_value': entry('invalid', 400, 'a search parameter value is not valid'),
  'fhir.search_too_complex': entry(
    'too-costly',
    400,
    'the search has more criteria, values or query characters than the server accepts',
  ),
  'fhir.method_not_allowed': entry('not-supported', 405, 'the interaction is not supported on this URL'),
  'fhir.version_conflict': entry('conflict', 412, 'the resource version does not match If-Match'),

  // ── Server state ─────────────────────────────────────────────────────────────────────────────
  'server.unavailable': entry(
    'temporarily_unavailable',
    503,
    'a backing service is unavailable; try again shortly',
  ),
  'server.error': entry('server_error', 500, 'an unexpected error occurred'),
} as const satisfies Record<string, ReasonEntry>;

export type ReasonCode = keyof typeof REASONS;

export const REASON_CODES = Object.keys(REASONS) as ReasonCode[];

export function isReasonCode(value: string): value is ReasonCode {
  return Object.hasOwn(REASONS, value);
}
