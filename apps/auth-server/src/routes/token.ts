import { NO_STORE_HEADERS, OAuthError } from '@smart-backend/protocol';
import type { RequestHandler } from 'express';
import type { Logger } from '../logger.js';
import { processTokenRequest, type TokenAudit, type TokenEndpointContext } from '../token/checks.js';

/** POST /token: the checks in token/checks.ts, then one audit line per decision. */
export function tokenRoute(ctx: TokenEndpointContext, logger: Logger): RequestHandler {
  return async (req, res) => {
    const audit: TokenAudit = {};
    if (req.method !== 'POST') res.setHeader('Allow', 'POST');
    try {
      const response = await processTokenRequest(req, ctx, audit);
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
      res.status(200).set(NO_STORE_HEADERS).json(response);
    } catch (error) {
      const reason = error instanceof OAuthError ? error.reason : 'server.error';
      logger.info(
        {
          event: 'token',
          outcome: 'refused',
          reason,
          ...(error instanceof OAuthError && { detail: error.description.slice(0, 512) }),
          client_id: audit.clientId,
          authenticated: audit.authenticated ?? false,
          jti_hash: audit.jtiHash,
        },
        'token refused',
      );
      throw error;
    }
  };
}
