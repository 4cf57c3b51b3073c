import type { FhirResourceType } from '../fhir-resource-types.js';

/**
 * The FHIR search parameters smart-backend understands, by resource type. The FHIR API searches
 * with them, and scope query constraints (`system/Observation.rs?category=…`) may use exactly
 * these — one list, so a constraint the auth server grants is always one the FHIR API can apply.
 */
export type SearchParameterType = 'token' | 'string' | 'date' | 'reference';

/** Parameters every resource type supports (FHIR R4 "Parameters for all resources"). */
export const COMMON_SEARCH_PARAMETERS = {
  _id: 'token',
  _lastUpdated: 'date',
} as const satisfies Record<string, SearchParameterType>;

export const SEARCH_PARAMETERS = {
  Patient: {
    name: 'string',
    family: 'string',
    given: 'string',
    gender: 'token',
    birthdate: 'date',
    identifier: 'token',
  },
  Observation: {
    subject: 'reference',
    patient: 'reference',
    category: 'token',
    code: 'token',
    date: 'date',
    status: 'token',
  },
  Condition: {
    subject: 'reference',
    patient: 'reference',
    code: 'token',
    category: 'token',
    'clinical-status': 'token',
    /** Alias of `clinical-status`: Condition has no `status` element in R4. */
    status: 'token',
  },
  Encounter: {
    subject: 'reference',
    patient: 'reference',
    type: 'token',
    /** Alias of `type`: Encounter has no `code` element in R4. */
    code: 'token',
    class: 'token',
    status: 'token',
    date: 'date',
  },
} as const satisfies Partial<Record<FhirResourceType, Record<string, SearchParameterType>>>;

/**
 * Parameters that shape a search result rather than filter it. Never allowed in scope constraints.
 * `_offset` is the FHIR API's paging cursor (it appears in `next`/`previous` links); `_total`
 * (none | estimate | accurate) and `_pretty` are FHIR R4 result parameters it accepts.
 */
export const RESULT_PARAMETERS = ['_count', '_format', '_offset', '_total', '_pretty'] as const;

/** The type of `name` for `resourceType` (`'*'` = only the common parameters), or undefined. */
export function searchParameterType(resourceType: string, name: string): SearchParameterType | undefined {
  if (Object.hasOwn(COMMON_SEARCH_PARAMETERS, name)) {
    return COMMON_SEARCH_PARAMETERS[name as keyof typeof COMMON_SEARCH_PARAMETERS];
  }
  if (!Object.hasOwn(SEARCH_PARAMETERS, resourceType)) return undefined;
  const table: Record<string, SearchParameterType> =
    SEARCH_PARAMETERS[resourceType as keyof typeof SEARCH_PARAMETERS];
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** Every search parameter name supported for `resourceType`. */
export function searchParameterNames(resourceType: string): string[] {
  const specific = Object.hasOwn(SEARCH_PARAMETERS, resourceType)
    ? Object.keys(SEARCH_PARAMETERS[resourceType as keyof typeof SEARCH_PARAMETERS])
    : [];
  return [...Object.keys(COMMON_SEARCH_PARAMETERS), ...specific];
}
