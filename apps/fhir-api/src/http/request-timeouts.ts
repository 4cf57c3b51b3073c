import http from 'node:http';

/**
 * How long a client may take to send a request, counted from its first byte: the headers within
 * `headersTimeoutMs`, the whole request (headers and body) within `requestTimeoutMs`. A client
 * that trickles bytes cannot hold a connection longer. What the client sees when cut: Node writes
 * `HTTP/1.1 408 Request Timeout` with `Connection: close` (no body) and closes the connection, or
 * only closes it if a response had already begun (an early 413 or 401 while the body still
 * trickles in). Bytes still in flight from the client can turn the close into a TCP reset.
 */

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface RequestTimeouts {
  /** Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Default 30 s; at least `headersTimeoutMs`. */
  readonly requestTimeoutMs?: number;
}

/**
 * Node compares these deadlines only when its connection check runs, every
 * `connectionsCheckingInterval` (30 s by default): a 10 s header timeout cut a connection after
 * 10 to 40 s. Checking every tenth of the shorter timeout (at most every second) holds each
 * timeout to within that tenth.
 */
export function connectionsCheckingIntervalMs(headersTimeoutMs: number, requestTimeoutMs: number): number {
  return Math.max(1, Math.min(1000, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs) / 10)));
}

/** An HTTP server whose request timeouts hold as configured; throws a RangeError for unusable values. */
export function createTimedHttpServer(timeouts: RequestTimeouts = {}): http.Server {
  const headersTimeout = timeouts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const requestTimeout = timeouts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  for (const [name, value] of [
    ['headersTimeoutMs', headersTimeout],
    ['requestTimeoutMs', requestTimeout],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`${name} must be a positive whole number of milliseconds (got ${value})`);
    }
  }
  if (headersTimeout > requestTimeout) {
    throw new RangeError(
      `headersTimeoutMs (${headersTimeout}) must not exceed requestTimeoutMs (${requestTimeout})`,
    );
  }
  return http.createServer({
    headersTimeout,
    requestTimeout,
    connectionsCheckingInterval: connectionsCheckingIntervalMs(headersTimeout, requestTimeout),
  });
}
