import {
  INTERACTION_PERMISSION,
  type FhirInteraction,
  type ResourceScope,
  type ScopeConstraint,
} from './model.js';

export interface AuthorizationRequest {
  readonly resourceType: string;
  readonly interaction: FhirInteraction;
}

export type AuthorizationDecision =
  | {
      readonly allowed: true;
      /**
       * null: unrestricted. Otherwise the resource must satisfy at least one of these constraint
       * sets, and every constraint within the set it satisfies (SMART v2 query constraints).
       */
      readonly constraints: readonly (readonly ScopeConstraint[])[] | null;
    }
  | {
      readonly allowed: false;
      readonly reason: 'token.insufficient_scope';
      /** The narrowest scope that would have allowed the interaction, for the error message. */
      readonly needed: string;
    };

/**
 * Decides whether granted scopes allow one FHIR interaction (SMART v2 letters: read/vread/history → r,
 * search → s, create → c, update → u, delete → d). Only `system/` scopes authorize: `patient/` and
 * `user/` scopes would need a patient or user context that a backend token does not carry.
 */
export function authorize(
  granted: readonly ResourceScope[],
  request: AuthorizationRequest,
): AuthorizationDecision {
  const letter = INTERACTION_PERMISSION[request.interaction];
  const matching = granted.filter(
    (scope) =>
      scope.context === 'system' &&
      (scope.resourceType === '*' || scope.resourceType === request.resourceType) &&
      scope.permissions.includes(letter),
  );
  if (matching.length === 0) {
    return {
      allowed: false,
      reason: 'token.insufficient_scope',
      needed: `system/${request.resourceType}.${letter}`,
    };
  }
  if (matching.some((scope) => scope.constraints.length === 0)) return { allowed: true, constraints: null };
  return { allowed: true, constraints: matching.map((scope) => scope.constraints) };
}
