import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decodeBase64url } from '../src/index.js';

// ATK-19: only canonical base64url (RFC 4648 §5, no padding) decodes; everything else is refused.
describe('decodeBase64url', () => {
  it('decodes what Node encodes as base64url, for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const decoded = decodeBase64url(Buffer.from(bytes).toString('base64url'));
        expect(decoded).toEqual(new Uint8Array(bytes));
      }),
    );
  });

  it('decodes the empty string to no bytes', () => {
    expect(decodeBase64url('')).toEqual(new Uint8Array());
  });

  it.each([
    ['padding', 'YQ=='],
    ['the standard alphabet +', 'a+b_'],
    ['the standard alphabet /', 'a/b_'],
    ['whitespace', 'YW Jj'],
    ['a length of 4n+1', 'YWJjZ'],
    ['a non-ASCII letter', 'YWJé'],
    ['an astral character', 'YW\u{1F600}'],
    ['a NUL', 'YW\u0000j'],
  ])('refuses %s', (_what, text) => {
    expect(decodeBase64url(text)).toBeUndefined();
  });

  it('refuses non-canonical trailing bits (YR and YW both "mean" a)', () => {
    expect(decodeBase64url('YQ')).toEqual(new Uint8Array([0x61]));
    expect(decodeBase64url('YR')).toBeUndefined();
    expect(decodeBase64url('YWI')).toEqual(new Uint8Array([0x61, 0x62]));
    expect(decodeBase64url('YWJ')).toBeUndefined();
  });

  it('refuses any string with a character outside the base64url alphabet', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    fc.assert(
      fc.property(
        fc
          .string({ unit: 'binary', minLength: 1, maxLength: 40 })
          .filter((s) => [...s].some((c) => !alphabet.includes(c))),
        (text) => {
          expect(decodeBase64url(text)).toBeUndefined();
        },
      ),
    );
  });
});
