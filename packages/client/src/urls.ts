import { isLoopbackHost } from '@smart-backend/protocol';
import { ForeignUrlError, InvalidInputError } from './errors.js';

/**
 * Parses an absolute http(s) URL given by a caller. Credentials and fragments are refused: a URL
 * with `user:pass@` would leak them into every request and log, a fragment means nothing to a server.
 */
export function parseHttpUrl(value: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidInputError(`${what} ${JSON.stringify(value)} is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(`${what} ${JSON.stringify(value)} must be an http or https URL`);
  }
  if (url.username || url.password) {
    throw new InvalidInputError(`${what} must not carry credentials (user:password@)`);
  }
  if (url.hash) throw new InvalidInputError(`${what} must not have a #fragment`);
  return url;
}

/**
 * TLS-01: tokens, assertions and admin secrets travel only over TLS, except to this machine
 * (development and tests). `allowInsecureHttp` is the explicit opt-out.
 */
export function checkTransportSecurity(url: URL, allowInsecureHttp: boolean): void {
  if (url.protocol === 'https:' || allowInsecureHttp) return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  throw new InvalidInputError(
    `refusing plain http to ${url.origin}: use https (http is allowed only on loopback hosts unless allowInsecureHttp / --allow-insecure-http is set)`,
  );
}

/** A base URL without a trailing slash, so `${base}/path` is always well formed (DISC-01). */
export function trimTrailingSlash(url: URL): string {
  const text = url.href;
  return url.search || !text.endsWith('/') ? text : text.replace(/\/+$/, '');
}

/**
 * The FHIR base and the only place URLs are built for FHIR calls. RS-08: a URL is "inside" the base
 * when it has the same origin and its path is the base path or below it; anything else never
 * receives the token.
 */
export class FhirBase {
  readonly url: string;
  private readonly origin: string;
  private readonly pathPrefix: string;

  constructor(fhirBaseUrl: string) {
    const parsed = parseHttpUrl(fhirBaseUrl, 'the FHIR base URL');
    if (parsed.search) throw new InvalidInputError('the FHIR base URL must not have a query string');
    this.url = trimTrailingSlash(parsed);
    this.origin = parsed.origin;
    this.pathPrefix = new URL(this.url).pathname.replace(/\/+$/, '');
  }

  /** True when `url` is the base or lies below it (same origin, path prefix on a segment boundary). */
  contains(url: URL): boolean {
    if (url.origin !== this.origin || url.username || url.password) return false;
    const path = url.pathname;
    return (
      path === this.pathPrefix || path === `${this.pathPrefix}/` || path.startsWith(`${this.pathPrefix}/`)
    );
  }

  /**
   * A path relative to the base (`Patient/1`, `/Patient?name=x`) or an absolute URL inside it.
   * Dot segments are resolved by the URL parser before the check, so `../admin` cannot escape.
   */
  resolve(pathOrUrl: string, what = 'URL'): URL {
    const isAbsolute = /^[a-z][a-z0-9+.-]*:/i.test(pathOrUrl) || pathOrUrl.startsWith('//');
    let url: URL;
    try {
      url = isAbsolute ? new URL(pathOrUrl) : new URL(`${this.url}/${pathOrUrl.replace(/^\/+/, '')}`);
    } catch {
      throw new InvalidInputError(`${what} ${JSON.stringify(pathOrUrl)} is not a valid URL or path`);
    }
    url.hash = '';
    if (!this.contains(url)) throw new ForeignUrlError(url.href, this.url, what);
    return url;
  }
}
