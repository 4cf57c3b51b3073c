import type { AccessFilter, Criteria, FhirResource } from '../search/criteria.js';

/**
 * Where FHIR resources live. Async so that other backends (PostgreSQL, …) can sit behind it; the
 * embedded default is SQLite (`sqlite-resource-store.ts`).
 *
 * Every method takes the caller's `AccessFilter` (from its token's scope constraints) and applies
 * it with the same search implementation that serves client searches: a resource outside the
 * filter is never returned, counted, overwritten or deleted.
 */
export interface ResourceStore {
  read(type: string, id: string, access: AccessFilter): Promise<ReadOutcome>;
  /** `versionId` as in `meta.versionId`: 1, 2, … */
  vread(type: string, id: string, versionId: number, access: AccessFilter): Promise<ReadOutcome>;
  /** Assigns a new random id, version 1. The new content must satisfy `access`. */
  create(type: string, resource: FhirResource, access: AccessFilter): Promise<WriteOutcome>;
  /**
   * A new version of `type/id` (or version 1 when there is none: update-as-create). Both the current
   * content and the new content must satisfy `access`.
   */
  update(type: string, id: string, resource: FhirResource, options: WriteOptions): Promise<WriteOutcome>;
  delete(type: string, id: string, options: WriteOptions): Promise<DeleteOutcome>;
  search(type: string, query: SearchQuery): Promise<SearchResult>;
  /** Stores resources under their own ids unless a resource with that id exists (idempotent seeding). */
  createIfAbsent(resources: readonly FhirResource[]): Promise<{ created: number; existing: number }>;
  close(): Promise<void>;
}

/** One version of a resource as stored: `json` is the resource with `id` and `meta` set. */
export interface StoredResource {
  readonly type: string;
  readonly id: string;
  readonly versionId: number;
  /** `meta.lastUpdated`, an ISO 8601 instant. */
  readonly lastUpdated: string;
  readonly json: string;
}

export type ReadOutcome =
  | { readonly kind: 'found'; readonly resource: StoredResource }
  | { readonly kind: 'deleted'; readonly versionId: number; readonly lastUpdated: string }
  | { readonly kind: 'not_found' }
  /** The resource exists but is outside the caller's access filter. */
  | { readonly kind: 'forbidden' };

export type WriteOutcome =
  | { readonly kind: 'created' | 'updated'; readonly resource: StoredResource }
  /** `current`: the stored content (the last version, if deleted) is outside the access filter. */
  | { readonly kind: 'forbidden'; readonly which: 'current' | 'new' }
  | { readonly kind: 'version_conflict'; readonly currentVersionId: number | undefined };

export type DeleteOutcome =
  | { readonly kind: 'deleted'; readonly versionId: number }
  /** Nothing to delete: the resource never existed or is already deleted (FHIR delete is idempotent). */
  | { readonly kind: 'absent' }
  | { readonly kind: 'forbidden' }
  | { readonly kind: 'version_conflict'; readonly currentVersionId: number | undefined };

export interface WriteOptions {
  readonly access: AccessFilter;
  /** If-Match: the version the client expects to replace; undefined = unconditional. */
  readonly ifMatch?: number | undefined;
}

export interface SearchQuery {
  readonly criteria: Criteria;
  readonly access: AccessFilter;
  readonly count: number;
  readonly offset: number;
  /** false: skip counting (`_total=none`). */
  readonly total: boolean;
}

export interface SearchResult {
  /** Matches the caller may see, across all pages; undefined when not asked for. */
  readonly total: number | undefined;
  readonly resources: readonly StoredResource[];
}
