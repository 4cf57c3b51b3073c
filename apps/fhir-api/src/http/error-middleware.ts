import { OAuthError, formatBearerChallenge } from '@smart-backend/protocol';
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { InsufficientScopeError } from '../auth/scope-enforcement.js';
import { FHIR_CONTENT_TYPE, operationOutcome } from './operation-outcome.js';

/**
 * The one place errors become responses: an `OperationOutcome` (application/fhir+json) whose
 * diagnostics start with the reason code, plus `WWW-Authenticate` for token problems (RFC 6750 §3).
 * Anything that is not an `OAuthError` is a bug: logged, answered 500 without details.
 */
export function errorMiddleware(realm: string, logger: Logger): ErrorRequestHandler {
  return (error: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const refusal = asRefusal(error);
    if (refusal.reason === 'server.error') {
      logger.error({ err: error }, 'unexpected error');
    }
    res.locals.reason = refusal.reason;
    const challenge = bearerChallenge(realm, refusal);
    if (challenge) res.set('WWW-Authenticate', challenge);
    if (refusal.status === 503) res.set('Retry-After', '5');
    res
      .status(refusal.status)
      .type(FHIR_CONTENT_TYPE)
      .send(JSON.stringify(operationOutcome(refusal.reason, refusal.description)));
  };
}

/** Errors thrown by Express itself or by body parsing carry an HTTP `status` and a `type`. */
function asRefusal(error: unknown): OAuthError {
  if (error instanceof OAuthError) return error;
  const status = (error as { status?: unknown } | null)?.status;
  const type = (error as { type?: unknown } | null)?.type;
  if (type === 'entity.too.large' || status === 413) {
    return new OAuthError('fhir.body_too_large', 'the request body is larger than the server accepts');
  }
  if (type === 'request.aborted' || type === 'request.size.invalid') {
    return new OAuthError('request.malformed_body', 'the request body was not received completely');
  }
  if (error instanceof URIError || (status === 400 && error instanceof Error)) {
    // The router could not percent-decode a path segment: no resource can live at such a URL.
    return new OAuthError('request.not_found', 'the URL path is not valid percent-encoded UTF-8');
  }
  return new OAuthError('server.error', 'an unexpected error occurred; it has been logged');
}

/**
 * RFC 6750 §3: `Bearer realm=…, error=…, error_description=…[, scope=…]` for token refusals. Header
 * values are ASCII and the descriptions of token refusals are written in ASCII, so the header
 * carries the same text as the OperationOutcome (the protocol's formatter guarantees the former).
 */
function bearerChallenge(realm: string, refusal: OAuthError): string | undefined {
  if (!refusal.reason.startsWith('token.') || refusal.status === 503) return undefined;
  return formatBearerChallenge({
    realm,
    error: refusal.error,
    errorDescription: `${refusal.reason}: ${refusal.description}`,
    ...(refusal instanceof InsufficientScopeError && { scope: refusal.neededScope }),
  });
}
