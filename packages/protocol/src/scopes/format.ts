import {
  PERMISSION_LETTERS,
  V1_ACTIONS,
  type PermissionLetter,
  type ResourceScope,
  type V1Action,
} from './model.js';

/** The v1 action that means exactly these letters, if there is one. */
export function v1ActionFor(permissions: readonly PermissionLetter[]): V1Action | undefined {
  const letters = permissions.join('');
  return (Object.keys(V1_ACTIONS) as V1Action[]).find((action) => V1_ACTIONS[action] === letters);
}

/**
 * Writes a scope back in the syntax it was requested in. A v1 scope whose permissions v1 cannot
 * express (after narrowing, e.g. only `r`) or that carries constraints is written in v2.
 */
export function formatScope(scope: ResourceScope): string {
  const letters = canonicalLetters(scope.permissions);
  const v1 = scope.syntax === 'v1' && scope.constraints.length === 0 ? v1ActionFor(letters) : undefined;
  const query = scope.constraints.length
    ? '?' + scope.constraints.map((c) => `${c.name}=${c.value}`).join('&')
    : '';
  return `${scope.context}/${scope.resourceType}.${v1 ?? letters.join('')}${query}`;
}

export function formatScopes(scopes: readonly ResourceScope[]): string {
  return scopes.map(formatScope).join(' ');
}

export function canonicalLetters(permissions: Iterable<PermissionLetter>): PermissionLetter[] {
  const set = new Set(permissions);
  return PERMISSION_LETTERS.filter((letter) => set.has(letter));
}
