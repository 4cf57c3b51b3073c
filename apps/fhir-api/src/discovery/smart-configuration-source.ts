import { SmartConfigurationSchema, type SmartConfiguration } from '@smart-backend/protocol';
import { boundedFetch, DEFAULT_FETCH_LIMITS, RemoteFetchError, type FetchLimits } from './bounded-fetch.js';

/** The auth server's `.well-known/smart-configuration`, as this FHIR server republishes it. */
export interface SmartConfigurationSource {
  /** The document, or throws when the auth server cannot be reached and nothing is cached. */
  get(): Promise<SmartConfiguration>;
}

export interface RemoteSmartConfigurationOptions {
  /** The auth server's base URL (AUTH_URL). */
  readonly authUrl: string;
  /** How long a fetched document is served before it is fetched again. Default 5 minutes. */
  readonly maxAgeMs?: number;
  /** After a failed fetch, callers get the stale document (or the failure) for this long. Default 10 s. */
  readonly retryAfterMs?: number;
  readonly limits?: FetchLimits;
  readonly now?: () => number;
}

/**
 * Fetches `{AUTH_URL}/.well-known/smart-configuration`, validates it (protocol
 * `SmartConfigurationSchema`) and caches it. When a refetch fails the last good document keeps
 * being served; concurrent callers share one fetch, and a failure is not retried for a few seconds
 * so that an unreachable auth server cannot slow every discovery request down.
 */
export function remoteSmartConfiguration(options: RemoteSmartConfigurationOptions): SmartConfigurationSource {
  const url = `${options.authUrl}/.well-known/smart-configuration`;
  const maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
  const retryAfterMs = options.retryAfterMs ?? 10_000;
  const now = options.now ?? Date.now;
  const fetchBounded = boundedFetch(options.limits ?? DEFAULT_FETCH_LIMITS);

  let cached: { document: SmartConfiguration; fetchedAt: number } | undefined;
  let failure: { error: Error; at: number } | undefined;
  let pending: Promise<SmartConfiguration> | undefined;

  async function fetchDocument(): Promise<SmartConfiguration> {
    const response = await fetchBounded(url, { headers: { accept: 'application/json' } });
    if (response.status !== 200) throw new RemoteFetchError(`GET ${url} answered ${response.status}`);
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new RemoteFetchError(`GET ${url} did not return JSON`);
    }
    const parsed = SmartConfigurationSchema.safeParse(body);
    if (!parsed.success) {
      throw new RemoteFetchError(
        `GET ${url} is not a SMART configuration: ${parsed.error.issues[0]?.message}`,
      );
    }
    return parsed.data;
  }

  function refresh(): Promise<SmartConfiguration> {
    pending ??= fetchDocument()
      .then((document) => {
        cached = { document, fetchedAt: now() };
        failure = undefined;
        return document;
      })
      .catch((error: unknown) => {
        failure = { error: error instanceof Error ? error : new Error(String(error)), at: now() };
        throw failure.error;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  }

  return {
    async get() {
      if (cached && now() - cached.fetchedAt < maxAgeMs) return cached.document;
      if (failure && now() - failure.at < retryAfterMs) {
        if (cached) return cached.document;
        throw failure.error;
      }
      try {
        return await refresh();
      } catch (error) {
        if (cached) return cached.document; // stale-if-error
        throw error;
      }
    },
  };
}
