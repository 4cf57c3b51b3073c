import type { IncomingMessage, ServerResponse } from 'node:http';
import { NO_STORE_HEADERS, OAuthError } from '@smart-backend/protocol';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../logger.js';
import { errorSummary } from '../signing/signing-keys.js';

/** Writes a JSON response with plain node:http calls (usable with or without Express). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

const refusals = new WeakMap<ServerResponse, OAuthError['reason']>();

/** The reason code a response was refused with, once `renderError` has answered it (for audit lines). */
export function refusalReason(res: ServerResponse): OAuthError['reason'] | undefined {
  return refusals.get(res);
}

/**
 * The one place errors become HTTP responses: status from the reason catalogue, the RFC 6749 §5.2
 * JSON body (`error`, `error_description` = "<reason>: <precise text>"), never cached.
 */
export function renderError(req: IncomingMessage, res: ServerResponse, err: unknown, logger: Logger): void {
  const error = toOAuthError(err);
  refusals.set(res, error.reason);
  if (error.status >= 500) {
    const cause = error.cause ?? (error === err ? undefined : err);
    logger.error(
      {
        event: 'error',
        reason: error.reason,
        method: req.method,
        path: (req.url ?? '').split('?')[0]?.slice(0, 128),
        err: errorSummary(cause ?? error),
      },
      'request failed',
    );
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { ...NO_STORE_HEADERS };
  if (error.reason === 'request.body_too_large') headers.Connection = 'close';
  if (error.reason === 'server.unavailable') headers['Retry-After'] = '5';
  sendJson(res, error.status, error.toJSON(), headers);
}

/** Express's error middleware: the same renderer. */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => renderError(req, res, err, logger);
}

/** Our own refusals pass through; anything else is a bug (500) unless Express marked it a client error. */
function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new OAuthError('request.malformed_body', 'the request could not be parsed', { cause: err });
  }
  return new OAuthError('server.error', 'an unexpected error occurred', { cause: err });
}

/** Unknown routes: 404 JSON. */
export const notFound: RequestHandler = (req) => {
  throw new OAuthError('request.not_found', `no endpoint ${req.method} ${req.path.slice(0, 128)}`);
};

/** A known path with a method it does not serve: 405 with Allow. */
export function methodNotAllowed(...allowed: string[]): RequestHandler {
  return (req, res) => {
    res.setHeader('Allow', allowed.join(', '));
    throw new OAuthError(
      'request.method_not_allowed',
      `${req.method} is not allowed here; use ${allowed.join(' or ')}`,
    );
  };
}
