import { NO_STORE_HEADERS, OAuthError } from '@smart-backend/protocol';
import { Router, type RequestHandler, type Response } from 'express';
import type { Config } from '../config.js';
import { requireAdmin } from '../http/admin-auth.js';
import {
  checkFormContentType,
  checkJsonContentType,
  parseFormParameters,
  parseJsonBody,
  readBodyWithinLimit,
} from '../http/body.js';
import { methodNotAllowed, refusalReason } from '../http/errors.js';
import { introspectToken, type IntrospectionContext } from '../introspection.js';
import { truncateForLog, type Logger } from '../logger.js';
import { registerClient, registrationResponse } from '../registration.js';
import type { ClientStore } from '../store/interfaces.js';

export interface AdminRouteDeps extends IntrospectionContext {
  readonly clients: ClientStore;
  readonly logger: Logger;
}

/**
 * Administration (Bearer ADMIN_TOKEN): POST /register, GET and DELETE /clients/:id, and
 * POST /introspect (RFC 7662). Authentication comes before any body is read.
 */
export function adminRoutes(config: Pick<Config, 'adminToken'>, deps: AdminRouteDeps): Router {
  const router = Router();
  const admin = requireAdmin(config.adminToken);
  const nowSeconds = () => Math.floor(deps.now() / 1000);
  const audit = (event: AdminEvent) => auditAdminDecision(event, deps.logger);

  router.post('/register', audit('register'), admin, async (req, res) => {
    checkJsonContentType(req.headers['content-type']);
    const body = parseJsonBody(await readBodyWithinLimit(req));
    const client = await storeCall(() => registerClient(body, deps.clients, nowSeconds()));
    auditDetails(res, {
      client_id: client.clientId,
      scope: client.scope,
      key_source: client.jwksUri ? 'jwks_uri' : 'jwks',
      ...(client.jwksUri && { jwks_uri: client.jwksUri }),
    });
    res.status(201).set(NO_STORE_HEADERS).json(registrationResponse(client));
  });
  router.all('/register', audit('register'), methodNotAllowed('POST'));

  router.get('/clients/:id', audit('read_client'), admin, async (req, res) => {
    auditDetails(res, { client_id: truncateForLog(String(req.params.id)) });
    const client = await storeCall(() => deps.clients.get(String(req.params.id)));
    if (!client) throw new OAuthError('client.not_found', 'no client with this id');
    res.status(200).set(NO_STORE_HEADERS).json(registrationResponse(client));
  });

  router.delete('/clients/:id', audit('disable'), admin, async (req, res) => {
    auditDetails(res, { client_id: truncateForLog(String(req.params.id)) });
    const client = await storeCall(() => deps.clients.disable(String(req.params.id), nowSeconds()));
    if (!client) throw new OAuthError('client.not_found', 'no client with this id');
    auditDetails(res, { disabled_at: client.disabledAt });
    res.status(200).set(NO_STORE_HEADERS).json(registrationResponse(client));
  });
  router.all('/clients/:id', audit('client'), methodNotAllowed('GET', 'DELETE'));

  router.post('/introspect', audit('introspect'), admin, async (req, res) => {
    checkFormContentType(req.headers['content-type']);
    const form = parseFormParameters(await readBodyWithinLimit(req));
    const token = form.get('token');
    if (token === undefined)
      throw new OAuthError('introspection.token_missing', 'the token parameter is required');
    const answer = await introspectToken(token, deps);
    auditDetails(res, answer.active ? { active: true, client_id: answer.client_id } : { active: false });
    res.status(200).set(NO_STORE_HEADERS).json(answer);
  });
  router.all('/introspect', audit('introspect'), methodNotAllowed('POST'));

  return router;
}

type AdminEvent = 'register' | 'read_client' | 'disable' | 'client' | 'introspect';

/**
 * DESIGN.md "Every decision is audit-logged": one line per administrative request once it has been
 * answered — `outcome` ok or refused, the HTTP status, the reason code of a refusal (a wrong admin
 * token included), and what the handler recorded. Never a token, a key or the admin secret.
 */
function auditAdminDecision(event: AdminEvent, logger: Logger): RequestHandler {
  return (_req, res, next) => {
    res.on('finish', () => {
      const reason = refusalReason(res);
      logger.info(
        {
          event,
          outcome: reason === undefined ? 'ok' : 'refused',
          status: res.statusCode,
          ...(reason !== undefined && { reason }),
          ...(res.locals.audit as Record<string, unknown> | undefined),
        },
        `admin ${event}`,
      );
    });
    next();
  };
}

function auditDetails(res: Response, details: Record<string, unknown>): void {
  res.locals.audit = { ...(res.locals.audit as Record<string, unknown> | undefined), ...details };
}

/** Store failures on admin endpoints are 503 too (never a half-done registration reported as done). */
async function storeCall<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof OAuthError) throw error;
    throw new OAuthError('server.unavailable', 'the client store is unavailable', { cause: error });
  }
}
