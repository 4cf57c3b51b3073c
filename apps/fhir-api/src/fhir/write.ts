import { OAuthError } from '@smart-backend/protocol';
import type { Request, Response } from 'express';
import { verifiedToken } from '../auth/bearer.js';
import { authorizeInteraction, constraintNotMet } from '../auth/scope-enforcement.js';
import { ifMatchVersion, sendResource, versionEtag } from '../http/fhir-response.js';
import { readResourceBody } from '../http/resource-body.js';
import type { WriteOutcome } from '../store/resource-store.js';
import type { FhirRouteContext } from './context.js';
import { localizeReferences } from './local-references.js';

/**
 * `POST [base]/[type]` — create (scope letter c). The server assigns the id (any id in the body is
 * ignored, FHIR R4 http §3.1.0.8); the new content must satisfy the scope's constraints.
 * Authorization is decided before the body is read.
 */
export function createResource({ store, config }: FhirRouteContext) {
  return async (req: Request<{ type: string }>, res: Response): Promise<void> => {
    const { type } = req.params;
    const access = authorizeInteraction(verifiedToken(res), type, 'create');
    const resource = localizeReferences(await readResourceBody(req, type), config.fhirBaseUrl);
    const outcome = await store.create(type, resource, access);
    answerWrite(req, res, outcome, type, `the new ${type}`, 'create', config.fhirBaseUrl);
  };
}

/**
 * `PUT [base]/[type]/[id]` — update (scope letter u): a new version. The body's id must equal the
 * URL's (FHIR R4 http §3.1.0.4). An id that does not exist yet is created with it
 * (update-as-create, allowed under `u` by SMART "Scopes"); 201 then, 200 otherwise. Both the
 * current and the new content must satisfy the scope's constraints. `If-Match` makes it
 * version-aware (412 on mismatch).
 */
export function updateResource({ store, config }: FhirRouteContext) {
  return async (req: Request<{ type: string; id: string }>, res: Response): Promise<void> => {
    const { type, id } = req.params;
    const access = authorizeInteraction(verifiedToken(res), type, 'update');
    const ifMatch = ifMatchVersion(req);
    const resource = localizeReferences(await readResourceBody(req, type), config.fhirBaseUrl);
    if (resource.id !== id) {
      throw new OAuthError(
        'fhir.id_mismatch',
        resource.id === undefined
          ? `the body has no id; an update must carry id "${id}"`
          : `the body id "${String(resource.id).slice(0, 64)}" is not the URL id "${id}"`,
      );
    }
    const outcome = await store.update(type, id, resource, { access, ifMatch });
    answerWrite(req, res, outcome, type, `${type}/${id}`, 'update', config.fhirBaseUrl);
  };
}

/**
 * `DELETE [base]/[type]/[id]` — delete (scope letter d): 204, and later reads answer 410.
 * Deleting something that does not exist (or no longer does) is also 204 (FHIR R4 http §3.1.0.7).
 */
export function deleteResource({ store }: FhirRouteContext) {
  return async (req: Request<{ type: string; id: string }>, res: Response): Promise<void> => {
    const { type, id } = req.params;
    const access = authorizeInteraction(verifiedToken(res), type, 'delete');
    const outcome = await store.delete(type, id, { access, ifMatch: ifMatchVersion(req) });
    switch (outcome.kind) {
      case 'deleted':
        res.set('ETag', versionEtag(outcome.versionId)).status(204).end();
        return;
      case 'absent':
        res.status(204).end();
        return;
      case 'forbidden':
        throw constraintNotMet(type, 'delete', `${type}/${id}`);
      case 'version_conflict':
        throw versionConflict(`${type}/${id}`, outcome.currentVersionId);
    }
  };
}

function answerWrite(
  req: Request,
  res: Response,
  outcome: WriteOutcome,
  type: string,
  what: string,
  interaction: 'create' | 'update',
  fhirBaseUrl: string,
): void {
  switch (outcome.kind) {
    case 'created':
      sendResource(req, res, 201, outcome.resource, { fhirBaseUrl, location: true });
      return;
    case 'updated':
      sendResource(req, res, 200, outcome.resource, { fhirBaseUrl, location: true });
      return;
    case 'forbidden':
      throw constraintNotMet(
        type,
        interaction,
        outcome.which === 'new' ? `${what} (as sent)` : `${what} (as last stored)`,
      );
    case 'version_conflict':
      throw versionConflict(what, outcome.currentVersionId);
  }
}

function versionConflict(what: string, current: number | undefined): OAuthError {
  return new OAuthError(
    'fhir.version_conflict',
    current === undefined
      ? `${what} does not exist, so If-Match cannot match`
      : `${what} is at version ${current}`,
  );
}
