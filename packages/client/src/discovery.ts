import {
  FHIR_JSON_CONTENT_TYPE,
  OAUTH_URIS_EXTENSION_URL,
  SmartConfigurationSchema,
  type SmartConfiguration,
} from '@smart-backend/protocol';
import { DiscoveryError, InvalidInputError, TransportError } from './errors.js';
import { parseJsonBody, sendRequest, type TransportOptions } from './http.js';
import { FhirBase } from './urls.js';
import { describeSchemaProblem } from './validation.js';

/** Members of the discovery document that hold endpoint URLs (DISC-04 resolves them if relative). */
const URL_MEMBERS = [
  'issuer',
  'token_endpoint',
  'jwks_uri',
  'registration_endpoint',
  'introspection_endpoint',
  'authorization_endpoint',
  'revocation_endpoint',
  'management_endpoint',
] as const;

/** SMART Conformance `oauth-uris` sub-extensions → discovery document members. */
const OAUTH_URI_MEMBERS: ReadonlyArray<readonly [extension: string, member: string]> = [
  ['token', 'token_endpoint'],
  ['register', 'registration_endpoint'],
  ['introspect', 'introspection_endpoint'],
  ['authorize', 'authorization_endpoint'],
  ['revoke', 'revocation_endpoint'],
  ['manage', 'management_endpoint'],
];

/**
 * Finds the authorization server of a FHIR server (DISC-01/03): `GET {base}/.well-known/smart-configuration`
 * with `Accept: application/json`, validated with the protocol schema; if that fails, the
 * CapabilityStatement at `{base}/metadata` and its `oauth-uris` extension. Relative endpoint URLs are
 * resolved against the FHIR base (DISC-04). Throws {@link DiscoveryError} naming both failures.
 */
export async function discover(
  fhirBaseUrl: string,
  options: TransportOptions = {},
): Promise<SmartConfiguration> {
  const base = new FhirBase(fhirBaseUrl).url;
  let wellKnownProblem: string;
  try {
    return await readSmartConfiguration(base, options);
  } catch (error) {
    if (!(error instanceof DiscoveryError)) throw error;
    wellKnownProblem = error.message;
  }
  try {
    return await readCapabilityStatement(base, options);
  } catch (error) {
    if (!(error instanceof DiscoveryError)) throw error;
    throw new DiscoveryError(`no token endpoint found for ${base}: ${wellKnownProblem}; ${error.message}`);
  }
}

async function readSmartConfiguration(base: string, options: TransportOptions): Promise<SmartConfiguration> {
  const url = new URL(`${base}/.well-known/smart-configuration`);
  const body = await fetchJson(url, 'application/json', '.well-known/smart-configuration', options);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new DiscoveryError('.well-known/smart-configuration is not a JSON object');
  }
  const resolved = resolveEndpointUrls(body as Record<string, unknown>, base);
  const parsed = SmartConfigurationSchema.safeParse(resolved);
  if (!parsed.success) {
    throw new DiscoveryError(
      `.well-known/smart-configuration is invalid: ${describeSchemaProblem(parsed.error, resolved)}`,
    );
  }
  return parsed.data;
}

async function readCapabilityStatement(base: string, options: TransportOptions): Promise<SmartConfiguration> {
  const url = new URL(`${base}/metadata`);
  const body = await fetchJson(url, `${FHIR_JSON_CONTENT_TYPE}, application/json`, 'metadata', options);
  const uris = oauthUrisFrom(body);
  if (uris === undefined) {
    throw new DiscoveryError(`the CapabilityStatement has no ${OAUTH_URIS_EXTENSION_URL} extension`);
  }
  const document = Object.fromEntries(
    OAUTH_URI_MEMBERS.flatMap(([extension, member]) => {
      const value = uris.get(extension);
      return value === undefined ? [] : [[member, value]];
    }),
  );
  const resolved = resolveEndpointUrls(document, base);
  const parsed = SmartConfigurationSchema.safeParse(resolved);
  if (!parsed.success) {
    throw new DiscoveryError(
      `the CapabilityStatement oauth-uris extension is invalid: ${describeSchemaProblem(parsed.error, resolved)}`,
    );
  }
  return parsed.data;
}

/** `rest[].security.extension[url=oauth-uris].extension[url=…].valueUri`, first match wins. */
function oauthUrisFrom(body: unknown): Map<string, string> | undefined {
  if (!isObject(body) || body.resourceType !== 'CapabilityStatement' || !Array.isArray(body.rest))
    return undefined;
  for (const rest of body.rest) {
    const security = isObject(rest) ? rest.security : undefined;
    const extensions = isObject(security) && Array.isArray(security.extension) ? security.extension : [];
    const oauth = extensions.find((e) => isObject(e) && e.url === OAUTH_URIS_EXTENSION_URL);
    if (!isObject(oauth) || !Array.isArray(oauth.extension)) continue;
    const uris = new Map<string, string>();
    for (const sub of oauth.extension) {
      if (
        isObject(sub) &&
        typeof sub.url === 'string' &&
        typeof sub.valueUri === 'string' &&
        !uris.has(sub.url)
      ) {
        uris.set(sub.url, sub.valueUri);
      }
    }
    return uris;
  }
  return undefined;
}

/**
 * DISC-04: a relative endpoint URL is resolved against the FHIR base (treated as a directory). The
 * result holds the document's own members (spread and `Object.fromEntries` define them as data, a
 * `__proto__` member included) with the resolved URLs over them; the schema then checks exactly it.
 */
function resolveEndpointUrls(document: Record<string, unknown>, base: string): Record<string, unknown> {
  const resolved = Object.fromEntries(
    URL_MEMBERS.flatMap((member) => {
      const url = resolveRelativeUrl(Object.hasOwn(document, member) ? document[member] : undefined, base);
      return url === undefined ? [] : [[member, url]];
    }),
  );
  return { ...document, ...resolved };
}

/** The absolute form of a relative URL string; undefined for anything else (left for the schema). */
function resolveRelativeUrl(value: unknown, base: string): string | undefined {
  if (typeof value !== 'string' || value === '' || /^[a-z][a-z0-9+.-]*:/i.test(value)) return undefined;
  try {
    return new URL(value, `${base}/`).href;
  } catch {
    return undefined;
  }
}

async function fetchJson(
  url: URL,
  accept: string,
  what: string,
  options: TransportOptions,
): Promise<unknown> {
  const response = await sendRequest(
    () => ({ method: 'GET', url, headers: { accept } }),
    { retryable: true },
    options,
  ).catch((error: unknown) => {
    if (error instanceof TransportError || error instanceof InvalidInputError) throw error;
    throw new DiscoveryError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  });
  if (response.status < 200 || response.status >= 300) {
    throw new DiscoveryError(`${what} answered HTTP ${response.status}`);
  }
  try {
    return parseJsonBody(response, what);
  } catch (error) {
    throw new DiscoveryError(error instanceof Error ? error.message : String(error));
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
