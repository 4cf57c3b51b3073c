/**
 * Fetches from the auth server with the limits DESIGN.md asks of every remote fetch: a timeout, a
 * size cap and no redirects. The body is read fully (up to the cap) so callers get a plain Response.
 */
export interface FetchLimits {
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

export const DEFAULT_FETCH_LIMITS: FetchLimits = { timeoutMs: 5000, maxBytes: 256 * 1024 };

export class RemoteFetchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RemoteFetchError';
  }
}

export function boundedFetch(limits: FetchLimits = DEFAULT_FETCH_LIMITS) {
  return async (url: string | URL, init: RequestInit = {}): Promise<Response> => {
    const timeout = AbortSignal.timeout(limits.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await fetch(url, { ...init, signal, redirect: 'manual' });
    } catch (cause) {
      throw new RemoteFetchError(`GET ${String(url)} failed: ${describe(cause)}`, { cause });
    }
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > limits.maxBytes) {
      await response.body?.cancel();
      throw new RemoteFetchError(`GET ${String(url)}: response larger than ${limits.maxBytes} bytes`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      if (response.body) {
        for await (const chunk of response.body) {
          size += chunk.byteLength;
          if (size > limits.maxBytes) {
            throw new RemoteFetchError(`GET ${String(url)}: response larger than ${limits.maxBytes} bytes`);
          }
          chunks.push(chunk);
        }
      }
    } catch (cause) {
      if (cause instanceof RemoteFetchError) throw cause;
      throw new RemoteFetchError(`GET ${String(url)}: reading the response failed: ${describe(cause)}`, {
        cause,
      });
    }
    return new Response(Buffer.concat(chunks), { status: response.status, headers: response.headers });
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}
