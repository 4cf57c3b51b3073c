import type { IncomingMessage, ServerResponse } from 'node:http';
import { NO_STORE_HEADERS, OAuthError } from '@smart-backend/protocol';
import { renderError, sendJson } from '../http/errors.js';
import type { Logger } from '../logger.js';
import { processTokenRequest, type TokenAudit, type TokenEndpointContext } from '../token/checks.js';

export type TokenEndpoint = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * POST /token as a plain node:http handler: the checks in token/checks.ts, one audit line per
 * decision, and the shared renderer for refusals. createApp dispatches /token to it before
 * Express's router (the hot path), and mounts it in Express too, so every route to it is the same.
 */
export function tokenEndpoint(ctx: TokenEndpointContext, logger: Logger): TokenEndpoint {
  return (req, res) => {
    const audit: TokenAudit = {};
    if (req.method !== 'POST') res.setHeader('Allow', 'POST');
    processTokenRequest(req, ctx, audit).then(
      (response) => {
        logger.info(
          {
            event: 'token',
            outcome: 'granted',
            client_id: audit.clientId,
            scope: audit.scope,
            jti_hash: audit.jtiHash,
            token_jti_hash: audit.accessTokenJtiHash,
          },
          'token granted',
        );
        sendJson(res, 200, response, NO_STORE_HEADERS);
      },
      (error: unknown) => {
        logger.info(
          {
            event: 'token',
            outcome: 'refused',
            reason: error instanceof OAuthError ? error.reason : 'server.error',
            ...(error instanceof OAuthError && { detail: error.description.slice(0, 512) }),
            client_id: audit.clientId,
            authenticated: audit.authenticated ?? false,
            jti_hash: audit.jtiHash,
          },
          'token refused',
        );
        renderError(req, res, error, logger);
      },
    );
  };
}
