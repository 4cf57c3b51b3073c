import { describe, expect, it } from '@jest/globals';
import { typMatches, typMediaType } from '../src/index.js';

describe('typ as a media type (RFC 7515 §4.1.9)', () => {
  it.each([
    ['JWT', 'jwt'],
    ['jwt', 'jwt'],
    ['Jwt', 'jwt'],
    ['application/jwt', 'jwt'],
    ['application/JWT', 'jwt'],
    ['APPLICATION/JWT', 'jwt'],
    ['at+jwt', 'at+jwt'],
    ['AT+JWT', 'at+jwt'],
    ['application/at+jwt', 'at+jwt'],
    ['Application/At+Jwt', 'at+jwt'],
  ] as const)('%s names %s', (typ, expected) => {
    expect(typMatches(typ, expected)).toBe(true);
  });

  it.each([
    // Another media type, or the other kind of token (RFC 8725 §3.11: explicit typing).
    ['at+jwt', 'jwt'],
    ['application/at+jwt', 'jwt'],
    ['JWT', 'at+jwt'],
    ['application/jwt', 'at+jwt'],
    ['jose', 'jwt'],
    ['JOSE+JSON', 'jwt'],
    ['text/jwt', 'jwt'],
    ['application/jwt+json', 'jwt'],
    ['secevent+jwt', 'jwt'],
    // Not a bare media type: parameters, whitespace, empty parts, extra slashes, controls.
    ['JWT; x=y', 'jwt'],
    ['application/jwt;charset=utf-8', 'jwt'],
    ['at+jwt; x=y', 'at+jwt'],
    [' JWT', 'jwt'],
    ['JWT ', 'jwt'],
    ['J WT', 'jwt'],
    ['', 'jwt'],
    ['/jwt', 'jwt'],
    ['application/', 'jwt'],
    ['application//jwt', 'jwt'],
    ['application/jwt/x', 'jwt'],
    ['JWT\n', 'jwt'],
    ['JWT\u0000', 'jwt'],
    ['ＪＷＴ', 'jwt'],
    ['JWŦ', 'jwt'],
  ] as const)('%j does not name %s', (typ, expected) => {
    expect(typMatches(typ, expected)).toBe(false);
  });

  it('only strings are media types', () => {
    for (const value of [undefined, null, 1, ['JWT'], { typ: 'JWT' }]) {
      expect(typMatches(value, 'jwt')).toBe(false);
    }
  });

  it('typMediaType prepends application/ to a bare subtype and lower-cases', () => {
    expect(typMediaType('JWT')).toBe('application/jwt');
    expect(typMediaType('Application/At+JWT')).toBe('application/at+jwt');
    expect(typMediaType('JWT; x=y')).toBeUndefined();
  });
});
