import type { ReasonCode } from '../reasons.js';
import { canonicalLetters, formatScope } from './format.js';
import type { ResourceScope, ScopeConstraint } from './model.js';
import { parseScopeList } from './parse.js';

export interface DroppedScope {
  /** The requested scope, as sent. */
  readonly scope: string;
  readonly reason: ReasonCode;
  readonly message: string;
  /**
   * True when the scope itself is not valid SMART syntax (unknown type, bad letters, bad
   * constraint…), as opposed to a valid scope this client may not have.
   */
  readonly malformed: boolean;
}

export interface ScopeGrant {
  /** What may be granted: never more than registered. */
  readonly granted: ResourceScope[];
  /** `granted`, formatted in the syntax of the request (the token response `scope`). */
  readonly scope: string;
  /** Every requested scope that yielded nothing, and why. */
  readonly dropped: DroppedScope[];
}

const WELL_FORMED_BUT_UNAVAILABLE: ReadonlySet<ReasonCode> = new Set([
  'scope.not_for_backend',
  'scope.context_not_allowed',
  'scope.not_registered',
]);

/**
 * Mediates a scope request against what the client is registered for (SMART Backend Services
 * "Evaluate Requested Access"): the grant is the intersection, so it is never more than registered.
 * A wildcard registration covers specific requests; a wildcard request is narrowed to what is
 * registered. Only `system/` scopes can be granted to a backend service.
 *
 * Throws `OAuthError` (`scope.missing`, `scope.too_long`, `scope.too_many`) when the requested
 * string as a whole is unusable. Registered scopes are trusted to be valid (registration checks them).
 */
export function grantScopes(requested: string | undefined, registered: string): ScopeGrant {
  const request = parseScopeList(requested);
  const registration = parseScopeList(registered).scopes.filter((s) => s.context === 'system');

  const dropped: DroppedScope[] = request.rejected.map((r) => ({
    scope: r.text,
    reason: r.reason,
    message: r.message,
    malformed: !WELL_FORMED_BUT_UNAVAILABLE.has(r.reason),
  }));
  const granted: ResourceScope[] = [];
  const seen = new Set<string>();

  for (const wanted of request.scopes) {
    const text = formatScope(wanted);
    if (wanted.context !== 'system') {
      dropped.push({
        scope: text,
        reason: 'scope.context_not_allowed',
        message: `"${text}": ${wanted.context}/ scopes need a launch context; backend services use system/ scopes`,
        malformed: false,
      });
      continue;
    }
    const grants = pruneSubsumed(mergeByTarget(registration.flatMap((reg) => intersect(wanted, reg) ?? [])));
    if (grants.length === 0) {
      dropped.push({
        scope: text,
        reason: 'scope.not_registered',
        message: `"${text}" is not covered by the client's registered scopes`,
        malformed: false,
      });
      continue;
    }
    for (const grant of grants) {
      const key = formatScope(grant);
      if (!seen.has(key)) {
        seen.add(key);
        granted.push(grant);
      }
    }
  }
  return { granted, scope: granted.map(formatScope).join(' '), dropped };
}

/** The part of `wanted` that `registered` allows, or undefined if none. */
function intersect(wanted: ResourceScope, registered: ResourceScope): ResourceScope | undefined {
  let resourceType: ResourceScope['resourceType'];
  if (registered.resourceType === '*') resourceType = wanted.resourceType;
  else if (wanted.resourceType === '*' || wanted.resourceType === registered.resourceType) {
    resourceType = registered.resourceType;
  } else return undefined;

  const permissions = wanted.permissions.filter((p) => registered.permissions.includes(p));
  if (permissions.length === 0) return undefined;

  // Constraints only ever narrow: the grant carries both the requested and the registered ones.
  const constraints = uniqueConstraints([...wanted.constraints, ...registered.constraints]);
  return { context: 'system', resourceType, permissions, constraints, syntax: wanted.syntax };
}

/** Grants for the same type and constraints become one scope with the union of letters. */
function mergeByTarget(grants: ResourceScope[]): ResourceScope[] {
  const byTarget = new Map<string, ResourceScope>();
  for (const grant of grants) {
    const key = `${grant.resourceType}?${constraintKey(grant.constraints)}`;
    const existing = byTarget.get(key);
    byTarget.set(
      key,
      existing
        ? { ...existing, permissions: canonicalLetters([...existing.permissions, ...grant.permissions]) }
        : grant,
    );
  }
  return [...byTarget.values()];
}

/** Drops a grant when another one already allows everything it allows. */
function pruneSubsumed(grants: ResourceScope[]): ResourceScope[] {
  return grants.filter(
    (g, i) => !grants.some((other, j) => j !== i && subsumes(other, g) && (!subsumes(g, other) || j < i)),
  );
}

function subsumes(broad: ResourceScope, narrow: ResourceScope): boolean {
  return (
    (broad.resourceType === '*' || broad.resourceType === narrow.resourceType) &&
    narrow.permissions.every((p) => broad.permissions.includes(p)) &&
    broad.constraints.every((c) => narrow.constraints.some((n) => n.name === c.name && n.value === c.value))
  );
}

function uniqueConstraints(constraints: ScopeConstraint[]): ScopeConstraint[] {
  const seen = new Set<string>();
  return constraints.filter((c) => {
    const key = `${c.name}=${c.value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function constraintKey(constraints: readonly ScopeConstraint[]): string {
  return constraints
    .map((c) => `${c.name}=${c.value}`)
    .sort()
    .join('&');
}
