import type { Problem } from './schemas/problem.js';

/**
 * RFC 8707 §2 resource indicators at a token endpoint that serves one resource server: every
 * `resource` value must be an absolute URI without a fragment (else `resource.invalid`) that names
 * that server's FHIR base (else `resource.unknown`; both are `invalid_target`).
 *
 * "Names" is decided on RFC 3986 §6.2.2 / §6.2.3 normalised forms, so harmless spellings of the
 * same URI match: scheme and host in any case, a host in percent-encoding, the default port
 * written out, percent-encoded unreserved characters in the path, hex digits in either case, dot
 * segments, one trailing slash. Anything that is another URI does not: another scheme, host, port
 * or path (paths are case-sensitive), user information, a query (even an empty one), a path
 * without an authority (`http:fhir.example/fhir`), an empty authority (`http:///…`).
 */

/** RFC 3986 §4.3 absolute-URI (plus a fragment, refused separately): scheme ":" and URI characters only. */
const URI_REFERENCE = /^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/;
/** Every "%" starts a pct-encoded octet (RFC 3986 §2.1). */
const WELL_FORMED_PERCENT = /^(?:[^%]|%[0-9A-Fa-f]{2})*$/;
/** scheme "://" non-empty authority without userinfo, then an optional path; no query, no fragment. */
const AUTHORITY_AND_PATH = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#@]+(?:\/[^?#]*)?$/;

const MAX_QUOTED = 128;
const quoted = (value: string) =>
  JSON.stringify(value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}...` : value);

export function checkResourceIndicator(value: string, fhirBaseUrl: string): Problem | undefined {
  if (!URI_REFERENCE.test(value) || !WELL_FORMED_PERCENT.test(value) || !canParse(value)) {
    return {
      reason: 'resource.invalid',
      message: `resource ${quoted(value)} is not an absolute URI (RFC 3986 section 4.3)`,
    };
  }
  if (value.includes('#')) {
    return { reason: 'resource.invalid', message: `resource ${quoted(value)} has a fragment` };
  }
  const ours = normalizedHttpUri(fhirBaseUrl);
  if (ours === undefined || normalizedHttpUri(value) !== ours) {
    return {
      reason: 'resource.unknown',
      message: `resource ${quoted(value)} is not this server's FHIR base ${fhirBaseUrl}`,
    };
  }
  return undefined;
}

function canParse(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

/** scheme://host[:port]/path in normal form, or undefined for a URI that has more or less than that. */
function normalizedHttpUri(value: string): string | undefined {
  if (!AUTHORITY_AND_PATH.test(value)) return undefined;
  // WHATWG URL lower-cases scheme and host, decodes and IDNA-maps the host, drops a default port
  // and removes dot segments; the path's percent-encoding is normalised below.
  const url = new URL(value);
  const path = normalizePercentEncoding(url.pathname).replace(/\/$/, '');
  return `${url.protocol}//${url.host}${path}`;
}

/** RFC 3986 §6.2.2.1-2: decode unreserved characters, upper-case the hex digits of the rest. */
function normalizePercentEncoding(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return /^[A-Za-z0-9\-._~]$/.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}
