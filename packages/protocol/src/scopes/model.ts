import type { FhirResourceType } from '../fhir-resource-types.js';

/**
 * The normalized permission model behind every SMART scope string. SMART v1 (`.read`, `.write`,
 * `.*`) and v2 (`.cruds` letters with optional `?param=value` constraints) both land here; v1
 * maps `read` → `rs`, `write` → `cud`, `*` → `cruds` (SMART "Scopes and Launch Context").
 */
export const SCOPE_CONTEXTS = ['system', 'patient', 'user'] as const;
export type ScopeContext = (typeof SCOPE_CONTEXTS)[number];

/** In the order SMART v2 requires them to be written. */
export const PERMISSION_LETTERS = ['c', 'r', 'u', 'd', 's'] as const;
export type PermissionLetter = (typeof PERMISSION_LETTERS)[number];

export const V1_ACTIONS = { read: 'rs', write: 'cud', '*': 'cruds' } as const;
export type V1Action = keyof typeof V1_ACTIONS;

export type ScopeSyntax = 'v1' | 'v2';

/** One `name=value` pair of a scope's query constraint, kept exactly as written. */
export interface ScopeConstraint {
  readonly name: string;
  readonly value: string;
}

export interface ResourceScope {
  readonly context: ScopeContext;
  readonly resourceType: FhirResourceType | '*';
  /** Distinct letters in canonical `cruds` order. */
  readonly permissions: readonly PermissionLetter[];
  /** All must match (AND); empty = unconstrained. */
  readonly constraints: readonly ScopeConstraint[];
  /** The syntax the scope was written in, so that it is answered in kind. */
  readonly syntax: ScopeSyntax;
}

/** FHIR interactions and the permission letter each needs (SMART v2 "Scopes for requesting FHIR Resources"). */
export const INTERACTION_PERMISSION = {
  read: 'r',
  vread: 'r',
  history: 'r',
  'history-instance': 'r',
  'history-type': 's',
  search: 's',
  create: 'c',
  update: 'u',
  patch: 'u',
  delete: 'd',
} as const satisfies Record<string, PermissionLetter>;

export type FhirInteraction = keyof typeof INTERACTION_PERMISSION;
