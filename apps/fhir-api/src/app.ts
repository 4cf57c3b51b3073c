import { OAuthError } from '@smart-backend/protocol';
import express, { type Express, type Request } from 'express';
import { pino, type Logger } from 'pino';
import type { TokenVerifier } from './auth/token-verifier.js';
import type { AppConfig } from './config.js';
import {
  remoteSmartConfiguration,
  type SmartConfigurationSource,
} from './discovery/smart-configuration-source.js';
import { fhirRouter } from './fhir/router.js';
import { errorMiddleware } from './http/error-middleware.js';
import { requestLog } from './http/request-log.js';
import type { ResourceStore } from './store/resource-store.js';

export interface AppDeps {
  readonly store: ResourceStore;
  /** Verifies bearer tokens; see `createJwksTokenVerifier`. */
  readonly verifier: TokenVerifier;
  /** The auth server's discovery document; default: fetched from `{authUrl}/.well-known/smart-configuration`. */
  readonly smartConfiguration?: SmartConfigurationSource;
  /** Default: silent. */
  readonly logger?: Logger;
}

/**
 * The FHIR API as an Express app (STYLE.md "App factory"): everything it needs comes in through
 * `config` and `deps`, so tests and benchmarks build it in-process and `main.ts` only wires it up.
 */
export function createApp(config: AppConfig, deps: AppDeps): Express {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const smartConfiguration = deps.smartConfiguration ?? remoteSmartConfiguration({ authUrl: config.authUrl });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false); // search reads the raw query string, in order, itself

  app.use(requestLog(logger));
  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  app.use(
    '/fhir',
    fhirRouter({ config, store: deps.store, verifier: deps.verifier, smartConfiguration, logger }),
  );
  app.use((req: Request) => {
    throw new OAuthError(
      'request.not_found',
      `nothing at ${req.path.slice(0, 200)}; the FHIR API is under /fhir`,
    );
  });
  app.use(errorMiddleware(config.fhirBaseUrl, logger));
  return app;
}
