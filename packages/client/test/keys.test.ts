import { generateKeyPair as generateNodeKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { checkPublicJwks } from '@smart-backend/protocol';
import {
  InvalidInputError,
  KeyError,
  generateClientKeys,
  loadPrivateKey,
  publicJwksFor,
  type GeneratedClientKeys,
} from '../src/index.js';

const generateNode = promisify(generateNodeKeyPair);
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

describe('generateClientKeys', () => {
  let rsa: GeneratedClientKeys;
  let ec: GeneratedClientKeys;

  beforeAll(async () => {
    [rsa, ec] = await Promise.all([
      generateClientKeys({ alg: 'RS384' }),
      generateClientKeys({ alg: 'ES384' }),
    ]);
  }, 60_000);

  it('makes an RSA key for RS384 and a P-384 key for ES384', () => {
    expect(rsa.jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS384', e: 'AQAB' });
    expect(ec.jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-384', alg: 'ES384' });
    expect(rsa.privateKeyPem).toMatch(/^-{5}BEGIN PRIVATE KEY-{5}\n/);
    expect(rsa.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(ec.privateKeyPem).toMatch(/^-{5}BEGIN PRIVATE KEY-{5}\n/);
  });

  it.each(['RS384', 'ES384'] as const)(
    '%s: the JWKS has public members only, kid, alg, use sig, key_ops verify (REG-09)',
    (alg) => {
      const keys = alg === 'RS384' ? rsa : ec;
      const [jwk] = keys.jwks.keys;
      expect(keys.jwks.keys).toHaveLength(1);
      const expectedMembers =
        alg === 'RS384'
          ? ['alg', 'e', 'key_ops', 'kid', 'kty', 'n', 'use']
          : ['alg', 'crv', 'key_ops', 'kid', 'kty', 'use', 'x', 'y'];
      expect(Object.keys(jwk ?? {}).sort()).toEqual(expectedMembers);
      for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member);
      expect(jwk).toMatchObject({ use: 'sig', key_ops: ['verify'], alg });
    },
  );

  it.each(['RS384', 'ES384'] as const)(
    '%s: kid is the RFC 7638 SHA-256 thumbprint of the public key',
    async (alg) => {
      const keys = alg === 'RS384' ? rsa : ec;
      const jwk = keys.jwks.keys[0]!;
      const bare =
        jwk.kty === 'RSA'
          ? { kty: jwk.kty, n: jwk.n, e: jwk.e }
          : { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
      expect(jwk.kid).toBe(await calculateJwkThumbprint(bare, 'sha256'));
      expect(keys.kid).toBe(jwk.kid);
      expect(keys.signingKey.kid).toBe(jwk.kid);
    },
  );

  it('produces JWK Sets the protocol (and so the auth server) accepts', () => {
    expect(checkPublicJwks(rsa.jwks)).toBeUndefined();
    expect(checkPublicJwks(ec.jwks)).toBeUndefined();
  });

  it('produces different keys every time', async () => {
    const again = await generateClientKeys({ alg: 'ES384' });
    expect(again.kid).not.toBe(ec.kid);
  });

  it('the signing key cannot be exported (non-extractable)', () => {
    expect(ec.signingKey.privateKey.extractable).toBe(false);
    expect(JSON.stringify(ec.signingKey)).not.toContain('"d"');
  });

  it('refuses algorithms it cannot generate for', async () => {
    await expect(generateClientKeys({ alg: 'HS256' as never })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(generateClientKeys({ alg: 'RS384', modulusLength: 1024 })).rejects.toThrow(/modulus length/);
  });

  it('can make a 3072-bit RSA key', async () => {
    const big = await generateClientKeys({ alg: 'RS384', modulusLength: 3072 });
    const n = Buffer.from(big.jwks.keys[0]!.n!, 'base64url');
    expect(n.length * 8).toBe(3072);
  }, 60_000);
});

describe('loadPrivateKey', () => {
  let rsa: GeneratedClientKeys;
  let ec: GeneratedClientKeys;

  beforeAll(async () => {
    [rsa, ec] = await Promise.all([
      generateClientKeys({ alg: 'RS384' }),
      generateClientKeys({ alg: 'ES384' }),
    ]);
  }, 60_000);

  it('derives the algorithm from a PKCS#8 PEM: RSA → RS384, P-384 → ES384', async () => {
    expect((await loadPrivateKey(rsa.privateKeyPem)).alg).toBe('RS384');
    expect((await loadPrivateKey(ec.privateKeyPem)).alg).toBe('ES384');
  });

  it('derives the same public JWKS and kid from the PEM as generation did', async () => {
    expect(await publicJwksFor(rsa.privateKeyPem)).toEqual(rsa.jwks);
    expect(await publicJwksFor(ec.privateKeyPem)).toEqual(ec.jwks);
  });

  it('loads a private JWK, keeping its own kid and alg', async () => {
    const pair = await generateKeyPair('ES384', { extractable: true });
    const jwk = { ...(await exportJWK(pair.privateKey)), kid: 'my-key-1', alg: 'ES384' };
    const key = await loadPrivateKey(jwk);
    expect(key.kid).toBe('my-key-1');
    expect(key.alg).toBe('ES384');
    expect(key.publicJwk).not.toHaveProperty('d');
    // JSON text works too
    expect((await loadPrivateKey(JSON.stringify(jwk))).kid).toBe('my-key-1');
  });

  it('lets an explicit kid override the thumbprint', async () => {
    const key = await loadPrivateKey(ec.privateKeyPem, { kid: 'custom' });
    expect(key.kid).toBe('custom');
    expect(key.publicJwk.kid).toBe('custom');
  });

  it('derives ES256 for a P-256 key and accepts RS256/PS384 when asked for an RSA key', async () => {
    const p256 = await generateKeyPair('ES256', { extractable: true });
    expect((await loadPrivateKey(await exportPKCS8(p256.privateKey))).alg).toBe('ES256');
    expect((await loadPrivateKey(rsa.privateKeyPem, { alg: 'PS384' })).alg).toBe('PS384');
    expect((await loadPrivateKey(rsa.privateKeyPem, { alg: 'RS256' })).alg).toBe('RS256');
  });

  // ATK-03 from the client side: a key that does not fit the algorithm is refused with the reason.
  it.each([
    [
      'an RSA key for ES384',
      () => rsa.privateKeyPem,
      'ES384',
      /ES384 needs an EC P-384 key, but this is an RSA 2048-bit key/,
    ],
    [
      'a P-384 key for RS384',
      () => ec.privateKeyPem,
      'RS384',
      /RS384 needs an RSA key, but this is an EC P-384 key/,
    ],
    ['a P-384 key for ES256', () => ec.privateKeyPem, 'ES256', /ES256 needs an EC P-256 key/],
    ['an HMAC algorithm', () => ec.privateKeyPem, 'HS256', /not supported/],
    ['alg none', () => ec.privateKeyPem, 'none', /not supported/],
  ])('refuses %s', async (_name, pem, alg, message) => {
    const error = await loadPrivateKey(pem(), { alg }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses a JWK whose own alg contradicts the requested one', async () => {
    const pair = await generateKeyPair('ES384', { extractable: true });
    const jwk = { ...(await exportJWK(pair.privateKey)), alg: 'ES384' };
    await expect(loadPrivateKey(jwk, { alg: 'RS384' })).rejects.toThrow(/bound to alg ES384/);
  });

  it('refuses RSA keys under 2048 bits (RFC 7518 §3.3)', async () => {
    const { privateKey } = await generateNode('rsa', {
      modulusLength: 1024,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    await expect(loadPrivateKey(privateKey)).rejects.toThrow(/1024 bits; 2048 to 8192 bits are required/);
  }, 30_000);

  it('refuses PKCS#1 and SEC1 PEM with a conversion hint (PKCS#8 is required)', async () => {
    const rsaPkcs1 = await generateNode('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const ecSec1 = await generateNode('ec', {
      namedCurve: 'P-384',
      privateKeyEncoding: { type: 'sec1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    await expect(loadPrivateKey(rsaPkcs1.privateKey)).rejects.toThrow(
      /PKCS#1 RSA key; PKCS#8 is required.*openssl pkcs8 -topk8/,
    );
    await expect(loadPrivateKey(ecSec1.privateKey)).rejects.toThrow(/SEC1 EC key; PKCS#8 is required/);
  }, 30_000);

  it('refuses encrypted keys, public keys, certificates and garbage', async () => {
    const encrypted = await generateNode('ec', {
      namedCurve: 'P-384',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    await expect(loadPrivateKey(encrypted.privateKey)).rejects.toThrow(/encrypted/);
    await expect(loadPrivateKey(ec.publicKeyPem)).rejects.toThrow(
      /is a public key; signing needs the private key/,
    );
    await expect(
      loadPrivateKey('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'),
    ).rejects.toThrow(/certificate/);
    await expect(loadPrivateKey('hello')).rejects.toThrow(/neither PEM .* nor a JSON Web Key/);
    await expect(
      loadPrivateKey(
        `${'-'.repeat(5)}BEGIN PRIVATE KEY${'-'.repeat(5)}\nAAAA\n${'-'.repeat(5)}END PRIVATE KEY${'-'.repeat(5)}\n`,
      ),
    ).rejects.toThrow(/not a valid PKCS#8 private key/);
    await expect(loadPrivateKey('{"kty":')).rejects.toThrow(/JSON parse failed/);
  });

  it('refuses public, symmetric and unsupported JWKs', async () => {
    await expect(loadPrivateKey(ec.jwks.keys[0] as never)).rejects.toThrow(/public key \(no "d"\)/);
    await expect(loadPrivateKey({ kty: 'oct', k: 'c2VjcmV0' })).rejects.toThrow(/symmetric/);
    const ed = await generateKeyPair('Ed25519', { extractable: true });
    await expect(loadPrivateKey(await exportJWK(ed.privateKey))).rejects.toThrow(
      /kty "OKP"; only RSA and EC/,
    );
    const p521 = await generateKeyPair('ES512', { extractable: true });
    await expect(loadPrivateKey(await exportJWK(p521.privateKey))).rejects.toThrow(/secp521r1|P-521/);
  });

  it('never puts private material in error messages', async () => {
    const pair = await generateKeyPair('ES384', { extractable: true });
    const jwk = await exportJWK(pair.privateKey);
    const error = (await loadPrivateKey(jwk, { alg: 'RS384' }).catch((e: unknown) => e)) as Error;
    expect(error.message).not.toContain(jwk.d);
  });
});
