import type { IncomingMessage } from 'node:http';
import { OAuthError } from '@smart-backend/protocol';

/**
 * Request-body primitives, each a check that throws an `OAuthError`: media type, size cap,
 * parameters only in the body, no repeated parameters (RFC 6749 §3.1, §3.2; ATK-20, ATK-22).
 */

/** ATK-20: no endpoint reads more than this. A token request is ~1-2 kB. */
export const BODY_LIMIT_BYTES = 64 * 1024;

/** After refusing an oversized body, this much more is read and discarded so the 413 reaches the client. */
const DISCARD_LIMIT_BYTES = 1024 * 1024;

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

interface MediaType {
  readonly type: string;
  readonly charset: string | undefined;
}

function parseMediaType(header: string | undefined): MediaType | undefined {
  if (!header) return undefined;
  const [type = '', ...parameters] = header.split(';');
  let charset: string | undefined;
  for (const parameter of parameters) {
    const eq = parameter.indexOf('=');
    if (eq < 0) continue;
    if (parameter.slice(0, eq).trim().toLowerCase() === 'charset') {
      charset = parameter
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase();
    }
  }
  return { type: type.trim().toLowerCase(), charset };
}

function checkMediaType(header: string | undefined, expected: string): void {
  const media = parseMediaType(header);
  if (!media || media.type !== expected) {
    throw new OAuthError(
      'request.unsupported_content_type',
      `the body must be ${expected}${media ? `, not ${media.type || 'an empty media type'}` : ' (no Content-Type was sent)'}`,
    );
  }
  if (media.charset !== undefined && media.charset !== 'utf-8' && media.charset !== 'utf8') {
    throw new OAuthError(
      'request.unsupported_content_type',
      `the body must be UTF-8 (charset=${media.charset} is not supported)`,
    );
  }
}

/** RFC 6749 §3.2: token (and introspection, RFC 7662 §2.1) requests are form-encoded. */
export function checkFormContentType(header: string | undefined): void {
  checkMediaType(header, FORM);
}

export function checkJsonContentType(header: string | undefined): void {
  checkMediaType(header, JSON_TYPE);
}

/**
 * Reads the whole body, refusing (413) anything over `limit` bytes — from Content-Length before
 * reading, or while streaming. The rest of an oversized body is drained (up to 1 MiB) so the client
 * sees the 413 instead of a reset; beyond that the connection is dropped.
 */
export function readBodyWithinLimit(req: IncomingMessage, limit = BODY_LIMIT_BYTES): Promise<Buffer> {
  const tooLarge = () =>
    new OAuthError('request.body_too_large', `the request body is larger than ${limit} bytes`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    discardRemainder(req);
    return Promise.reject(tooLarge());
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        discardRemainder(req);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = () => {
      cleanup();
      reject(new OAuthError('request.malformed_body', 'the request body was not received completely'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}

function discardRemainder(req: IncomingMessage): void {
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARD_LIMIT_BYTES) req.socket.destroy();
  });
  req.on('error', () => undefined);
  req.resume();
}

/** ATK-22, RFC 6749 §3.2: parameters are read from the body only; a query string is refused. */
export function checkNoQueryParameters(url: string): void {
  const q = url.indexOf('?');
  if (q >= 0 && q < url.length - 1) {
    throw new OAuthError(
      'request.query_parameters',
      'parameters must be sent in the form body; this request has a query string',
    );
  }
}

function decodeUtf8(body: Buffer): string {
  try {
    return utf8.decode(body);
  } catch {
    throw new OAuthError('request.malformed_body', 'the request body is not valid UTF-8');
  }
}

/** A parsed form body: single-valued parameters, plus the values of the few that may repeat. */
export interface FormParameters {
  /** The value of a single-valued parameter (never of a repeatable one: use getAll). */
  get(name: string): string | undefined;
  has(name: string): boolean;
  /** Every value of a parameter named as repeatable, in order (empty when absent). */
  getAll(name: string): readonly string[];
}

/**
 * Parses a form body. RFC 6749 §3.1: a parameter sent without a value is treated as omitted; a
 * parameter must not be included more than once (ATK-22) — except those named in `repeatable`,
 * e.g. RFC 8707 §2 `resource`, whose every value is kept. Names and values live in Maps, so no
 * parameter name (`__proto__` included) can reach an object's prototype.
 */
export function parseFormParameters(body: Buffer, repeatable: readonly string[] = []): FormParameters {
  const single = new Map<string, string>();
  const multiple = new Map<string, string[]>(repeatable.map((name) => [name, []]));
  for (const [name, value] of new URLSearchParams(decodeUtf8(body))) {
    if (value === '') continue;
    const values = multiple.get(name);
    if (values) {
      values.push(value);
      continue;
    }
    if (single.has(name)) {
      throw new OAuthError(
        'request.repeated_parameter',
        `the parameter ${JSON.stringify(name.slice(0, 64))} appears more than once`,
      );
    }
    single.set(name, value);
  }
  return {
    get: (name) => single.get(name),
    has: (name) => single.has(name) || (multiple.get(name)?.length ?? 0) > 0,
    getAll: (name) => multiple.get(name) ?? [],
  };
}

/** Parses a JSON body (registration). */
export function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(decodeUtf8(body));
  } catch (error) {
    if (error instanceof OAuthError) throw error;
    throw new OAuthError('request.malformed_body', 'the request body is not valid JSON');
  }
}
