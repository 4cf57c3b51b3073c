import { NO_STORE_HEADERS, OAuthError } from '@smart-backend/protocol';
import { Router } from 'express';
import type { Config } from '../config.js';
import { requireAdmin } from '../http/admin-auth.js';
import {
  checkFormContentType,
  checkJsonContentType,
  parseFormParameters,
  parseJsonBody,
  readBodyWithinLimit,
} from '../http/body.js';
import { methodNotAllowed } from '../http/errors.js';
import { introspectToken, type IntrospectionContext } from '../introspection.js';
import type { Logger } from '../logger.js';
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

  router.post('/register', admin, async (req, res) => {
    checkJsonContentType(req.headers['content-type']);
    const body = parseJsonBody(await readBodyWithinLimit(req));
    const client = await storeCall(() => registerClient(body, deps.clients, nowSeconds()));
    deps.logger.info(
      {
        event: 'register',
        client_id: client.clientId,
        scope: client.scope,
        key_source: client.jwksUri ? 'jwks_uri' : 'jwks',
        ...(client.jwksUri && { jwks_uri: client.jwksUri }),
      },
      'client registered',
    );
    res.status(201).set(NO_STORE_HEADERS).json(registrationResponse(client));
  });
  router.all('/register', methodNotAllowed('POST'));

  router.get('/clients/:id', admin, async (req, res) => {
    const client = await storeCall(() => deps.clients.get(String(req.params.id)));
    if (!client) throw new OAuthError('client.not_found', 'no client with this id');
    res.status(200).set(NO_STORE_HEADERS).json(registrationResponse(client));
  });

  router.delete('/clients/:id', admin, async (req, res) => {
    const client = await storeCall(() => deps.clients.disable(String(req.params.id), nowSeconds()));
    if (!client) throw new OAuthError('client.not_found', 'no client with this id');
    deps.logger.info(
      { event: 'disable', client_id: client.clientId, disabled_at: client.disabledAt },
      'client disabled',
    );
    res.status(200).set(NO_STORE_HEADERS).json(registrationResponse(client));
  });
  router.all('/clients/:id', methodNotAllowed('GET', 'DELETE'));

  router.post('/introspect', admin, async (req, res) => {
    checkFormContentType(req.headers['content-type']);
    const form = parseFormParameters(await readBodyWithinLimit(req));
    const token = form.get('token');
    if (token === undefined)
      throw new OAuthError('introspection.token_missing', 'the token parameter is required');
    const answer = await introspectToken(token, deps);
    res.status(200).set(NO_STORE_HEADERS).json(answer);
  });
  router.all('/introspect', methodNotAllowed('POST'));

  return router;
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
