import { describe, expect, it } from '@jest/globals';
import { findPrototypeMember, isPrototypeMemberName } from '../src/index.js';

// JSON texts, not object literals: `{ __proto__: x }` in source sets a prototype, not a member.
describe('findPrototypeMember', () => {
  it.each([
    ['{"__proto__":{}}', '__proto__', '__proto__'],
    ['{"constructor":1}', 'constructor', 'constructor'],
    ['{"prototype":null}', 'prototype', 'prototype'],
    ['{"a":{"b":[1,{"__proto__":{"x":1}}]}}', '__proto__', 'a.b[1].__proto__'],
    ['[[[{"constructor":{"prototype":{}}}]]]', 'constructor', '[0][0][0].constructor'],
    ['{"\\u005f_proto__":1}', '__proto__', '__proto__'],
    ['{"keys":[{"kty":"EC"},{"kty":"RSA","__proto__":{"d":"x"}}]}', '__proto__', 'keys[1].__proto__'],
  ])('finds it in %s', (text, name, path) => {
    expect(findPrototypeMember(JSON.parse(text))).toEqual({ name, path });
  });

  it.each([
    ['{}'],
    ['[]'],
    ['"__proto__"'],
    ['{"a":"__proto__","b":["constructor"]}'],
    ['{"Constructor":1,"__proto":2,"proto":3,"__PROTO__":4,"prototypes":5}'],
    ['null'],
    ['42'],
  ])('finds nothing in %s (values and other names are fine)', (text) => {
    expect(findPrototypeMember(JSON.parse(text))).toBeUndefined();
  });

  it('walks a document nested far deeper than the call stack allows, without recursion', () => {
    const depth = 200_000;
    const text = `${'['.repeat(depth)}{"__proto__":1}${']'.repeat(depth)}`;
    const found = findPrototypeMember(JSON.parse(text));
    expect(found?.name).toBe('__proto__');
    expect(found?.path.length).toBeLessThan(300);
  });

  it('names only the three', () => {
    expect(['__proto__', 'constructor', 'prototype'].every(isPrototypeMemberName)).toBe(true);
    expect(['toString', 'hasOwnProperty', 'valueOf', ''].some(isPrototypeMemberName)).toBe(false);
  });
});
