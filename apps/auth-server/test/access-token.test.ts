import { describe, expect, it } from '@jest/globals';
import { newTokenId } from '../src/signing/access-token.js';

describe('access token ids (RFC 9068 §2.2: jti unique per token)', () => {
  it('are 144 random bits, base64url, and never repeat — also across refills of the random pool', () => {
    const ids = Array.from({ length: 2000 }, () => newTokenId());
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
