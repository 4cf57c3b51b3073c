/** RFC 7523 §2.2: the client_assertion_type of a JWT bearer client assertion. */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The only grant SMART Backend Services uses (RFC 6749 §4.4). */
export const CLIENT_CREDENTIALS_GRANT = 'client_credentials';

/** SMART CCA: clients SHALL be able to sign with both; servers accept these by default. */
export const DEFAULT_ASSERTION_ALGORITHMS = ['RS384', 'ES384'] as const;

/**
 * Accepted for an assertion only when the client's registered key names the algorithm in its own
 * `alg` member (RFC 8725 §3.1: one algorithm per key). Never `none`, never HMAC.
 */
export const OPT_IN_ASSERTION_ALGORITHMS = ['RS256', 'ES256', 'PS384'] as const;

export const ASSERTION_ALGORITHMS = [
  ...DEFAULT_ASSERTION_ALGORITHMS,
  ...OPT_IN_ASSERTION_ALGORITHMS,
] as const;
export type AssertionAlgorithm = (typeof ASSERTION_ALGORITHMS)[number];

/** Algorithms the authorization server may sign access tokens with (ACCESS_TOKEN_ALG). */
export const ACCESS_TOKEN_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'RS384', 'PS256', 'EdDSA'] as const;
export type AccessTokenAlgorithm = (typeof ACCESS_TOKEN_ALGORITHMS)[number];

/** SMART CCA: an assertion's `exp` is at most five minutes after it was made. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;

/** Default tolerance for clock differences between client and server, in seconds. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 10;

/** SMART Backend Services: access tokens SHOULD NOT live longer than five minutes. */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 300;

/** ATK-20: caps that keep hostile input cheap to refuse. */
export const MAX_ASSERTION_LENGTH = 16 * 1024;
export const MAX_KID_LENGTH = 256;
export const MAX_JTI_LENGTH = 256;
/**
 * RFC 6749 §2.2 leaves the size of a client identifier undefined, and the SMART reference
 * bulk-data server issues signed JWTs of 550–850 characters as client ids: a few KiB bound the work
 * a hostile one costs without refusing real ones.
 */
export const MAX_CLIENT_ID_LENGTH = 4096;
/** RFC 6749 Appendix A.1: `client-id = *VSCHAR`, VSCHAR = %x20-7E (visible ASCII and space). */
export const CLIENT_ID_PATTERN = /^[\x20-\x7E]+$/;
export const MAX_SCOPE_STRING_LENGTH = 4096;
export const MAX_SCOPE_TOKEN_LENGTH = 512;
export const MAX_SCOPES_PER_REQUEST = 64;
export const MAX_JWKS_KEYS = 16;
export const MIN_RSA_MODULUS_BITS = 2048;
export const MAX_RSA_MODULUS_BITS = 8192;
/** FIPS 186-4 Appendix B.3.1: an RSA public exponent is odd and greater than 2^16. */
export const MIN_RSA_EXPONENT = 65537;

/** RFC 9068 §2.1: the `typ` header of a JWT access token. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** The token endpoint always answers with these headers (RFC 6749 §5.1). */
export const NO_STORE_HEADERS = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

/** SMART Conformance capabilities this implementation supports. */
export const SMART_CAPABILITIES = [
  'client-confidential-asymmetric',
  'permission-v1',
  'permission-v2',
] as const;

/** FHIR R4 CapabilityStatement extension that carries the OAuth endpoints (SMART Conformance). */
export const OAUTH_URIS_EXTENSION_URL =
  'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

/** FHIR R4 restful-security-service coding for SMART on FHIR. */
export const SMART_SECURITY_SERVICE_CODING = {
  system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
  code: 'SMART-on-FHIR',
  display: 'SMART-on-FHIR',
} as const;

export const FHIR_VERSION = '4.0.1';
export const FHIR_JSON_CONTENT_TYPE = 'application/fhir+json';
