import {
  INTERACTION_PERMISSION,
  OAuthError,
  authorize,
  parseSearchCriterion,
  type FhirInteraction,
  type ReasonCode,
  type SearchCriterion,
} from '@smart-backend/protocol';
import type { AccessFilter } from '../search/criteria.js';
import type { VerifiedToken } from './token-verifier.js';

/**
 * A 403 that names the scope that would have allowed the interaction, for the RFC 6750 §3
 * `scope` attribute of `WWW-Authenticate`.
 */
export class InsufficientScopeError extends OAuthError {
  constructor(
    reason: Extract<ReasonCode, 'token.insufficient_scope' | 'token.constraint_not_met'>,
    description: string,
    readonly neededScope: string,
  ) {
    super(reason, description);
  }
}

/**
 * DESIGN.md "Scopes": each interaction needs its letter (read/vread → r, search → s, create → c,
 * update → u, delete → d). Returns the access filter the scope's query constraints impose (null =
 * unrestricted), which the store applies to every resource it reads, counts or writes.
 */
export function authorizeInteraction(
  token: VerifiedToken,
  resourceType: string,
  interaction: FhirInteraction,
): AccessFilter {
  const decision = authorize(token.scopes, { resourceType, interaction });
  if (!decision.allowed) {
    throw new InsufficientScopeError(
      'token.insufficient_scope',
      `${interaction} of ${resourceType} needs ${decision.needed} (or a broader scope)`,
      decision.needed,
    );
  }
  if (decision.constraints === null) return null;
  // A constraint that cannot be applied to this type can never be satisfied: its set grants nothing.
  return decision.constraints.flatMap((set) => {
    const criteria: SearchCriterion[] = [];
    for (const { name, value } of set) {
      const parsed = parseSearchCriterion(resourceType, name, value);
      if (!parsed.ok) return [];
      criteria.push(parsed.criterion);
    }
    return [criteria];
  });
}

/** The refusal for a resource outside the constraints of the granted scopes (SCP-06, RS-05). */
export function constraintNotMet(
  resourceType: string,
  interaction: FhirInteraction,
  what: string,
): OAuthError {
  return new InsufficientScopeError(
    'token.constraint_not_met',
    `${what} is outside the query constraints of the granted ${resourceType} scopes`,
    `system/${resourceType}.${INTERACTION_PERMISSION[interaction]}`,
  );
}
