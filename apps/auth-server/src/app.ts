import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express } from 'express';
import type { Config } from './config.js';
import { errorMiddleware, notFound } from './http/errors.js';
import type { Logger } from './logger.js';
import { adminRoutes } from './routes/admin.js';
import { discoveryRoutes } from './routes/discovery.js';
import { healthRoutes, type ReadinessCheck } from './routes/health.js';
import { tokenEndpoint } from './routes/token.js';
import type { SigningKeyRing } from './signing/signing-keys.js';
import type { ClientStore, ReplayCache } from './store/interfaces.js';
import {
  ClientKeyResolver,
  DEFAULT_CLIENT_KEY_OPTIONS,
  type ClientKeyResolverOptions,
} from './token/client-keys.js';

export interface AppDeps {
  readonly clients: ClientStore;
  readonly replay: ReplayCache;
  /** Opened with `SigningKeyRing.open(keyStore, …)`; the caller closes it. */
  readonly signingKeys: SigningKeyRing;
  readonly logger: Logger;
  /** Epoch milliseconds; tests move time. */
  readonly now?: () => number;
  /** Remote JWKS fetching limits (defaults in DEFAULT_CLIENT_KEY_OPTIONS). */
  readonly clientKeyOptions?: Partial<ClientKeyResolverOptions>;
  /** What GET /readyz checks (default: the client store and the replay cache answer). */
  readonly readiness?: readonly ReadinessCheck[];
}

/**
 * The authorization server as a node:http request listener. `POST /token` (the hot path) goes
 * straight to its handler; everything else — and any other spelling of /token, e.g. /TOKEN or
 * /token/ — through the Express application, which mounts the same token handler.
 */
export type AuthServerApp = ((req: IncomingMessage, res: ServerResponse) => void) & {
  /** The Express application behind every route but the exact /token path. */
  readonly express: Express;
};

/**
 * Builds the authorization server from a parsed configuration and its stores. No globals: every
 * app has its own caches, so tests can run several side by side.
 */
export function createApp(config: Config, deps: AppDeps): AuthServerApp {
  const now = deps.now ?? Date.now;
  const clientKeys = new ClientKeyResolver(
    { ...DEFAULT_CLIENT_KEY_OPTIONS, ...deps.clientKeyOptions },
    now,
    deps.logger,
  );
  const token = tokenEndpoint(
    {
      issuer: config.publicUrl,
      tokenEndpoint: `${config.publicUrl}/token`,
      fhirBaseUrl: config.fhirBaseUrl,
      clockSkewSeconds: config.clockSkewSeconds,
      accessTokenTtlSeconds: config.accessTokenTtlSeconds,
      clients: deps.clients,
      replay: deps.replay,
      clientKeys,
      signingKeys: deps.signingKeys,
      now,
    },
    deps.logger,
  );

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Parameters come from bodies we parse ourselves; the query string is never interpreted.
  app.set('query parser', false);

  app.all('/token', (req, res) => token(req, res));
  app.use(discoveryRoutes(config, deps.signingKeys));
  app.use(
    adminRoutes(config, {
      clients: deps.clients,
      signingKeys: deps.signingKeys,
      issuer: config.publicUrl,
      logger: deps.logger,
      now,
    }),
  );
  app.use(
    healthRoutes(
      deps.readiness ?? [
        { name: 'clients', check: () => deps.clients.ping() },
        { name: 'replay', check: () => deps.replay.ping() },
      ],
      deps.logger,
    ),
  );

  app.use(notFound);
  app.use(errorMiddleware(deps.logger));

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '';
    if (url === '/token' || url.startsWith('/token?')) token(req, res);
    else app(req, res);
  };
  return Object.assign(listener, { express: app });
}
