import { OAuthError, checkPublicJwks, type PublicJwk } from '@smart-backend/protocol';
import { importPublicJwk, type BoundKey } from '../crypto/jws.js';
import type { Logger } from '../logger.js';
import type { ClientRecord } from '../store/interfaces.js';

/**
 * Where a client's candidate keys come from (SMART CCA "Signature Verification" steps 1–2,
 * KEY-03, KEY-06, KEY-07, ATK-07, ATK-20, ATK-26): the JWKS registered by value, or the registered
 * `jwks_uri`, fetched with a timeout, a size cap, no redirects and `Accept: application/json`,
 * cached no longer than its Cache-Control allows, refetched on an unknown kid at most once per
 * cooldown. Imported keys are cached so nothing is re-imported per request.
 */
export interface ClientKeyResolverOptions {
  /** Whole fetch, headers and body (default 3000 ms). */
  readonly fetchTimeoutMs: number;
  /** Largest JWKS document accepted (default 64 kB). */
  readonly maxJwksBytes: number;
  /** Cache lifetime when the response has no Cache-Control max-age (default 300 s). */
  readonly defaultMaxAgeSeconds: number;
  /** Upper bound on any cache lifetime (default 300 s): a client's key removal is seen within it. */
  readonly maxMaxAgeSeconds: number;
  /** At most one refetch per client within this window because of an unknown kid (default 30 s). */
  readonly unknownKidCooldownSeconds: number;
  /** After a failed fetch, the failure is answered from memory for this long (default 5 s). */
  readonly failureBackoffSeconds: number;
}

export const DEFAULT_CLIENT_KEY_OPTIONS: ClientKeyResolverOptions = {
  fetchTimeoutMs: 3000,
  maxJwksBytes: 64 * 1024,
  defaultMaxAgeSeconds: 300,
  maxMaxAgeSeconds: 300,
  unknownKidCooldownSeconds: 30,
  failureBackoffSeconds: 5,
};

export interface ClientKeySet {
  readonly keys: readonly PublicJwk[];
  /** True when the keys come from jwks_uri and an unknown-kid refetch is allowed now. */
  readonly mayRefetch: boolean;
}

interface RemoteEntry {
  keys?: readonly PublicJwk[];
  /** Epoch ms until which `keys` may be used. */
  freshUntil: number;
  /** Epoch ms of the last fetch attempt. */
  fetchedAt: number;
  failure?: OAuthError;
  failureUntil: number;
}

/** Beyond this many imported keys the oldest are forgotten (they are re-imported if needed). */
const IMPORTED_KEY_CACHE_LIMIT = 10_000;

export class ClientKeyResolver {
  private readonly remote = new Map<string, RemoteEntry>();
  private readonly inflight = new Map<string, Promise<readonly PublicJwk[] | OAuthError>>();
  private readonly imported = new Map<string, BoundKey>();

  constructor(
    private readonly options: ClientKeyResolverOptions,
    private readonly now: () => number = Date.now,
    private readonly logger?: Logger,
  ) {}

  /** The client's candidate keys. `afterUnknownKid` asks for a refetch (honoured once per cooldown). */
  async keysFor(client: ClientRecord, afterUnknownKid = false): Promise<ClientKeySet> {
    if (client.jwks) return { keys: client.jwks.keys, mayRefetch: false };
    if (!client.jwksUri)
      throw new OAuthError('client.jwks_invalid', 'the client has neither jwks nor jwks_uri');

    const cacheKey = `${client.clientId} ${client.jwksUri}`;
    const entry = this.remote.get(cacheKey);
    const now = this.now();
    const fresh = entry?.keys !== undefined && now < entry.freshUntil;
    const cooldownOver = !entry || now - entry.fetchedAt >= this.options.unknownKidCooldownSeconds * 1000;
    const backingOff = entry?.failure !== undefined && now < entry.failureUntil;
    if ((!fresh || (afterUnknownKid && cooldownOver)) && !backingOff) {
      const result = await this.fetchOnce(cacheKey, client);
      // Keys just fetched serve this request even when Cache-Control forbids keeping them.
      if (!(result instanceof OAuthError)) return { keys: result, mayRefetch: false };
    }
    // A failed refresh does not discard keys that are still fresh.
    const latest = this.remote.get(cacheKey);
    if (latest?.keys && this.now() < latest.freshUntil) {
      const mayRefetch = this.now() - latest.fetchedAt >= this.options.unknownKidCooldownSeconds * 1000;
      return { keys: latest.keys, mayRefetch };
    }
    throw (
      latest?.failure ?? new OAuthError('client.jwks_unavailable', `${client.jwksUri} could not be fetched`)
    );
  }

  /** The verification key for (client, jwk, alg), imported once and bound to that algorithm. */
  importKey(clientId: string, jwk: PublicJwk, alg: string): BoundKey {
    const cacheKey = `${clientId}\0${alg}\0${JSON.stringify(jwk)}`;
    const cached = this.imported.get(cacheKey);
    if (cached) return cached;
    const key = importPublicJwk(jwk, alg);
    if (this.imported.size >= IMPORTED_KEY_CACHE_LIMIT) {
      const oldest = this.imported.keys().next().value;
      if (oldest !== undefined) this.imported.delete(oldest);
    }
    this.imported.set(cacheKey, key);
    return key;
  }

  /** Concurrent requests for one client share one fetch. */
  private fetchOnce(cacheKey: string, client: ClientRecord): Promise<readonly PublicJwk[] | OAuthError> {
    let pending = this.inflight.get(cacheKey);
    if (!pending) {
      pending = this.refresh(cacheKey, client).finally(() => this.inflight.delete(cacheKey));
      this.inflight.set(cacheKey, pending);
    }
    return pending;
  }

  private async refresh(cacheKey: string, client: ClientRecord): Promise<readonly PublicJwk[] | OAuthError> {
    const uri = client.jwksUri as string;
    const previous = this.remote.get(cacheKey);
    const startedAt = this.now();
    try {
      const { body, maxAgeSeconds } = await fetchJwksDocument(uri, this.options);
      const problem = checkPublicJwks(body);
      if (problem) {
        throw new OAuthError(
          'client.jwks_invalid',
          `the JWKS at ${uri} is not acceptable: ${problem.reason}: ${problem.message}`,
        );
      }
      const lifetime = Math.min(
        maxAgeSeconds ?? this.options.defaultMaxAgeSeconds,
        this.options.maxMaxAgeSeconds,
      );
      const keys = (body as { keys: PublicJwk[] }).keys;
      // Lifetime counts from the request, so the cache never outlives what the client allowed.
      this.remote.set(cacheKey, {
        keys,
        freshUntil: startedAt + lifetime * 1000,
        fetchedAt: startedAt,
        failureUntil: 0,
      });
      this.logger?.info(
        {
          event: 'jwks_fetch',
          client_id: client.clientId,
          outcome: 'fetched',
          keys: keys.length,
          max_age: lifetime,
        },
        'client JWKS fetched',
      );
      return keys;
    } catch (error) {
      const failure =
        error instanceof OAuthError
          ? error
          : new OAuthError('client.jwks_unavailable', `${uri} could not be fetched`, { cause: error });
      this.remote.set(cacheKey, {
        ...(previous?.keys && { keys: previous.keys }),
        freshUntil: previous?.freshUntil ?? 0,
        fetchedAt: startedAt,
        failure,
        failureUntil: this.now() + this.options.failureBackoffSeconds * 1000,
      });
      this.logger?.warn(
        {
          event: 'jwks_fetch',
          client_id: client.clientId,
          outcome: 'failed',
          reason: failure.reason,
          detail: failure.description,
        },
        'client JWKS fetch failed',
      );
      return failure;
    }
  }
}

/** Fetches a JWKS document: GET, no redirects, timeout, size cap, JSON media type and body. */
export async function fetchJwksDocument(
  uri: string,
  options: Pick<ClientKeyResolverOptions, 'fetchTimeoutMs' | 'maxJwksBytes'>,
): Promise<{ body: unknown; maxAgeSeconds: number | undefined }> {
  const unavailable = (why: string, cause?: unknown) =>
    new OAuthError('client.jwks_unavailable', `${uri}: ${why}`, { cause });
  const signal = AbortSignal.timeout(options.fetchTimeoutMs);
  let response: Response;
  try {
    response = await fetch(uri, {
      method: 'GET',
      headers: { accept: 'application/json' },
      redirect: 'manual',
      credentials: 'omit',
      signal,
    });
  } catch (error) {
    throw unavailable(
      signal.aborted ? `no response within ${options.fetchTimeoutMs} ms` : 'the request failed',
      error,
    );
  }
  try {
    if (response.status >= 300 && response.status < 400) {
      throw unavailable(`answered ${response.status} (a redirect); redirects are not followed`);
    }
    if (response.status !== 200) throw unavailable(`answered HTTP ${response.status}`);
    const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (!(type === 'application/json' || type.endsWith('+json'))) {
      throw unavailable(`answered with media type ${JSON.stringify(type)}, not JSON`);
    }
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > options.maxJwksBytes) {
      throw unavailable(`the document is larger than ${options.maxJwksBytes} bytes`);
    }
    const text = await readTextWithinLimit(response, options.maxJwksBytes, () =>
      unavailable(`the document is larger than ${options.maxJwksBytes} bytes`),
    );
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw unavailable('the document is not JSON');
    }
    return { body, maxAgeSeconds: maxAgeFromCacheControl(response.headers.get('cache-control')) };
  } catch (error) {
    await response.body?.cancel().catch(() => undefined);
    if (error instanceof OAuthError) throw error;
    throw unavailable(
      signal.aborted
        ? `no complete response within ${options.fetchTimeoutMs} ms`
        : 'the response could not be read',
      error,
    );
  }
}

async function readTextWithinLimit(
  response: Response,
  limit: number,
  tooLarge: () => Error,
): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, size));
}

/**
 * KEY-07: never cache longer than the client's Cache-Control allows. `no-store`/`no-cache` → 0;
 * `max-age=N` → N; absent → undefined (the resolver's default applies).
 */
export function maxAgeFromCacheControl(header: string | null): number | undefined {
  if (!header) return undefined;
  let maxAge: number | undefined;
  for (const directive of header.toLowerCase().split(',')) {
    const [name = '', value] = directive.trim().split('=');
    if (name === 'no-store' || name === 'no-cache') return 0;
    if (name === 'max-age' && value !== undefined) {
      const seconds = Number(value.replace(/^"(.*)"$/, '$1'));
      if (Number.isInteger(seconds) && seconds >= 0) maxAge = seconds;
    }
  }
  return maxAge;
}
