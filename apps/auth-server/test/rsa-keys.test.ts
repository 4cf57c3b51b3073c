import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ReasonCode } from '@smart-backend/protocol';
import request from 'supertest';
import {
  ADMIN_TOKEN,
  expectRefusal,
  makeAssertion,
  makeClientKey,
  postToken,
  register,
  startJwksHost,
  startTestServer,
  tokenForm,
  type ClientKey,
  type JwksHost,
  type TestServer,
} from './helpers.js';

/**
 * RSA public keys that cannot be real are refused wherever a client JWKS is validated — registered
 * by value, and fetched from a registered jwks_uri: an even modulus or one with another small
 * factor (RFC 8017 §3.1: n is the product of two large primes), an exponent that is even or below
 * 65537 (FIPS 186-4 Appendix B.3.1), a modulus under 2048 bits. Each is derived from a real key.
 */
let server: TestServer;
let host: JwksHost;
let rsa: ClientKey;
let hostPath = 0;

beforeAll(async () => {
  [server, host, rsa] = await Promise.all([startTestServer(), startJwksHost(), makeClientKey('RS384')]);
}, 60_000);
afterAll(async () => {
  await Promise.all([server.close(), host.close()]);
});

const toInteger = (text: string) => BigInt(`0x${Buffer.from(text, 'base64url').toString('hex')}`);
const toBase64url = (value: bigint) => {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex').toString('base64url');
};
/** The largest number ≤ n that is ≡ residue (mod modulus). */
const below = (n: bigint, residue: bigint, modulus: bigint) =>
  n - ((((n - residue) % modulus) + modulus) % modulus);

const CASES: Array<[title: string, reason: ReasonCode, change: (n: bigint) => { n?: bigint; e?: bigint }]> = [
  ['an even modulus (n - 1)', 'jwks.rsa_modulus_invalid', (n) => ({ n: n - 1n })],
  ['a modulus divisible by 3', 'jwks.rsa_modulus_invalid', (n) => ({ n: below(n, 3n, 6n) })],
  ['a modulus divisible by 991', 'jwks.rsa_modulus_invalid', (n) => ({ n: below(n, 991n, 1982n) })],
  ['a 2047-bit modulus', 'jwks.rsa_too_small', (n) => ({ n: (n >> 1n) | 1n })],
  ['e = 3', 'jwks.rsa_exponent_invalid', () => ({ e: 3n })],
  ['e = 65535', 'jwks.rsa_exponent_invalid', () => ({ e: 65535n })],
  ['e = 65536 (even)', 'jwks.rsa_exponent_invalid', () => ({ e: 65536n })],
  ['e = 65538 (even)', 'jwks.rsa_exponent_invalid', () => ({ e: 65538n })],
  ['e = 1', 'jwks.rsa_exponent_invalid', () => ({ e: 1n })],
];

function impossibleKey(change: (n: bigint) => { n?: bigint; e?: bigint }) {
  const original = toInteger(rsa.publicJwk.n as string);
  const { n = original, e } = change(original);
  return {
    ...rsa.publicJwk,
    n: toBase64url(n),
    ...(e !== undefined && { e: toBase64url(e) }),
  };
}

describe('impossible RSA keys', () => {
  it.each(CASES)('registered by value, %s: 400 %s, nothing registered', async (_title, reason, change) => {
    const res = await request(server.app)
      .post('/register')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ jwks: { keys: [impossibleKey(change)] }, scope: 'system/Patient.rs' });
    expectRefusal(res, reason);
    expect(res.body.client_id).toBeUndefined();
  });

  it.each(CASES)(
    'served at a jwks_uri, %s: the JWKS is refused (client.jwks_invalid, %s)',
    async (_title, reason, change) => {
      const path = `/rsa${++hostPath}/jwks.json`;
      host.serveJwks(path, { keys: [impossibleKey(change)] });
      const id = await register(server.app, { jwks_uri: `${host.base}${path}`, scope: 'system/Patient.rs' });
      const res = await postToken(server.app, tokenForm(await makeAssertion(id, rsa)));
      expectRefusal(res, 'client.jwks_invalid');
      expect(res.body.error_description).toContain(reason);
    },
  );

  it('the real key itself is accepted both ways (the cases differ from it only as described)', async () => {
    const byValue = await register(server.app, {
      jwks: { keys: [impossibleKey(() => ({}))] },
      scope: 'system/Patient.rs',
    });
    expect((await postToken(server.app, tokenForm(await makeAssertion(byValue, rsa)))).status).toBe(200);
    const path = `/rsa${++hostPath}/jwks.json`;
    host.serveJwks(path, { keys: [impossibleKey(() => ({}))] });
    const remote = await register(server.app, {
      jwks_uri: `${host.base}${path}`,
      scope: 'system/Patient.rs',
    });
    expect((await postToken(server.app, tokenForm(await makeAssertion(remote, rsa)))).status).toBe(200);
  });
});
