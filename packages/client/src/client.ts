import {
  FHIR_JSON_CONTENT_TYPE,
  isFhirId,
  parseBearerChallenge,
  type TokenResponse,
} from '@smart-backend/protocol';
import { checkClientId } from './assertion.js';
import { discover } from './discovery.js';
import {
  FhirRequestError,
  InvalidInputError,
  InvalidResponseError,
  type OperationOutcome,
} from './errors.js';
import {
  describeUrl,
  headerValue,
  normalizeTransport,
  parseJsonBody,
  sendRequest,
  type HttpResponse,
  type TransportOptions,
} from './http.js';
import { loadPrivateKey, type ClientSigningKey, type PrivateKeyInput } from './keys.js';
import { requestAccessToken } from './token.js';
import { FhirBase, parseHttpUrl } from './urls.js';
import { RESOURCE_TYPE_PATTERN, type Bundle, type FhirResource, type SearchParams } from './fhir-types.js';

export interface BackendServicesClientOptions extends TransportOptions {
  /** The FHIR base URL, e.g. `https://fhir.example.org/fhir`. The token is only ever sent below it (RS-08). */
  fhirBaseUrl: string;
  /** The client_id assigned at registration. */
  clientId: string;
  /** PKCS#8 PEM, a private JWK, or a key from {@link loadPrivateKey}. */
  privateKey: PrivateKeyInput;
  /** Space-separated SMART scopes to request, e.g. `system/Patient.rs system/Observation.rs`. */
  scope: string;
  /** The token endpoint; discovered from the FHIR base when absent. */
  tokenUrl?: string;
  /** Signing algorithm; default derived from the key (RSA → RS384, P-384 → ES384). */
  alg?: string;
  /** Assertion header `kid`; default the key's thumbprint (or the JWK's own kid). */
  kid?: string;
  /** Assertion header `jku`: the JWKS URL registered for this client, if you want to name it. */
  jku?: string;
  /** Assertion lifetime in seconds, 1–300 (default 300). */
  assertionLifetime?: number;
  /** Current time in ms since the epoch (injectable for tests). Default `Date.now`. */
  clock?: () => number;
}

/** An access token with the bookkeeping the cache uses. */
export interface AccessToken {
  readonly accessToken: string;
  readonly tokenType: string;
  /** The scopes actually granted (may be fewer than requested, SCP-09). */
  readonly scope: string;
  readonly expiresIn: number;
  /** When the token request was sent (ms). Expiry is counted from here, conservatively. */
  readonly obtainedAt: number;
  /** `obtainedAt + expires_in` (ms). */
  readonly expiresAt: number;
  /** When the cache stops handing the token out: min(30 s, 10 % of its lifetime) before expiry. */
  readonly refreshAt: number;
  /** The token response as received (members beyond the four required ones included). */
  readonly response: TokenResponse;
}

export interface FhirRequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** A resource (sent as JSON) or a JSON string. */
  body?: unknown;
  headers?: Record<string, string>;
  searchParams?: SearchParams;
}

export interface FhirResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or undefined when the body was empty. */
  body: T | undefined;
  /** The URL that answered (without redirects: they are never followed). */
  url: string;
}

const EARLY_REFRESH_MAX_MS = 30_000;
const EARLY_REFRESH_FRACTION = 0.1;

/**
 * A SMART Backend Services client: obtains and caches access tokens (client_credentials +
 * private_key_jwt) and calls one FHIR server with them.
 */
export class BackendServicesClient {
  readonly fhirBaseUrl: string;
  readonly clientId: string;
  readonly scope: string;

  private readonly base: FhirBase;
  private readonly options: BackendServicesClientOptions;
  private readonly clock: () => number;
  private keyPromise: Promise<ClientSigningKey> | undefined;
  private tokenUrlPromise: Promise<string> | undefined;
  private cached: AccessToken | undefined;
  private pending: Promise<AccessToken> | undefined;

  constructor(options: BackendServicesClientOptions) {
    this.base = new FhirBase(options.fhirBaseUrl);
    checkClientId(options.clientId);
    if (typeof options.scope !== 'string' || options.scope.trim() === '') {
      throw new InvalidInputError('scope is required, e.g. "system/*.rs"');
    }
    if (options.tokenUrl !== undefined) parseHttpUrl(options.tokenUrl, 'the token URL');
    if (options.jku !== undefined) parseHttpUrl(options.jku, 'jku');
    normalizeTransport(options);
    this.options = { ...options };
    this.fhirBaseUrl = this.base.url;
    this.clientId = options.clientId;
    this.scope = options.scope;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * A valid access token. Cached until shortly before it expires; concurrent callers share one
   * in-flight token request (single flight). Throws {@link TokenRequestError} when refused.
   */
  async getAccessToken(): Promise<string> {
    return (await this.getToken()).accessToken;
  }

  /** Like {@link getAccessToken}, with the granted scope and expiry. */
  getToken(): Promise<AccessToken> {
    const cached = this.cached;
    if (cached && this.clock() < cached.refreshAt) return Promise.resolve(cached);
    this.pending ??= this.fetchToken().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /**
   * Drops the cached token so the next call fetches a new one. With `token`, only if that is still
   * the cached one (a concurrent refresh is not thrown away).
   */
  invalidateAccessToken(token?: string): void {
    if (token === undefined || this.cached?.accessToken === token) this.cached = undefined;
  }

  /** The token endpoint in use: the configured one, or the one discovered from the FHIR base. */
  async getTokenUrl(): Promise<string> {
    if (this.options.tokenUrl !== undefined) return this.options.tokenUrl;
    this.tokenUrlPromise ??= discover(this.base.url, this.options)
      .then((configuration) => configuration.token_endpoint)
      .catch((error: unknown) => {
        this.tokenUrlPromise = undefined;
        throw error;
      });
    return this.tokenUrlPromise;
  }

  private async fetchToken(): Promise<AccessToken> {
    this.keyPromise ??= loadPrivateKey(this.options.privateKey, {
      ...(this.options.alg !== undefined && { alg: this.options.alg }),
      ...(this.options.kid !== undefined && { kid: this.options.kid }),
    });
    const key = await this.keyPromise;
    const tokenUrl = await this.getTokenUrl();
    const obtainedAt = this.clock();
    const { timeoutMs, retries, allowInsecureHttp, maxResponseBytes, http, jku, assertionLifetime } =
      this.options;
    const response = await requestAccessToken({
      tokenUrl,
      clientId: this.clientId,
      key,
      scope: this.scope,
      clock: this.clock,
      ...(timeoutMs !== undefined && { timeoutMs }),
      ...(retries !== undefined && { retries }),
      ...(allowInsecureHttp !== undefined && { allowInsecureHttp }),
      ...(maxResponseBytes !== undefined && { maxResponseBytes }),
      ...(http !== undefined && { http }),
      ...(jku !== undefined && { jku }),
      ...(assertionLifetime !== undefined && { assertionLifetime }),
    });
    const lifetimeMs = response.expires_in * 1000;
    const token: AccessToken = {
      accessToken: response.access_token,
      tokenType: response.token_type,
      scope: response.scope,
      expiresIn: response.expires_in,
      obtainedAt,
      expiresAt: obtainedAt + lifetimeMs,
      refreshAt:
        obtainedAt + lifetimeMs - Math.min(EARLY_REFRESH_MAX_MS, lifetimeMs * EARLY_REFRESH_FRACTION),
      response,
    };
    this.cached = token;
    return token;
  }

  /**
   * Sends a FHIR request with `Authorization: Bearer` (RS-01) to a path below the FHIR base (or an
   * absolute URL inside it; anything else is refused with {@link ForeignUrlError} before sending).
   * A 401 drops the cached token and the request is sent once more with a fresh one. GET, PUT and
   * DELETE are retried on connection failures and 5xx; POST never is. A non-2xx answer throws
   * {@link FhirRequestError}.
   */
  async request<T = unknown>(pathOrUrl: string, options: FhirRequestOptions = {}): Promise<FhirResponse<T>> {
    const url = this.base.resolve(pathOrUrl, 'URL');
    appendSearchParams(url, options.searchParams);
    return this.send<T>(url, options);
  }

  /** The absolute URL for a path (or URL) below the FHIR base; {@link ForeignUrlError} for anything else. */
  urlFor(pathOrUrl: string): string {
    return this.base.resolve(pathOrUrl, 'URL').href;
  }

  private async send<T>(url: URL, options: FhirRequestOptions): Promise<FhirResponse<T>> {
    const method = options.method ?? 'GET';
    const body = serializeBody(options.body);
    const headers: Record<string, string> = { accept: FHIR_JSON_CONTENT_TYPE };
    for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
    if (body !== undefined) headers['content-type'] ??= FHIR_JSON_CONTENT_TYPE;

    const attempt = async (token: string): Promise<HttpResponse> =>
      sendRequest(
        () => ({
          method,
          url,
          headers: { ...headers, authorization: `Bearer ${token}` },
          ...(body !== undefined && { body }),
        }),
        { retryable: method !== 'POST' },
        this.options,
      );

    const token = await this.getAccessToken();
    let response = await attempt(token);
    if (response.status === 401) {
      this.invalidateAccessToken(token);
      response = await attempt(await this.getAccessToken());
    }
    const what = `FHIR ${method} ${describeUrl(url)}`;
    if (response.status < 200 || response.status >= 300) throw fhirError(response, method, url);
    return {
      status: response.status,
      headers: response.headers,
      body: parseJsonBody(response, what) as T | undefined,
      url: response.url,
    };
  }

  /** `GET {base}/{type}/{id}` → the resource. */
  async read<T extends FhirResource = FhirResource>(resourceType: string, id: string): Promise<T> {
    const path = `${checkResourceType(resourceType)}/${checkId(id)}`;
    const response = await this.request<T>(path);
    return expectResource(response, resourceType);
  }

  /**
   * Search result pages: `GET {base}/{type}?params`, then each Bundle's `next` link. A `next` link
   * outside the FHIR base is refused (RS-08); a link already visited ends with an error (no loops).
   */
  async *searchPages(resourceType: string, params?: SearchParams): AsyncGenerator<Bundle, void, undefined> {
    const first = this.base.resolve(checkResourceType(resourceType));
    appendSearchParams(first, params);
    yield* this.pagesFrom(first);
  }

  /** Follows a Bundle's `next` links starting at `url` (a URL or path below the FHIR base). */
  async *pages(url: string): AsyncGenerator<Bundle, void, undefined> {
    yield* this.pagesFrom(this.base.resolve(url, 'URL'));
  }

  private async *pagesFrom(first: URL): AsyncGenerator<Bundle, void, undefined> {
    const seen = new Set<string>();
    let url: URL | undefined = first;
    while (url) {
      if (seen.has(url.href)) {
        throw new InvalidResponseError(`paging loop: the next link ${describeUrl(url)} was already visited`, {
          status: 200,
          url: url.href,
        });
      }
      seen.add(url.href);
      const response: FhirResponse<unknown> = await this.send(url, {});
      const bundle = response.body;
      if (!isObject(bundle) || bundle.resourceType !== 'Bundle') {
        throw new InvalidResponseError(`FHIR search ${describeUrl(url)} did not answer with a Bundle`, {
          status: response.status,
          url: response.url,
        });
      }
      // FHIR R4 Bundle: entry is 0..* of BackboneElement; anything else is not a page to read.
      if (bundle.entry !== undefined && !(Array.isArray(bundle.entry) && bundle.entry.every(isObject))) {
        throw new InvalidResponseError(
          `FHIR search ${describeUrl(url)} answered a Bundle whose entry is not an array of objects`,
          { status: response.status, url: response.url },
        );
      }
      yield bundle as Bundle;
      const next = nextLink(bundle as Bundle);
      url = next === undefined ? undefined : this.base.resolve(new URL(next, url).href, 'paging next link');
    }
  }

  /** Every resource of every page, in order (matches, includes and outcomes alike). */
  async *search(resourceType: string, params?: SearchParams): AsyncGenerator<FhirResource, void, undefined> {
    for await (const page of this.searchPages(resourceType, params)) {
      for (const entry of page.entry ?? [])
        if (isObject(entry.resource)) yield entry.resource as FhirResource;
    }
  }

  /** {@link search} collected into an array. */
  async searchAll(resourceType: string, params?: SearchParams): Promise<FhirResource[]> {
    const resources: FhirResource[] = [];
    for await (const resource of this.search(resourceType, params)) resources.push(resource);
    return resources;
  }

  /**
   * `POST {base}/{resourceType}` → the created resource (asks for `Prefer: return=representation`;
   * if the server answers without a body, the `Location` is read).
   */
  async create<T extends FhirResource = FhirResource>(resource: T): Promise<T> {
    const type = checkResourceType(resourceTypeOf(resource));
    const response = await this.request<T>(type, {
      method: 'POST',
      body: resource,
      headers: { prefer: 'return=representation' },
    });
    if (isObject(response.body)) return expectResource(response, type);
    const location =
      headerValue(response.headers.location) ?? headerValue(response.headers['content-location']);
    if (location === undefined) {
      throw new InvalidResponseError(
        `FHIR create ${type} answered HTTP ${response.status} with neither a resource nor a Location header`,
        { status: response.status, url: response.url },
      );
    }
    const read = await this.send<T>(
      this.base.resolve(new URL(location, response.url).href, 'Location header'),
      {},
    );
    return expectResource(read, type);
  }

  /** `PUT {base}/{resourceType}/{id}` → the updated resource (the resource must carry its id). */
  async update<T extends FhirResource = FhirResource>(resource: T): Promise<T> {
    const type = checkResourceType(resourceTypeOf(resource));
    if (typeof resource.id !== 'string') throw new InvalidInputError('update needs a resource with an id');
    const path = `${type}/${checkId(resource.id)}`;
    const response = await this.request<T>(path, {
      method: 'PUT',
      body: resource,
      headers: { prefer: 'return=representation' },
    });
    if (isObject(response.body)) return expectResource(response, type);
    return this.read<T>(type, resource.id);
  }

  /** `DELETE {base}/{resourceType}/{id}`. */
  async delete(resourceType: string, id: string): Promise<void> {
    await this.request(`${checkResourceType(resourceType)}/${checkId(id)}`, { method: 'DELETE' });
  }
}

function checkResourceType(resourceType: string): string {
  if (typeof resourceType !== 'string' || !RESOURCE_TYPE_PATTERN.test(resourceType)) {
    throw new InvalidInputError(`${JSON.stringify(resourceType)} is not a FHIR resource type name`);
  }
  return resourceType;
}

function checkId(id: string): string {
  if (typeof id !== 'string' || !isFhirId(id)) {
    throw new InvalidInputError(
      `${JSON.stringify(id)} is not a FHIR id (1-64 of A-Z a-z 0-9 - ., not only dots)`,
    );
  }
  return id;
}

function resourceTypeOf(resource: unknown): string {
  if (!isObject(resource) || typeof resource.resourceType !== 'string') {
    throw new InvalidInputError('a FHIR resource needs a resourceType');
  }
  return resource.resourceType;
}

function expectResource<T>(response: FhirResponse<T>, resourceType: string): T {
  const body = response.body;
  if (!isObject(body) || body.resourceType !== resourceType) {
    throw new InvalidResponseError(
      `FHIR ${describeUrl(new URL(response.url))} answered HTTP ${response.status} without a ${resourceType} resource`,
      { status: response.status, url: response.url },
    );
  }
  return body as T;
}

function serializeBody(body: unknown): string | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'string') return body;
  return JSON.stringify(body);
}

function appendSearchParams(url: URL, params: SearchParams | undefined): void {
  if (params === undefined) return;
  const entries: Array<[string, string]> =
    params instanceof URLSearchParams
      ? [...params.entries()]
      : Object.entries(params).flatMap(([name, value]) =>
          (Array.isArray(value) ? value : [value]).map((v): [string, string] => [name, String(v)]),
        );
  for (const [name, value] of entries) url.searchParams.append(name, value);
}

function nextLink(bundle: Bundle): string | undefined {
  const link = Array.isArray(bundle.link)
    ? bundle.link.find((l) => isObject(l) && l.relation === 'next')
    : undefined;
  return typeof link?.url === 'string' && link.url !== '' ? link.url : undefined;
}

/**
 * RFC 6750 §3: `Bearer realm="…", error="…", error_description="…"`, read with the protocol's
 * parser, the counterpart of the formatter the FHIR API writes challenges with.
 */
export function parseWwwAuthenticate(header: string | undefined): {
  error?: string;
  errorDescription?: string;
} {
  const { error, errorDescription } = parseBearerChallenge(header);
  return {
    ...(error !== undefined && { error }),
    ...(errorDescription !== undefined && { errorDescription }),
  };
}

function fhirError(response: HttpResponse, method: string, url: URL): FhirRequestError {
  let body: unknown;
  try {
    body = parseJsonBody(response, 'FHIR');
  } catch {
    body = undefined;
  }
  const operationOutcome =
    isObject(body) && body.resourceType === 'OperationOutcome' ? (body as OperationOutcome) : undefined;
  const challenge = parseWwwAuthenticate(headerValue(response.headers['www-authenticate']));
  return new FhirRequestError({
    status: response.status,
    method,
    url: describeUrl(url),
    operationOutcome,
    error: challenge.error,
    errorDescription: challenge.errorDescription,
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
