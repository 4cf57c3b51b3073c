/** The minimal FHIR R4 shapes the client reads. Resources are otherwise opaque JSON. */
export interface FhirResource {
  resourceType: string;
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string; [member: string]: unknown };
  [member: string]: unknown;
}

export interface BundleLink {
  relation: string;
  url: string;
}

export interface BundleEntry {
  fullUrl?: string;
  resource?: FhirResource;
  search?: { mode?: 'match' | 'include' | 'outcome'; score?: number };
  [member: string]: unknown;
}

export interface Bundle extends FhirResource {
  resourceType: 'Bundle';
  type?: string;
  total?: number;
  link?: BundleLink[];
  entry?: BundleEntry[];
}

/** Search parameters: repeated names are arrays (AND), comma-joined values are OR (FHIR search). */
export type SearchParams =
  URLSearchParams | Record<string, string | number | boolean | ReadonlyArray<string | number | boolean>>;

/** A resource type name: a capitalised identifier (never a path). */
export const RESOURCE_TYPE_PATTERN = /^[A-Z][A-Za-z]{0,63}$/;
