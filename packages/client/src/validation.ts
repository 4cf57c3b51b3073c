/** The part of a zod error this package reads (protocol's schemas produce it; no direct zod import). */
export interface SchemaError {
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>;
}

/**
 * Names what is wrong with a server's JSON in one phrase: `missing access_token`, or
 * `expires_in: Invalid input: expected number, received string`.
 */
export function describeSchemaProblem(error: SchemaError, value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
  }
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const member = issue.path[0];
  if (typeof member === 'string' && (value as Record<string, unknown>)[member] === undefined) {
    const missing = error.issues
      .filter((i) => i.path.length === 1 && typeof i.path[0] === 'string')
      .map((i) => i.path[0] as string)
      .filter((name) => (value as Record<string, unknown>)[name] === undefined);
    return `missing ${[...new Set(missing)].join(', ')}`;
  }
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}
