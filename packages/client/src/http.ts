import { setTimeout as sleep } from 'node:timers/promises';
import defaultGot, { RequestError, type Got } from 'got';
import { InvalidInputError, InvalidResponseError, TransportError } from './errors.js';
import { checkTransportSecurity } from './urls.js';

/** How every call of this package reaches the network. All members are optional. */
export interface TransportOptions {
  /** Per-attempt timeout in milliseconds for the whole request (connect to last byte). Default 10 000. */
  timeoutMs?: number;
  /** Extra attempts for retryable failures (see {@link sendRequest}). Default 2. */
  retries?: number;
  /** Allow plain http to hosts other than loopback (TLS-01 opt-out). Default false. */
  allowInsecureHttp?: boolean;
  /** A got instance to send with, e.g. `got.extend({ https: { certificateAuthority } })`. */
  http?: Got;
  /** The largest response body accepted, in bytes; a larger one is cut off. Default 32 MiB. */
  maxResponseBytes?: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRIES = 2;
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 2_000;

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  url: string;
}

export interface SendPolicy {
  /**
   * Whether failed attempts may be repeated. Only for idempotent requests (GET, PUT, DELETE) or a
   * request rebuilt from scratch on each attempt (the token request, with a fresh assertion).
   */
  retryable: boolean;
}

/** Connection-level failures worth another attempt; everything else (TLS, DNS NXDOMAIN…) is final. */
const RETRYABLE_ERROR_CODES = new Set([
  'ETIMEDOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'EADDRINUSE',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

export function normalizeTransport(options: TransportOptions | undefined): Required<
  Omit<TransportOptions, 'http'>
> & {
  http: Got;
} {
  const timeoutMs = options?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retries = options?.retries ?? DEFAULT_RETRIES;
  const maxResponseBytes = options?.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (!Number.isInteger(maxResponseBytes) || maxResponseBytes <= 0)
    throw new InvalidInputError(
      `maxResponseBytes must be a positive integer, got ${String(maxResponseBytes)}`,
    );
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new InvalidInputError(`timeoutMs must be a positive integer, got ${String(timeoutMs)}`);
  if (!Number.isInteger(retries) || retries < 0 || retries > 10)
    throw new InvalidInputError(`retries must be an integer from 0 to 10, got ${String(retries)}`);
  return {
    timeoutMs,
    retries,
    allowInsecureHttp: options?.allowInsecureHttp ?? false,
    maxResponseBytes,
    http: options?.http ?? defaultGot,
  };
}

/**
 * Sends one logical request. `prepare` is called for every attempt, so a token request can sign a
 * fresh single-use assertion each time (TREQ-03). Retries, when the policy allows them, happen only
 * on connection failures and 5xx answers, never on 4xx, with a small exponential backoff.
 * Redirects are never followed: a 3xx would carry an assertion or a token to an unvetted URL.
 */
export async function sendRequest(
  prepare: () => Promise<HttpRequest> | HttpRequest,
  policy: SendPolicy,
  transport: TransportOptions | undefined,
): Promise<HttpResponse> {
  const { timeoutMs, retries, allowInsecureHttp, maxResponseBytes, http } = normalizeTransport(transport);
  const attempts = policy.retryable ? retries + 1 : 1;
  for (let attempt = 1; ; attempt++) {
    const request = await prepare();
    checkTransportSecurity(request.url, allowInsecureHttp);
    let response: HttpResponse;
    try {
      response = await sendOnce(http, request, timeoutMs, maxResponseBytes);
    } catch (error) {
      const code = error instanceof RequestError ? error.code : undefined;
      if (attempt < attempts && code !== undefined && RETRYABLE_ERROR_CODES.has(code)) {
        await sleep(backoff(attempt));
        continue;
      }
      throw transportError(error, request, timeoutMs, attempt);
    }
    if (response.status >= 500 && attempt < attempts) {
      await sleep(backoff(attempt));
      continue;
    }
    if (response.status >= 300 && response.status < 400) {
      throw new InvalidResponseError(
        `${request.method} ${describeUrl(request.url)} answered HTTP ${response.status} (redirect to ${describeLocation(response)}); redirects are not followed`,
        { status: response.status, url: response.url },
      );
    }
    return response;
  }
}

async function sendOnce(
  http: Got,
  request: HttpRequest,
  timeoutMs: number,
  maxResponseBytes: number,
): Promise<HttpResponse> {
  const pending = http(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    throwHttpErrors: false,
    followRedirect: false,
    retry: { limit: 0 },
    timeout: { request: timeoutMs },
    responseType: 'text',
  });
  // A hostile or broken server must not make the client buffer without bound.
  let tooLarge = false;
  let status = 0;
  pending.on('response', (response: { statusCode: number }) => (status = response.statusCode));
  pending.on('downloadProgress', ({ transferred }: { transferred: number }) => {
    if (transferred > maxResponseBytes && !tooLarge) {
      tooLarge = true;
      pending.cancel();
    }
  });
  let response;
  try {
    response = await pending;
  } catch (error) {
    if (tooLarge) {
      throw new InvalidResponseError(
        `${request.method} ${describeUrl(request.url)} answered with more than ${maxResponseBytes} bytes; the response was cut off`,
        { status, url: request.url.href },
      );
    }
    throw error;
  }
  return {
    status: response.statusCode,
    headers: response.headers,
    body: response.body,
    url: request.url.href,
  };
}

function backoff(attempt: number): number {
  return Math.min(BACKOFF_BASE_MS * 2 ** (attempt - 1), BACKOFF_MAX_MS);
}

function transportError(error: unknown, request: HttpRequest, timeoutMs: number, attempts: number): Error {
  if (!(error instanceof RequestError)) return error instanceof Error ? error : new Error(String(error));
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  const what = `${request.method} ${describeUrl(request.url)}`;
  const reason =
    error.name === 'TimeoutError'
      ? `timed out after ${timeoutMs} ms`
      : `failed: ${error.code ?? error.message}`;
  return new TransportError(`${what} ${reason}${tries}`, request.url.href, { cause: error });
}

/** A URL for messages: no query string, which may hold search parameters a log should not keep. */
export function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function describeLocation(response: HttpResponse): string {
  const location = response.headers.location;
  if (typeof location !== 'string') return 'nowhere';
  try {
    return describeUrl(new URL(location, response.url));
  } catch {
    return 'an invalid URL';
  }
}

/**
 * Parses a JSON body or throws an {@link InvalidResponseError} naming who answered what. An empty
 * body is `undefined`.
 */
export function parseJsonBody(response: HttpResponse, what: string): unknown {
  if (response.body.trim() === '') return undefined;
  try {
    return JSON.parse(response.body) as unknown;
  } catch {
    const type = headerValue(response.headers['content-type']) ?? 'no content type';
    throw new InvalidResponseError(
      `${what} answered HTTP ${response.status} with a body that is not JSON (${type})`,
      { status: response.status, url: response.url },
    );
  }
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
