import { OAuthError } from '@smart-backend/protocol';
import type { Request, Response } from 'express';
import { verifiedToken } from '../auth/bearer.js';
import { authorizeInteraction, constraintNotMet } from '../auth/scope-enforcement.js';
import { sendResource, versionEtag } from '../http/fhir-response.js';
import type { ReadOutcome } from '../store/resource-store.js';
import type { FhirRouteContext } from './context.js';

/** `GET [base]/[type]/[id]` — read (scope letter r). */
export function readResource({ store, config }: FhirRouteContext) {
  return async (req: Request<{ type: string; id: string }>, res: Response): Promise<void> => {
    const { type, id } = req.params;
    const access = authorizeInteraction(verifiedToken(res), type, 'read');
    const outcome = await store.read(type, id, access);
    answerRead(req, res, outcome, `${type}/${id}`, type, config.fhirBaseUrl);
  };
}

/** `GET [base]/[type]/[id]/_history/[vid]` — vread (scope letter r); judged on that version's content. */
export function vreadResource({ store, config }: FhirRouteContext) {
  return async (req: Request<{ type: string; id: string; vid: string }>, res: Response): Promise<void> => {
    const { type, id, vid } = req.params;
    const access = authorizeInteraction(verifiedToken(res), type, 'vread');
    if (!/^[1-9]\d{0,8}$/.test(vid)) {
      throw new OAuthError('fhir.not_found', `${type}/${id} has no version ${vid.slice(0, 16)}`);
    }
    const outcome = await store.vread(type, id, Number(vid), access);
    answerRead(req, res, outcome, `${type}/${id}/_history/${vid}`, type, config.fhirBaseUrl);
  };
}

function answerRead(
  req: Request,
  res: Response,
  outcome: ReadOutcome,
  what: string,
  type: string,
  fhirBaseUrl: string,
): void {
  switch (outcome.kind) {
    case 'found':
      sendResource(req, res, 200, outcome.resource, { fhirBaseUrl });
      return;
    case 'deleted':
      res.set('ETag', versionEtag(outcome.versionId));
      throw new OAuthError('fhir.gone', `${what} was deleted`);
    case 'not_found':
      throw new OAuthError('fhir.not_found', `${what} does not exist`);
    case 'forbidden':
      // Decision (README): a resource outside the scope's constraints is refused with 403, as
      // every other interaction on it is, rather than disguised as 404.
      throw constraintNotMet(type, 'read', what);
  }
}
