import type { Request, Response } from 'express';
import { verifiedToken } from '../auth/bearer.js';
import { authorizeInteraction } from '../auth/scope-enforcement.js';
import { sendFhirJson } from '../http/fhir-response.js';
import { readSearchForm } from '../http/resource-body.js';
import { searchsetBundle } from './bundle.js';
import type { FhirRouteContext } from './context.js';
import { checkSearchQueryLength, parseSearchRequest, prefersLenientHandling } from './search-request.js';

/**
 * `GET [base]/[type]?…` and `POST [base]/[type]/_search` — search (scope letter s). Scope query
 * constraints are applied in the same query as the client's criteria, so entries, `total` and
 * paging only ever count what the client may see.
 */
export function searchResources({ store, config }: FhirRouteContext) {
  return async (req: Request<{ type: string }>, res: Response): Promise<void> => {
    const { type } = req.params;
    const access = authorizeInteraction(verifiedToken(res), type, 'search');
    const query = rawQuery(req);
    checkSearchQueryLength(query.length);
    const pairs = [...new URLSearchParams(query)];
    if (req.method === 'POST') {
      const form = await readSearchForm(req);
      checkSearchQueryLength(query.length + form.length);
      pairs.push(...new URLSearchParams(form));
    }
    const request = parseSearchRequest(type, pairs, prefersLenientHandling(req.get('prefer')));
    const result = await store.search(type, {
      criteria: request.criteria,
      access,
      count: request.count,
      offset: request.offset,
      total: request.total,
    });
    sendFhirJson(res, 200, searchsetBundle(config.fhirBaseUrl, type, request, result, new Date()));
  };
}

/** The query string as sent: searches read ordered name/value pairs (Express' `req.query` merges repeats). */
function rawQuery(req: Request): string {
  const start = req.originalUrl.indexOf('?');
  return start < 0 ? '' : req.originalUrl.slice(start + 1);
}
