import type { FhirResource } from '../search/criteria.js';

/**
 * Rewrites every `reference` that names a resource on this server by its absolute URL
 * (`{FHIR base}/Patient/123`) to the relative form (`Patient/123`), as FHIR R4 §2.3.0.1 lets a
 * server do. Only relative references are treated as local by search and scope constraints; an
 * absolute URL of another server stays as sent and never matches a local resource.
 */
export function localizeReferences<T extends FhirResource>(resource: T, fhirBaseUrl: string): T {
  const prefix = `${fhirBaseUrl}/`;
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(visit);
    if (typeof value !== 'object' || value === null) return value;
    // Object.fromEntries defines own members: a member named `__proto__` stays a member.
    return Object.fromEntries(
      Object.entries(value).map(([key, member]) => [
        key,
        key === 'reference' && typeof member === 'string' && member.startsWith(prefix)
          ? member.slice(prefix.length)
          : visit(member),
      ]),
    );
  };
  return visit(resource) as T;
}
