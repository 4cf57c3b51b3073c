/**
 * Member names that mean something to JavaScript objects rather than to the protocol. `JSON.parse`
 * keeps `"__proto__"` as an ordinary own member, but code that copies members into `{}`
 * (`out[name] = value`) turns it into the prototype, and zod's object and record schemas drop it
 * silently; `constructor` and `prototype` are the other two names prototype-pollution gadgets walk.
 * No JOSE header, JWT claims set, JWK Set or registration request (RFC 7515, 7519, 7517, 7591)
 * has a use for them, so the places that read such documents refuse them at any depth: what is
 * checked is then exactly what is stored and used.
 */
export const PROTOTYPE_MEMBER_NAMES: readonly string[] = ['__proto__', 'constructor', 'prototype'];

export function isPrototypeMemberName(name: string): boolean {
  return PROTOTYPE_MEMBER_NAMES.includes(name);
}

/** Where a refused member name was found: the name and its path, e.g. `keys[0].__proto__`. */
export interface PrototypeMember {
  readonly name: string;
  readonly path: string;
}

interface Visit {
  readonly value: unknown;
  readonly parent: Visit | undefined;
  readonly key: string | number | undefined;
}

/**
 * The first member named `__proto__`, `constructor` or `prototype` anywhere in a parsed JSON value,
 * or undefined. Own members only, as `JSON.parse` creates them. Iterative, so a deeply nested
 * document cannot exhaust the stack; the path is built only for the member found (and bounded),
 * so hostile member names cost no more than the document itself.
 */
export function findPrototypeMember(value: unknown): PrototypeMember | undefined {
  const pending: Visit[] = [{ value, parent: undefined, key: undefined }];
  for (let visit = pending.pop(); visit !== undefined; visit = pending.pop()) {
    const current = visit.value;
    if (typeof current !== 'object' || current === null) continue;
    if (Array.isArray(current)) {
      current.forEach((item, index) => pending.push({ value: item, parent: visit, key: index }));
      continue;
    }
    for (const name of Object.keys(current)) {
      const member: Visit = { value: (current as Record<string, unknown>)[name], parent: visit, key: name };
      if (isPrototypeMemberName(name)) return { name, path: pathOf(member) };
      pending.push(member);
    }
  }
  return undefined;
}

const MAX_PATH_LENGTH = 200;

function pathOf(visit: Visit): string {
  let path = '';
  for (let at: Visit | undefined = visit; at?.key !== undefined; at = at.parent) {
    const step =
      typeof at.key === 'number' ? `[${at.key}]` : `${at.parent?.key === undefined ? '' : '.'}${at.key}`;
    path = step + path;
    if (path.length > MAX_PATH_LENGTH) return `...${path.slice(-MAX_PATH_LENGTH)}`;
  }
  return path;
}
