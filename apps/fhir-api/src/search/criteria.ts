import type { SearchCriterion } from '@smart-backend/protocol';

/** Criteria that must all match (FHIR search: parameters are combined with AND). */
export type Criteria = readonly SearchCriterion[];

/**
 * What a token's scope query constraints allow for one resource type and interaction: the resource
 * must satisfy every criterion of at least one set (SMART v2 constraints, DESIGN.md "Scopes").
 * `null` = unrestricted; an empty list = nothing is allowed.
 */
export type AccessFilter = readonly Criteria[] | null;

/** A FHIR resource as JSON: an object with a `resourceType`. */
export type FhirResource = Record<string, unknown> & { resourceType: string };
