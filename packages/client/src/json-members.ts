/**
 * Member names that mean something to JavaScript rather than to JSON. A receiver that copies
 * members into `{}` (`out[name] = value`) turns a `__proto__` member into the object's prototype,
 * so what it then reads differs from what it checked or stored; `constructor` and `prototype` are
 * what code reaching for a class finds. No JOSE or OAuth document defines any of them.
 */
const PROTOTYPE_MEMBER_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The JSON path (`$.keys[0].__proto__`) of the first member named `__proto__`, `constructor` or
 * `prototype` at any depth of a parsed JSON value, or undefined. Iterative: a deeply nested
 * document cannot exhaust the stack.
 */
export function findPrototypeMember(value: unknown): string | undefined {
  const pending: Array<{ value: unknown; path: string }> = [{ value, path: '$' }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value: current, path } = next;
    if (typeof current !== 'object' || current === null) continue;
    if (Array.isArray(current)) {
      current.forEach((item, index) => pending.push({ value: item, path: `${path}[${index}]` }));
      continue;
    }
    for (const [name, member] of Object.entries(current)) {
      if (PROTOTYPE_MEMBER_NAMES.has(name)) return `${path}.${name}`;
      pending.push({ value: member, path: `${path}.${name}` });
    }
  }
  return undefined;
}
