import { randomUUID } from 'node:crypto';
import type { SearchResult } from '../store/resource-store.js';
import type { SearchRequest } from './search-request.js';

/**
 * A `searchset` Bundle (FHIR R4 http §3.1.0.9, search §3.1.1.6): `total` counts every match the
 * caller may see; `self`, `next` and `previous` links carry the query with `_count` and `_offset`.
 * Resources are spliced in as the JSON text the store holds (it was produced by JSON.stringify).
 */
export function searchsetBundle(
  fhirBaseUrl: string,
  resourceType: string,
  request: SearchRequest,
  result: SearchResult,
  now: Date,
): string {
  const pageUrl = (offset: number) => searchUrl(fhirBaseUrl, resourceType, request, offset);
  const links = [{ relation: 'self', url: pageUrl(request.offset) }];
  // `_count=0` asks for the total only: there is no next page to point at (it would be this one).
  const more =
    request.count > 0 &&
    (result.total !== undefined
      ? request.offset + request.count < result.total
      : result.resources.length === request.count);
  if (more) links.push({ relation: 'next', url: pageUrl(request.offset + request.count) });
  if (request.offset > 0) {
    links.push({ relation: 'previous', url: pageUrl(Math.max(0, request.offset - request.count)) });
  }
  const head = {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: now.toISOString() },
    type: 'searchset',
    ...(result.total !== undefined ? { total: result.total } : {}),
    link: links,
  };
  const entries = result.resources.map(
    (r) =>
      `{"fullUrl":${JSON.stringify(`${fhirBaseUrl}/${r.type}/${r.id}`)},"resource":${r.json},"search":{"mode":"match"}}`,
  );
  // FHIR JSON never has empty arrays: a page without matches has no `entry`.
  if (entries.length === 0) return JSON.stringify(head);
  return `${JSON.stringify(head).slice(0, -1)},"entry":[${entries.join(',')}]}`;
}

function searchUrl(
  fhirBaseUrl: string,
  resourceType: string,
  request: SearchRequest,
  offset: number,
): string {
  const parameters: Array<readonly [string, string]> = [
    ...request.linkParameters,
    ['_count', String(request.count)],
    ...(offset > 0 ? [['_offset', String(offset)] as const] : []),
  ];
  const query = parameters
    .map(([name, value]) => `${encodeComponent(name)}=${encodeComponent(value)}`)
    .join('&');
  return `${fhirBaseUrl}/${resourceType}?${query}`;
}

/** Percent-encodes like encodeURIComponent but keeps `:` `/` `,` readable (all legal in a query, RFC 3986 §3.4). */
function encodeComponent(text: string): string {
  return encodeURIComponent(text).replace(/%3A/gi, ':').replace(/%2F/gi, '/').replace(/%2C/gi, ',');
}
