import { beforeAll, describe, expect, it } from '@jest/globals';
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';
import {
  MAX_ASSERTION_LIFETIME_SECONDS,
  parseClientAssertionClaims,
  parseClientAssertionHeader,
} from '@smart-backend/protocol';
import {
  InvalidInputError,
  createClientAssertion,
  decodeClientAssertion,
  generateClientKeys,
  type GeneratedClientKeys,
} from '../src/index.js';

const TOKEN_URL = 'https://auth.example.test/token';
const NOW_MS = Date.UTC(2030, 0, 1, 12, 0, 0);
const NOW_S = NOW_MS / 1000;

describe('createClientAssertion', () => {
  let rsa: GeneratedClientKeys;
  let ec: GeneratedClientKeys;

  beforeAll(async () => {
    [rsa, ec] = await Promise.all([
      generateClientKeys({ alg: 'RS384' }),
      generateClientKeys({ alg: 'ES384' }),
    ]);
  }, 60_000);

  it.each(['RS384', 'ES384'] as const)(
    '%s: signs header {alg, kid, typ JWT} and claims iss=sub=client, aud=token URL, iat, exp, jti (CLM-01..05, HDR-01..04)',
    async (alg) => {
      const keys = alg === 'RS384' ? rsa : ec;
      const assertion = await createClientAssertion({
        clientId: 'client-1',
        tokenUrl: TOKEN_URL,
        key: keys.privateKeyPem,
      });
      const publicKey = await importSPKI(keys.publicKeyPem, alg);
      const { payload, protectedHeader } = await jwtVerify(assertion, publicKey, {
        algorithms: [alg],
        issuer: 'client-1',
        subject: 'client-1',
        audience: TOKEN_URL,
        typ: 'JWT',
      });
      expect(protectedHeader).toEqual({ alg, kid: keys.kid, typ: 'JWT' });
      expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'sub']);
      expect(payload.aud).toBe(TOKEN_URL);
      expect(Number.isInteger(payload.exp)).toBe(true);
      expect(payload.exp! - payload.iat!).toBe(MAX_ASSERTION_LIFETIME_SECONDS);
      // The shapes the auth server's own parsers accept.
      expect(parseClientAssertionHeader(protectedHeader).ok).toBe(true);
      expect(parseClientAssertionClaims(payload).ok).toBe(true);
    },
  );

  it('puts at least 128 random bits, base64url, in a jti that is new every time (CLM-05, TREQ-03)', async () => {
    const jtis = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const { claims } = decodeClientAssertion(
        await createClientAssertion({ clientId: 'c', tokenUrl: TOKEN_URL, key: ec.signingKey }),
      );
      expect(claims.jti).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(Buffer.from(claims.jti!, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
      jtis.add(claims.jti!);
    }
    expect(jtis.size).toBe(50);
  });

  it('uses the injected clock for iat and exp', async () => {
    const assertion = await createClientAssertion({
      clientId: 'c',
      tokenUrl: TOKEN_URL,
      key: ec.signingKey,
      lifetime: 60,
      clock: () => NOW_MS + 999,
    });
    const { claims } = decodeClientAssertion(assertion);
    expect(claims.iat).toBe(NOW_S);
    expect(claims.exp).toBe(NOW_S + 60);
  });

  it('never makes exp more than 300 s ahead: a longer lifetime is an error (CLM-04)', async () => {
    for (const lifetime of [301, 3600, 0, -5, 1.5, Number.NaN]) {
      await expect(
        createClientAssertion({ clientId: 'c', tokenUrl: TOKEN_URL, key: ec.signingKey, lifetime }),
      ).rejects.toBeInstanceOf(InvalidInputError);
    }
    await expect(
      createClientAssertion({ clientId: 'c', tokenUrl: TOKEN_URL, key: ec.signingKey, lifetime: 301 }),
    ).rejects.toThrow(/1 to 300 seconds/);
  });

  it('adds jku only when asked, verbatim (HDR-05)', async () => {
    const without = await createClientAssertion({ clientId: 'c', tokenUrl: TOKEN_URL, key: ec.signingKey });
    expect(decodeProtectedHeader(without)).not.toHaveProperty('jku');
    const jku = 'https://client.example.test/.well-known/jwks.json';
    const withJku = await createClientAssertion({
      clientId: 'c',
      tokenUrl: TOKEN_URL,
      key: ec.signingKey,
      jku,
    });
    expect(decodeProtectedHeader(withJku).jku).toBe(jku);
  });

  it('puts the token URL in aud exactly as given (ATK-12: only the server it is posted to)', async () => {
    const tokenUrl = 'http://localhost:4000/token';
    const { claims } = decodeClientAssertion(
      await createClientAssertion({ clientId: 'c', tokenUrl, key: ec.signingKey }),
    );
    expect(claims.aud).toBe(tokenUrl);
  });

  it('uses an explicit kid in the header', async () => {
    const assertion = await createClientAssertion({
      clientId: 'c',
      tokenUrl: TOKEN_URL,
      key: ec.privateKeyPem,
      kid: 'k-2',
    });
    expect(decodeProtectedHeader(assertion).kid).toBe('k-2');
  });

  it('refuses a non-http(s) token URL, a bad jku, an empty client id', async () => {
    const base = { clientId: 'c', tokenUrl: TOKEN_URL, key: ec.signingKey };
    await expect(
      createClientAssertion({ ...base, tokenUrl: 'ftp://auth.example.test/token' }),
    ).rejects.toThrow(/must be an http or https URL/);
    await expect(createClientAssertion({ ...base, tokenUrl: '/token' })).rejects.toThrow(
      /not an absolute URL/,
    );
    await expect(createClientAssertion({ ...base, jku: 'file:///etc/passwd' })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(createClientAssertion({ ...base, clientId: '' })).rejects.toThrow(/client id/);
  });

  it('refuses a key that does not fit the requested alg', async () => {
    await expect(
      createClientAssertion({ clientId: 'c', tokenUrl: TOKEN_URL, key: rsa.privateKeyPem, alg: 'ES384' }),
    ).rejects.toThrow(/ES384 needs an EC P-384 key/);
  });
});
