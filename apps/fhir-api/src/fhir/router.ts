import { OAuthError, isFhirId, isFhirResourceType } from '@smart-backend/protocol';
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { authenticate, refuseTokenInQuery } from '../auth/bearer.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import type { AppConfig } from '../config.js';
import type { SmartConfigurationSource } from '../discovery/smart-configuration-source.js';
import type { ResourceStore } from '../store/resource-store.js';
import { metadataDocument, smartConfigurationDocument } from './discovery.js';
import { readResource, vreadResource } from './read.js';
import { searchResources } from './search.js';
import { createResource, deleteResource, updateResource } from './write.js';

export interface FhirRouterDeps {
  readonly config: AppConfig;
  readonly store: ResourceStore;
  readonly verifier: TokenVerifier;
  readonly smartConfiguration: SmartConfigurationSource;
  readonly logger: Logger;
}

/**
 * Everything under `/fhir`, in the order a request is judged: a token in the URL is refused
 * everywhere; discovery needs no token; everything else needs a verified token first, then a
 * FHIR R4 resource type (404) and a valid id (400), then the scope letter for the interaction
 * (403, in each handler, before any body is read).
 */
export function fhirRouter(deps: FhirRouterDeps): Router {
  const router = Router({ strict: false });
  const context = { config: deps.config, store: deps.store };

  router.use(refuseTokenInQuery);

  router.route('/metadata').get(metadataDocument(deps)).all(methodNotAllowed('GET'));
  router
    .route('/.well-known/smart-configuration')
    .get(smartConfigurationDocument(deps))
    .all(methodNotAllowed('GET'));

  router.use(authenticate(deps.verifier));

  router.param('type', checkResourceType);
  router.param('id', checkResourceId);

  router.route('/').all(methodNotAllowed('', 'Batch/transaction and system-wide search are not supported.'));
  router
    .route('/:type/_search')
    .get(searchResources(context))
    .post(searchResources(context))
    .all(methodNotAllowed('GET, POST'));
  router
    .route('/:type')
    .get(searchResources(context))
    .post(createResource(context))
    .all(methodNotAllowed('GET, POST'));
  router
    .route('/:type/:id')
    .get(readResource(context))
    .put(updateResource(context))
    .delete(deleteResource(context))
    .all(methodNotAllowed('GET, PUT, DELETE', 'PATCH is not supported.'));
  router
    .route('/:type/:id/_history')
    .all(
      methodNotAllowed(
        '',
        'Instance history listings are not supported; vread [type]/[id]/_history/[vid] is.',
      ),
    );
  router.route('/:type/:id/_history/:vid').get(vreadResource(context)).all(methodNotAllowed('GET'));

  router.use((req: Request) => {
    throw new OAuthError(
      'request.not_found',
      `no FHIR endpoint at ${`${req.baseUrl}${req.path}`.slice(0, 200)}`,
    );
  });
  return router;
}

/** A type that is not in FHIR R4 is 404 (FHIR R4 http §3.1.0.0.1: unknown resource type). */
function checkResourceType(_req: Request, _res: Response, next: NextFunction, type: string): void {
  if (!isFhirResourceType(type)) {
    throw new OAuthError('fhir.unknown_resource_type', `${type.slice(0, 64)} is not a FHIR R4 resource type`);
  }
  next();
}

function checkResourceId(_req: Request, _res: Response, next: NextFunction, id: string): void {
  if (!isFhirId(id)) {
    throw new OAuthError(
      'fhir.invalid_id',
      `"${id.slice(0, 70)}" is not a FHIR id ([A-Za-z0-9-.]{1,64}, not only dots)`,
    );
  }
  next();
}

/** 405 with `Allow` (RFC 9110 §15.5.6: always present, empty when nothing is allowed). */
function methodNotAllowed(allow: string, note?: string) {
  return (req: Request, res: Response): void => {
    res.set('Allow', allow.includes('GET') ? `${allow}, HEAD` : allow);
    const use = allow ? `; use ${allow}` : '';
    throw new OAuthError(
      'fhir.method_not_allowed',
      `${req.method} is not supported on this URL${use}${note ? `. ${note}` : ''}`,
    );
  };
}
