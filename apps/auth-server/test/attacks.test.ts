import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MAX_ASSERTION_LENGTH, type ReasonCode } from '@smart-backend/protocol';
import { SignJWT, exportSPKI, importJWK, type CryptoKey } from 'jose';
import request from 'supertest';
import {
  ADMIN_TOKEN,
  FHIR_BASE,
  PUBLIC_URL,
  TOKEN_URL,
  TestClock,
  expectRefusal,
  jwksOf,
  makeAssertion as makeAssertionAt,
  makeClientKey,
  postToken,
  rawRequest,
  register,
  signRaw,
  startJwksHost,
  startTestServer,
  tokenForm,
  type AssertionOptions,
  type ClientKey,
  type JwksHost,
  type TestServer,
} from './helpers.js';

/**
 * Reference §3: every attack on a token endpoint that verifies client assertions (ATK-01 … ATK-22,
 * ATK-24, ATK-26; ATK-23 is TLS termination, ATK-25 a documented decision). Each is refused with
 * HTTP 400 (413 for bodies), no token, and the precise reason code.
 */

let server: TestServer;
let host: JwksHost;
let rsa: ClientKey; // RS384, alg in JWK
let ec: ClientKey; // ES384, alg in JWK
let p256: ClientKey; // ES256, registered with alg ES256 (opt-in)
let rsaNoAlg: ClientKey; // RSA without alg: RS384 only
let rsa256: ClientKey; // RSA registered with alg RS256 (opt-in)
let attacker: ClientKey;
let otherKey: ClientKey;
let clientId: string;
let otherClientId: string;
let remoteClientId: string;

const b64 = (data: string | Uint8Array) => Buffer.from(data).toString('base64url');
/**
 * The server's clock is frozen for this file and every lifetime claim (exp, nbf, iat) is computed
 * from it, even in tables built when the file loads: the boundary cases hold exactly, however long
 * the file takes to run on a loaded machine.
 */
const clock = TestClock.frozen();
const now = () => clock.seconds();
const makeAssertion = (id: string, key: ClientKey, options: AssertionOptions = {}) =>
  makeAssertionAt(id, key, { now: now(), ...options });

function claimsFor(id: string, extra: Record<string, unknown> = {}) {
  return { iss: id, sub: id, aud: TOKEN_URL, exp: now() + 300, jti: randomUUID(), ...extra };
}

const assertFor = (key: ClientKey, options?: AssertionOptions) => makeAssertion(clientId, key, options);
const send = (assertion: string, extra?: Record<string, string>) =>
  postToken(server.app, tokenForm(assertion, extra));

beforeAll(async () => {
  server = await startTestServer({ clock });
  host = await startJwksHost();
  [rsa, ec, p256, rsaNoAlg, rsa256, attacker, otherKey] = await Promise.all([
    makeClientKey('RS384'),
    makeClientKey('ES384'),
    makeClientKey('ES256'),
    makeClientKey('RS384', { withAlg: false }),
    makeClientKey('RS256'),
    makeClientKey('ES384'),
    makeClientKey('ES384'),
  ]);
  clientId = await register(server.app, {
    jwks: jwksOf(rsa, ec, p256, rsaNoAlg, rsa256),
    scope: 'system/Patient.rs system/Observation.rs',
  });
  otherClientId = await register(server.app, { jwks: jwksOf(otherKey), scope: 'system/Patient.rs' });
  host.serveJwks('/jwks.json', jwksOf(ec));
  remoteClientId = await register(server.app, { jwks_uri: host.url, scope: 'system/Patient.rs' });
}, 60_000);

afterAll(async () => {
  await server.close();
  await host.close();
});

describe('ATK-01 alg none / unsigned tokens', () => {
  it.each([['none'], ['None'], ['NONE'], ['nOnE']])(
    'ATK-01 an assertion with alg %s and an empty signature is refused',
    async (alg) => {
      const token = `${b64(JSON.stringify({ alg, kid: ec.kid, typ: 'JWT' }))}.${b64(JSON.stringify(claimsFor(clientId)))}.`;
      expectRefusal(await send(token), 'assertion.alg_not_allowed');
    },
  );

  it('ATK-01 alg is case-sensitive: es384 is not ES384', async () => {
    const token = await signRaw(
      JSON.stringify({ alg: 'es384', kid: ec.kid }),
      JSON.stringify(claimsFor(clientId)),
      ec,
      'ES384',
    );
    expectRefusal(await send(token), 'assertion.alg_not_allowed');
  });
});

describe('ATK-02 HMAC/RSA algorithm confusion', () => {
  it.each([['HS256'], ['HS384'], ['HS512']])(
    'ATK-02 %s with the client public key (PEM) as the HMAC secret is refused',
    async (alg) => {
      const pem = await exportSPKI((await importJWK(rsa.publicJwk, 'RS384')) as CryptoKey);
      const input = `${b64(JSON.stringify({ alg, kid: rsa.kid, typ: 'JWT' }))}.${b64(JSON.stringify(claimsFor(clientId)))}`;
      const mac = createHmac(`sha${alg.slice(2)}`, pem)
        .update(input)
        .digest('base64url');
      expectRefusal(await send(`${input}.${mac}`), 'assertion.alg_not_allowed');
    },
  );

  it('ATK-02 HS384 keyed with the JWK JSON of the public key is refused', async () => {
    const input = `${b64(JSON.stringify({ alg: 'HS384', kid: ec.kid }))}.${b64(JSON.stringify(claimsFor(clientId)))}`;
    const mac = createHmac('sha384', JSON.stringify(ec.publicJwk)).update(input).digest('base64url');
    expectRefusal(await send(`${input}.${mac}`), 'assertion.alg_not_allowed');
  });
});

describe('ATK-03 key / algorithm / curve mismatch and weak keys', () => {
  const mismatches: Array<
    [name: string, key: () => ClientKey, header: () => Record<string, unknown>, reason: ReasonCode]
  > = [
    [
      'RS384 header naming an EC key',
      () => rsa,
      () => ({ alg: 'RS384', kid: ec.kid }),
      'assertion.key_alg_mismatch',
    ],
    [
      'ES384 header naming an RSA key',
      () => ec,
      () => ({ alg: 'ES384', kid: rsa.kid }),
      'assertion.key_alg_mismatch',
    ],
    [
      'ES384 header naming a P-256 key',
      () => p256,
      () => ({ alg: 'ES384', kid: p256.kid }),
      'assertion.key_alg_mismatch',
    ],
    [
      'ES256 header naming a P-384 key',
      () => ec,
      () => ({ alg: 'ES256', kid: ec.kid }),
      'assertion.key_alg_mismatch',
    ],
    [
      'RS256 with a key registered without alg (RS384 only)',
      () => rsaNoAlg,
      () => ({ alg: 'RS256', kid: rsaNoAlg.kid }),
      'assertion.alg_not_allowed',
    ],
    [
      'PS384 with a key registered without alg',
      () => rsaNoAlg,
      () => ({ alg: 'PS384', kid: rsaNoAlg.kid }),
      'assertion.alg_not_allowed',
    ],
    [
      'RS384 with a key registered for RS256',
      () => rsa256,
      () => ({ alg: 'RS384', kid: rsa256.kid }),
      'assertion.key_alg_mismatch',
    ],
    [
      'RS512 (not on the allow-list)',
      () => rsa,
      () => ({ alg: 'RS512', kid: rsa.kid }),
      'assertion.alg_not_allowed',
    ],
    [
      'EdDSA (not on the allow-list)',
      () => ec,
      () => ({ alg: 'EdDSA', kid: ec.kid }),
      'assertion.alg_not_allowed',
    ],
  ];
  it.each(mismatches)('ATK-03 %s is refused', async (_name, key, header, reason) => {
    const h = { typ: 'JWT', ...header() };
    const token = await signRaw(JSON.stringify(h), JSON.stringify(claimsFor(clientId)), key(), key().alg);
    expectRefusal(await send(token), reason);
  });

  it('ATK-03 opt-in algorithms work only with a key whose own alg names them (RS256, ES256, PS384)', async () => {
    const ps384 = await makeClientKey('PS384');
    const id = await register(server.app, { jwks: jwksOf(ps384), scope: 'system/Patient.rs' });
    expect((await postToken(server.app, tokenForm(await makeAssertion(id, ps384)))).status).toBe(200);
    expect((await send(await assertFor(rsa256))).status).toBe(200);
    expect((await send(await assertFor(p256))).status).toBe(200);
    expect((await send(await assertFor(rsaNoAlg))).status).toBe(200); // RS384 by default
  });

  const weakKeys: Array<[name: string, jwk: Record<string, unknown>, reason: ReasonCode]> = [
    [
      'an RSA-1024 key',
      { kty: 'RSA', kid: 'k', n: b64(Buffer.concat([Buffer.from([0xc0]), randomBytes(127)])), e: 'AQAB' },
      'jwks.rsa_too_small',
    ],
    ['a symmetric (oct) key', { kty: 'oct', kid: 'k', k: b64(randomBytes(32)) }, 'jwks.symmetric_key'],
    ['a DSA key', { kty: 'DSA', kid: 'k' }, 'jwks.unsupported_key_type'],
    [
      'a P-521 key',
      { kty: 'EC', kid: 'k', crv: 'P-521', x: b64(randomBytes(66)), y: b64(randomBytes(66)) },
      'jwks.alg_not_allowed',
    ],
    [
      'a key with an HMAC alg',
      { kty: 'RSA', kid: 'k', alg: 'HS256', n: 'x', e: 'AQAB' },
      'jwks.alg_not_allowed',
    ],
  ];
  it.each(weakKeys)('ATK-03 registering %s is refused', async (_name, jwk, reason) => {
    const res = await request(server.app)
      .post('/register')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ jwks: { keys: [jwk] }, scope: 'system/Patient.rs' });
    expectRefusal(res, reason);
  });
});

describe('ATK-04 ECDSA "psychic signatures" and out-of-range values', () => {
  it.each([
    ['all-zero r and s', new Uint8Array(96)],
    ['r and s at or above the curve order', new Uint8Array(96).fill(0xff)],
  ])('ATK-04 an ES384 signature with %s is refused', async (_name, signature) => {
    const [h, p] = (await assertFor(ec)).split('.');
    expectRefusal(await send(`${h}.${p}.${b64(signature)}`), 'assertion.signature_invalid');
  });

  it('ATK-04 a DER-encoded ES384 signature (not raw R‖S) is refused', async () => {
    const [h, p, s] = (await assertFor(ec)).split('.') as [string, string, string];
    const raw = Buffer.from(s, 'base64url');
    const int = (b: Buffer) => (b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
    const r = int(raw.subarray(0, 48));
    const sv = int(raw.subarray(48));
    const der = Buffer.concat([
      Buffer.from([0x30, r.length + sv.length + 4, 0x02, r.length]),
      r,
      Buffer.from([0x02, sv.length]),
      sv,
    ]);
    expectRefusal(await send(`${h}.${p}.${b64(der)}`), 'assertion.signature_invalid');
  });
});

describe('ATK-05 empty or truncated signatures', () => {
  it('ATK-05 an empty signature segment is refused', async () => {
    const [h, p] = (await assertFor(rsa)).split('.');
    const res = await send(`${h}.${p}.`);
    expectRefusal(res, 'assertion.signature_invalid');
    expect(res.body.error_description).toContain('empty');
  });

  it.each([['RS384'], ['ES384']])('ATK-05 a truncated %s signature is refused', async (alg) => {
    const [h, p, s] = (await assertFor(alg === 'RS384' ? rsa : ec)).split('.') as [string, string, string];
    const truncated = s.slice(0, s.length - (s.length % 4) - 8);
    expectRefusal(await send(`${h}.${p}.${truncated}`), 'assertion.signature_invalid');
  });

  it('ATK-05 a signature by another key is refused', async () => {
    const forged = await makeAssertion(clientId, attacker, { header: { kid: ec.kid } });
    expectRefusal(await send(forged), 'assertion.signature_invalid');
  });
});

describe('ATK-06 embedded keys', () => {
  it('ATK-06 a jwk header carrying the attacker key (signed with it) is refused', async () => {
    const forged = await makeAssertion(clientId, attacker, { header: { jwk: attacker.publicJwk } });
    expectRefusal(await send(forged), 'assertion.embedded_key');
  });

  it('ATK-06 a jwk header alongside a registered kid is refused too', async () => {
    const forged = await makeAssertion(clientId, attacker, {
      header: { kid: ec.kid, jwk: attacker.publicJwk },
    });
    expectRefusal(await send(forged), 'assertion.embedded_key');
  });

  it('ATK-06 an x5c header is refused', async () => {
    expectRefusal(
      await send(await assertFor(ec, { header: { x5c: [b64(randomBytes(64))] } })),
      'assertion.embedded_key',
    );
  });
});

describe('ATK-07 jku / x5u to an attacker URL (forgery and SSRF)', () => {
  it.each([
    ['an unregistered URL on the same host', () => `${host.base}/evil.json`],
    ['the cloud metadata address', () => 'http://169.254.169.254/latest/meta-data/'],
    ['a file: URL', () => 'file:///etc/passwd'],
    ['the registered URL with a different case', () => host.url.toUpperCase()],
    ['the registered URL with a query', () => `${host.url}?x=1`],
  ])('ATK-07 jku to %s is refused before any network access', async (_name, jku) => {
    const before = [...host.hits.values()].reduce((a, b) => a + b, 0);
    const res = await postToken(
      server.app,
      tokenForm(await makeAssertion(remoteClientId, attacker, { header: { jku: jku() } })),
    );
    expectRefusal(res, 'assertion.jku_not_registered');
    expect([...host.hits.values()].reduce((a, b) => a + b, 0)).toBe(before);
  });

  it('ATK-07 jku on a client registered by value is refused before any network access', async () => {
    const res = await send(await assertFor(ec, { header: { jku: `${host.base}/evil.json` } }));
    expectRefusal(res, 'assertion.jku_not_registered');
    expect(host.count('/evil.json')).toBe(0);
  });

  it('ATK-07 x5u is refused and never dereferenced', async () => {
    const res = await send(await assertFor(ec, { header: { x5u: `${host.base}/cert.pem` } }));
    expectRefusal(res, 'assertion.embedded_key');
    expect(host.count('/cert.pem')).toBe(0);
  });

  it('ATK-07 a jku equal to the registered jwks_uri is accepted (KEY-02)', async () => {
    const res = await postToken(
      server.app,
      tokenForm(await makeAssertion(remoteClientId, ec, { header: { jku: host.url } })),
    );
    expect(res.status).toBe(200);
  });
});

describe('ATK-08 kid injection', () => {
  it.each([
    ['../../../../dev/null'],
    ["' UNION SELECT 'secret'--"],
    ['*)(uid=*))(|(uid=*'],
    ['%00'],
    ['k'.repeat(256)],
  ])('ATK-08 kid %j is an opaque string that matches no key', async (kid) => {
    expectRefusal(await send(await assertFor(ec, { header: { kid } })), 'assertion.key_not_found');
  });

  it('ATK-08 a kid longer than 256 characters is refused', async () => {
    expectRefusal(
      await send(await assertFor(ec, { header: { kid: 'k'.repeat(4000) } })),
      'assertion.kid_invalid',
    );
  });

  it('ATK-08 a kid that is not a string is refused', async () => {
    expectRefusal(await send(await assertFor(ec, { header: { kid: ['a'] } })), 'assertion.kid_invalid');
  });
});

describe('ATK-09 ambiguous key selection', () => {
  it('ATK-09 an assertion without kid is refused (no trying every key)', async () => {
    expectRefusal(await send(await assertFor(ec, { omit: ['kid'] })), 'assertion.kid_missing');
  });

  it('ATK-09 a registered JWKS with two keys sharing a kid is refused at registration', async () => {
    const twin = { ...otherKey.publicJwk, kid: ec.kid };
    const res = await request(server.app)
      .post('/register')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ jwks: { keys: [ec.publicJwk, twin] }, scope: 'system/Patient.rs' });
    expectRefusal(res, 'jwks.duplicate_kid');
  });

  it('ATK-09 a remote JWKS with two keys sharing a kid is refused', async () => {
    const twin = { ...otherKey.publicJwk, kid: ec.kid };
    host.serveJwks('/twins.json', { keys: [ec.publicJwk, twin] });
    const id = await register(server.app, {
      jwks_uri: `${host.base}/twins.json`,
      scope: 'system/Patient.rs',
    });
    const res = await postToken(server.app, tokenForm(await makeAssertion(id, ec)));
    expectRefusal(res, 'client.jwks_invalid');
    expect(res.body.error_description).toContain('jwks.duplicate_kid');
  });
});

describe('ATK-10 crit and unknown critical extensions', () => {
  it.each([
    ['crit naming a private extension', { crit: ['x-custom'], 'x-custom': true }],
    ['crit b64 with b64 false (RFC 7797)', { crit: ['b64'], b64: false }],
    ['an empty crit', { crit: [] }],
    ['crit naming a registered header', { crit: ['alg'] }],
    ['a crit that is not an array', { crit: 'exp' }],
    ['b64 false without crit', { b64: false }],
  ])('ATK-10 %s is refused', async (_name, header) => {
    expectRefusal(await send(await assertFor(ec, { header })), 'assertion.crit_unsupported');
  });

  it('ATK-10 unknown non-critical header members are ignored (BDT sends kty)', async () => {
    expect((await send(await assertFor(ec, { header: { kty: 'EC', 'x-note': 'hello' } }))).status).toBe(200);
  });
});

describe('ATK-11 cross-JWT and token-type confusion', () => {
  it('ATK-11 an access token from this server presented as client_assertion is refused', async () => {
    const issued = await send(await assertFor(ec));
    expect(issued.status).toBe(200);
    expectRefusal(await send(issued.body.access_token as string), 'assertion.typ_invalid');
  });

  it.each([
    ['at+jwt'],
    ['application/at+jwt'],
    ['AT+JWT'],
    ['dpop+jwt'],
    ['JOSE'],
    ['secevent+jwt'],
    ['text/jwt'],
    ['application/jwt+json'],
    ['JWT; x=y'],
    ['application/jwt;charset=utf-8'],
    [' JWT'],
    ['JWT '],
    ['application//jwt'],
    ['jwt/application'],
    [''],
  ])('ATK-11 an assertion with typ %j is refused', async (typ) => {
    expectRefusal(await send(await assertFor(ec, { header: { typ } })), 'assertion.typ_invalid');
  });

  it.each([['JWT'], ['jwt'], ['Jwt'], ['application/jwt'], ['application/JWT'], ['APPLICATION/JWT']])(
    'an assertion with typ %s is accepted: the media type application/jwt (RFC 7515 §4.1.9)',
    async (typ) => {
      expect((await send(await assertFor(ec, { header: { typ } }))).status).toBe(200);
    },
  );

  it("ATK-11 the server's own signing key never verifies a client assertion", async () => {
    const own = server.signingKeys.current();
    const forged = await new SignJWT(claimsFor(clientId))
      .setProtectedHeader({ alg: 'ES256', kid: own.kid, typ: 'JWT' })
      .sign(own.signer.key);
    expectRefusal(await send(forged), 'assertion.key_not_found');
  });

  it("ATK-11 another client's assertion cannot authenticate this client", async () => {
    const theirs = await makeAssertion(otherClientId, otherKey);
    expectRefusal(await send(theirs, { client_id: clientId }), 'assertion.client_id_mismatch');
    const relabelled = await makeAssertion(clientId, otherKey);
    expectRefusal(await send(relabelled), 'assertion.key_not_found');
  });
});

describe('ATK-12 audience tricks and audience injection', () => {
  const refused: Array<[aud: unknown, reason: ReasonCode]> = [
    [FHIR_BASE, 'assertion.aud_invalid'],
    [`${TOKEN_URL}/`, 'assertion.aud_invalid'],
    [TOKEN_URL.toUpperCase(), 'assertion.aud_invalid'],
    [TOKEN_URL.replace('http:', 'https:'), 'assertion.aud_invalid'],
    ['http://auth.test:80/token', 'assertion.aud_invalid'],
    ['http://auth.test/TOKEN', 'assertion.aud_invalid'],
    [`${PUBLIC_URL}/`, 'assertion.aud_invalid'],
    ['https://other.example/token', 'assertion.aud_invalid'],
    ['test-bad-aud-value', 'assertion.aud_invalid'],
    ['', 'assertion.aud_invalid'],
    [42, 'assertion.aud_invalid'],
    [null, 'assertion.aud_invalid'],
    [{ url: TOKEN_URL }, 'assertion.aud_invalid'],
    [[], 'assertion.aud_invalid'],
    [['https://evil.example', TOKEN_URL], 'assertion.aud_multiple'],
    [[TOKEN_URL, 'https://evil.example'], 'assertion.aud_multiple'],
    [[TOKEN_URL, TOKEN_URL], 'assertion.aud_multiple'],
    [[FHIR_BASE], 'assertion.aud_invalid'],
  ];
  it.each(refused)('ATK-12 aud %j is refused (%s)', async (aud, reason) => {
    expectRefusal(await send(await assertFor(ec, { claims: { aud } })), reason);
  });

  it.each([[TOKEN_URL], [PUBLIC_URL], [[TOKEN_URL]], [[PUBLIC_URL]]])(
    'ATK-12 aud %j is accepted',
    async (aud) => {
      expect((await send(await assertFor(ec, { claims: { aud } }))).status).toBe(200);
    },
  );
});

describe('ATK-13 issuer / subject tricks', () => {
  it.each<[string, () => Record<string, unknown>, ReasonCode]>([
    ['iss ≠ sub', () => ({ sub: otherClientId }), 'assertion.iss_sub_mismatch'],
    [
      'a bad iss with the real sub (g10 "invalid JWT")',
      () => ({ iss: 'not_a_valid_iss' }),
      'assertion.iss_sub_mismatch',
    ],
    [
      'iss = sub = a prefix of the client id',
      () => ({ iss: clientId.slice(0, -1), sub: clientId.slice(0, -1) }),
      'client.unknown',
    ],
    [
      'iss = sub = the client id plus a suffix',
      () => ({ iss: `${clientId}x`, sub: `${clientId}x` }),
      'client.unknown',
    ],
    [
      'iss = sub in another letter case',
      () => ({
        iss: clientId.toLowerCase() === clientId ? clientId.toUpperCase() : clientId.toLowerCase(),
        sub: clientId.toLowerCase() === clientId ? clientId.toUpperCase() : clientId.toLowerCase(),
      }),
      'client.unknown',
    ],
    [
      'an unregistered client (BDT test-bad-client-id)',
      () => ({ iss: 'test-bad-client-id', sub: 'test-bad-client-id' }),
      'client.unknown',
    ],
    ['iss that is not a string', () => ({ iss: 7 }), 'assertion.iss_missing'],
  ])('ATK-13 %s is refused', async (_name, claims, reason) => {
    expectRefusal(await send(await assertFor(ec, { claims: claims() })), reason);
  });

  it('ATK-13 a client_id parameter naming another client is refused', async () => {
    expectRefusal(
      await send(await assertFor(ec), { client_id: otherClientId }),
      'assertion.client_id_mismatch',
    );
  });
});

describe('ATK-14 lifetime attacks on exp', () => {
  const t = now();
  const cases: Array<[name: string, exp: unknown, reason: ReasonCode]> = [
    ['a string', String(t + 300), 'assertion.exp_invalid'],
    ['negative', -1, 'assertion.exp_invalid'],
    ['1e308', 1e308, 'assertion.exp_invalid'],
    ['2^63', 2 ** 63, 'assertion.exp_invalid'],
    ['null', null, 'assertion.exp_invalid'],
    ['true', true, 'assertion.exp_invalid'],
    ['the year 9999', 253402300799, 'assertion.exp_too_far'],
    ['now + 1 day', t + 86400, 'assertion.exp_too_far'],
    ['now + 330 s (beyond 300 s + 10 s skew)', t + 330, 'assertion.exp_too_far'],
    ['expired 20 s ago', t - 20, 'assertion.expired'],
    ['0', 0, 'assertion.expired'],
  ];
  it.each(cases)('ATK-14 exp %s is refused', async (_name, exp, reason) => {
    const res = await send(await assertFor(ec, { claims: { exp } }));
    expectRefusal(res, reason);
  });

  it('ATK-14 a missing exp is refused', async () => {
    expectRefusal(await send(await assertFor(ec, { omit: ['exp'] })), 'assertion.exp_missing');
  });

  it('ATK-14 exp written 1e400 or -1e400 (JSON.parse makes them ±Infinity) is refused', async () => {
    const header = JSON.stringify({ alg: ec.alg, kid: ec.kid, typ: 'JWT' });
    for (const exp of ['1e400', '-1e400']) {
      const payload = JSON.stringify(claimsFor(clientId)).replace(/"exp":\d+/, `"exp":${exp}`);
      expectRefusal(await send(await signRaw(header, payload, ec)), 'assertion.exp_invalid');
    }
  });

  it('ATK-14 a non-integer exp, iat and nbf are NumericDates (RFC 7519 §2), accepted as such', async () => {
    const t = now();
    const accepted = await send(
      await assertFor(ec, { claims: { exp: t + 299.5, iat: t - 0.25, nbf: t - 1.5 } }),
    );
    expect(accepted.status).toBe(200);
    expectRefusal(await send(await assertFor(ec, { claims: { exp: t + 400.5 } })), 'assertion.exp_too_far');
    expectRefusal(await send(await assertFor(ec, { claims: { exp: t - 60.5 } })), 'assertion.expired');
    expectRefusal(await send(await assertFor(ec, { claims: { nbf: t + 60.5 } })), 'assertion.nbf_in_future');
    expectRefusal(await send(await assertFor(ec, { claims: { iat: t + 60.5 } })), 'assertion.iat_in_future');
  });

  it('ATK-14 a non-integer exp still guards replay', async () => {
    const assertion = await assertFor(ec, { claims: { exp: now() + 120.75 } });
    expect((await send(assertion)).status).toBe(200);
    expectRefusal(await send(assertion), 'assertion.replayed');
  });

  it('ATK-14 exp within the clock skew on either side is accepted (Inferno sends now + 300), one second beyond it is not', async () => {
    expect((await send(await assertFor(ec, { claims: { exp: now() + 310 } }))).status).toBe(200);
    expect((await send(await assertFor(ec, { claims: { exp: now() - 9 } }))).status).toBe(200);
    expectRefusal(await send(await assertFor(ec, { claims: { exp: now() + 311 } })), 'assertion.exp_too_far');
    expectRefusal(await send(await assertFor(ec, { claims: { exp: now() - 10 } })), 'assertion.expired');
  });
});

describe('ATK-15 future-dated nbf / iat', () => {
  it.each<[string, Record<string, unknown>, ReasonCode]>([
    ['nbf one hour ahead', { nbf: now() + 3600 }, 'assertion.nbf_in_future'],
    ['iat one hour ahead', { iat: now() + 3600 }, 'assertion.iat_in_future'],
    ['nbf 60 s ahead', { nbf: now() + 60 }, 'assertion.nbf_in_future'],
    ['a non-numeric nbf', { nbf: 'soon' }, 'assertion.nbf_invalid'],
    ['a non-numeric iat', { iat: 'now' }, 'assertion.iat_invalid'],
  ])('ATK-15 %s is refused', async (_name, claims, reason) => {
    expectRefusal(await send(await assertFor(ec, { claims })), reason);
  });

  it('ATK-15 nbf / iat within the clock skew are accepted, one second beyond it are not', async () => {
    expect((await send(await assertFor(ec, { claims: { nbf: now() + 10, iat: now() + 10 } }))).status).toBe(
      200,
    );
    expectRefusal(
      await send(await assertFor(ec, { claims: { nbf: now() + 11 } })),
      'assertion.nbf_in_future',
    );
    expectRefusal(
      await send(await assertFor(ec, { claims: { iat: now() + 11 } })),
      'assertion.iat_in_future',
    );
  });
});

describe('ATK-16 replay', () => {
  it('ATK-16 the same assertion twice: the second is refused', async () => {
    const assertion = await assertFor(ec);
    expect((await send(assertion)).status).toBe(200);
    expectRefusal(await send(assertion), 'assertion.replayed');
  });

  it('ATK-16 the same jti in a newly signed assertion is refused', async () => {
    const jti = randomUUID();
    expect((await send(await assertFor(ec, { claims: { jti } }))).status).toBe(200);
    expectRefusal(await send(await assertFor(rsa, { claims: { jti } })), 'assertion.replayed');
  });

  it('ATK-16 concurrent requests with one assertion: exactly one succeeds', async () => {
    const assertion = await assertFor(ec);
    const results = await Promise.all(Array.from({ length: 12 }, () => send(assertion)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const refused of results.filter((r) => r.status !== 200))
      expectRefusal(refused, 'assertion.replayed');
  });

  it('ATK-16 a re-encoded ECDSA signature (s → n − s) is still a replay', async () => {
    const assertion = await assertFor(ec);
    expect((await send(assertion)).status).toBe(200);
    const [h, p, s] = assertion.split('.') as [string, string, string];
    const raw = Buffer.from(s, 'base64url');
    const n = BigInt(
      '0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
    );
    const sValue = BigInt(`0x${raw.subarray(48).toString('hex')}`);
    const flipped = Buffer.from((n - sValue).toString(16).padStart(96, '0'), 'hex');
    const malleated = `${h}.${p}.${b64(Buffer.concat([raw.subarray(0, 48), flipped]))}`;
    expect(malleated).not.toBe(assertion);
    expectRefusal(await send(malleated), 'assertion.replayed');
  });

  it('ATK-16 a jti is recorded only after signature and claims pass', async () => {
    const jti = randomUUID();
    expectRefusal(
      await send(await assertFor(ec, { claims: { jti, aud: FHIR_BASE } })),
      'assertion.aud_invalid',
    );
    expectRefusal(
      await send(await makeAssertion(clientId, attacker, { header: { kid: ec.kid }, claims: { jti } })),
      'assertion.signature_invalid',
    );
    expect((await send(await assertFor(ec, { claims: { jti } }))).status).toBe(200);
  });

  it('ATK-16 replay protection is per client: two clients may use the same jti', async () => {
    const jti = randomUUID();
    expect((await send(await assertFor(ec, { claims: { jti } }))).status).toBe(200);
    expect(
      (
        await postToken(
          server.app,
          tokenForm(await makeAssertion(otherClientId, otherKey, { claims: { jti } })),
        )
      ).status,
    ).toBe(200);
  });
});

describe('ATK-17 missing required members', () => {
  it.each<[string, ReasonCode]>([
    ['iss', 'assertion.iss_missing'],
    ['sub', 'assertion.sub_missing'],
    ['aud', 'assertion.aud_missing'],
    ['exp', 'assertion.exp_missing'],
    ['jti', 'assertion.jti_missing'],
    ['kid', 'assertion.kid_missing'],
    ['alg', 'assertion.alg_not_allowed'],
  ])('ATK-17 an assertion without %s is refused', async (member, reason) => {
    const header: Record<string, unknown> = { alg: 'ES384', kid: ec.kid, typ: 'JWT' };
    const claims: Record<string, unknown> = claimsFor(clientId);
    delete header[member];
    delete claims[member];
    expectRefusal(
      await send(await signRaw(JSON.stringify(header), JSON.stringify(claims), ec, 'ES384')),
      reason,
    );
  });

  it('ATK-17 an empty jti is refused', async () => {
    expectRefusal(await send(await assertFor(ec, { claims: { jti: '' } })), 'assertion.jti_invalid');
  });

  it('ATK-17 an assertion without typ is accepted (DESIGN: generic clients omit it)', async () => {
    expect((await send(await assertFor(ec, { omit: ['typ'] }))).status).toBe(200);
  });
});

describe('ATK-18 duplicate JSON member names', () => {
  const header = () => `{"alg":"ES384","kid":"${ec.kid}","typ":"JWT"}`;
  const payload = (extra = '') => {
    const c = claimsFor(clientId);
    return `{"iss":"${c.iss}","sub":"${c.sub}","aud":"${c.aud}","exp":${c.exp},"jti":"${c.jti}"${extra}}`;
  };
  it.each<[string, () => string, () => string]>([
    [
      'two alg members in the header',
      () => `{"alg":"none","alg":"ES384","kid":"${ec.kid}"}`,
      () => payload(),
    ],
    ['two kid members in the header', () => `{"alg":"ES384","kid":"x","kid":"${ec.kid}"}`, () => payload()],
    ['two iss members in the payload', header, () => payload(`,"iss":"${otherClientId}"`)],
    ['two aud members in the payload', header, () => payload(',"aud":"https://evil.example"')],
    ['two exp members in the payload', header, () => payload(`,"exp":${now() + 86400}`)],
    [
      'a duplicate written with an escape ("\\u0065xp")',
      header,
      () => payload(`,"\\u0065xp":${now() + 86400}`),
    ],
    ['a duplicate inside a nested object', header, () => payload(',"cnf":{"a":1,"a":2}')],
  ])('ATK-18 %s is refused', async (_name, h, p) => {
    expectRefusal(await send(await signRaw(h(), p(), ec, 'ES384')), 'assertion.duplicate_member');
  });

  it('ATK-18 the same name in two different objects is fine', async () => {
    const token = await signRaw(header(), payload(',"a":{"k":1},"b":{"k":2}'), ec, 'ES384');
    expect((await send(token)).status).toBe(200);
  });
});

describe('ATK-19 serialization and encoding tricks', () => {
  const compactParts = async () => (await assertFor(ec)).split('.') as [string, string, string];

  it('ATK-19 JWS JSON serialization is refused', async () => {
    const [protectedHeader, payload, signature] = await compactParts();
    expectRefusal(
      await send(JSON.stringify({ protected: protectedHeader, payload, signature })),
      'assertion.malformed',
    );
  });

  it('ATK-19 a compact/JSON polyglot is refused', async () => {
    const [h, p, s] = await compactParts();
    const polyglot = JSON.stringify({ [`${h}.${p}`]: '', protected: h, payload: p, signature: s });
    expectRefusal(await send(polyglot), 'assertion.malformed');
  });

  it('ATK-19 a 5-segment JWE is refused', async () => {
    const jwe = [
      b64('{"alg":"RSA-OAEP","enc":"A256GCM","zip":"DEF"}'),
      b64(randomBytes(256)),
      b64(randomBytes(12)),
      b64(randomBytes(64)),
      b64(randomBytes(16)),
    ].join('.');
    const res = await send(jwe);
    expectRefusal(res, 'assertion.malformed');
    expect(res.body.error_description).toContain('JWE');
  });

  it.each<[string, (parts: [string, string, string]) => string]>([
    ['base64 padding', ([h, p, s]) => `${h}.${p}==.${s}`],
    ['a space inside a segment', ([h, p, s]) => `${h}.${p.slice(0, 8)} ${p.slice(8)}.${s}`],
    ['a newline inside a segment', ([h, p, s]) => `${h}\n.${p}.${s}`],
    [
      'standard base64 (+ and /) instead of base64url',
      ([h, p, s]) => `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}+/`,
    ],
    ['two JWTs in one client_assertion', ([h, p, s]) => `${h}.${p}.${s}.${h}.${p}.${s}`],
    ['two segments only', ([h, p]) => `${h}.${p}`],
    ['an empty header segment', ([, p, s]) => `.${p}.${s}`],
    ['an empty payload segment', ([h, , s]) => `${h}..${s}`],
  ])('ATK-19 %s is refused', async (_name, build) => {
    expectRefusal(await send(build(await compactParts())), 'assertion.malformed');
  });

  it('ATK-19 non-canonical trailing bits in base64url are refused', async () => {
    // Pad the payload so its segment length leaves unused bits, then set one of them.
    let claims = JSON.stringify(claimsFor(clientId));
    while (b64(claims).length % 4 === 0) claims += ' ';
    const token = await signRaw(JSON.stringify({ alg: 'ES384', kid: ec.kid }), claims, ec, 'ES384');
    const [h, p, s] = token.split('.') as [string, string, string];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(p.at(-1) as string);
    const tweaked = `${p.slice(0, -1)}${alphabet[last + 1]}`;
    expect(Buffer.from(tweaked, 'base64url').equals(Buffer.from(p, 'base64url'))).toBe(true);
    expectRefusal(await send(`${h}.${tweaked}.${s}`), 'assertion.malformed');
  });

  it.each<[string, () => Buffer]>([
    [
      'a BOM before the header JSON',
      () =>
        Buffer.concat([
          Buffer.from([0xef, 0xbb, 0xbf]),
          Buffer.from(JSON.stringify({ alg: 'ES384', kid: ec.kid })),
        ]),
    ],
    ['a header that is not UTF-8', () => Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
    ['a header that is a JSON string', () => Buffer.from('"ES384"')],
    ['a header that is a JSON array', () => Buffer.from('[{"alg":"ES384"}]')],
    ['a header that is not JSON', () => Buffer.from('{alg: ES384}')],
  ])('ATK-19 %s is refused', async (_name, headerBytes) => {
    const [, p, s] = await compactParts();
    expectRefusal(await send(`${b64(headerBytes())}.${p}.${s}`), 'assertion.malformed');
  });

  it('ATK-19 a nested JWT (cty JWT) is refused', async () => {
    expectRefusal(await send(await assertFor(ec, { header: { cty: 'JWT' } })), 'assertion.malformed');
  });
});

describe('ATK-20 resource exhaustion', () => {
  it('ATK-20 a 10 MB body is refused with 413 before it is read', async () => {
    const res = await postToken(server.app, `client_assertion=${'a'.repeat(10 * 1024 * 1024)}`);
    expectRefusal(res, 'request.body_too_large');
  });

  it('ATK-20 a chunked body over 64 kB (no Content-Length) is refused with 413', async () => {
    const res = await rawRequest(server.app, {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Transfer-Encoding': 'chunked' },
      body: `scope=${'x'.repeat(200 * 1024)}`,
    });
    expectRefusal(res, 'request.body_too_large');
  });

  it('ATK-20 a client_assertion over 16 kB is refused', async () => {
    const big = await assertFor(ec, { claims: { padding: 'p'.repeat(MAX_ASSERTION_LENGTH) } });
    expectRefusal(await send(big), 'assertion.too_large');
  });

  it('ATK-20 deeply nested JSON is refused', async () => {
    const deep = `${'['.repeat(40)}1${']'.repeat(40)}`;
    const c = claimsFor(clientId);
    const payload = `{"iss":"${c.iss}","sub":"${c.sub}","aud":"${c.aud}","exp":${c.exp},"jti":"${c.jti}","deep":${deep}}`;
    const res = await send(
      await signRaw(JSON.stringify({ alg: 'ES384', kid: ec.kid }), payload, ec, 'ES384'),
    );
    expectRefusal(res, 'assertion.malformed');
    expect(res.body.error_description).toContain('nesting');
  });

  it('ATK-20 a huge scope string is refused', async () => {
    expectRefusal(
      await send(await assertFor(ec), { scope: `system/Patient.rs ${'system/Observation.rs '.repeat(300)}` }),
      'scope.too_long',
    );
  });

  it('ATK-20 registering an RSA key over 8192 bits or with a huge exponent is refused', async () => {
    const admin = (jwk: Record<string, unknown>) =>
      request(server.app)
        .post('/register')
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .send({ jwks: { keys: [jwk] }, scope: 'system/Patient.rs' });
    expectRefusal(
      await admin({
        kty: 'RSA',
        kid: 'big',
        n: b64(Buffer.concat([Buffer.from([0x80]), randomBytes(2047)])),
        e: 'AQAB',
      }),
      'jwks.rsa_too_large',
    );
    expectRefusal(await admin({ ...rsa.publicJwk, e: b64(randomBytes(64)) }), 'jwks.rsa_exponent_invalid');
  });
});

describe('ATK-21 client authentication method confusion', () => {
  it.each([
    ['Authorization: Basic', 'Basic ' + Buffer.from('client:secret').toString('base64')],
    ['Authorization: Bearer', 'Bearer abc'],
  ])('ATK-21 %s plus a client_assertion is refused', async (_name, authorization) => {
    const res = await request(server.app)
      .post('/token')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .set('Authorization', authorization)
      .send(new URLSearchParams(tokenForm(await assertFor(ec))).toString());
    expectRefusal(res, 'request.multiple_client_auth');
  });

  it('ATK-21 client_secret plus a client_assertion is refused', async () => {
    expectRefusal(
      await send(await assertFor(ec), { client_secret: 'hunter2' }),
      'request.multiple_client_auth',
    );
  });
});

describe('ATK-22 parameter pollution', () => {
  it.each([['grant_type'], ['scope'], ['client_assertion'], ['client_assertion_type'], ['client_id']])(
    'ATK-22 a repeated %s is refused',
    async (name) => {
      const form = new URLSearchParams(tokenForm(await assertFor(ec), { client_id: clientId }));
      form.append(name, form.get(name) as string);
      expectRefusal(await postToken(server.app, form.toString()), 'request.repeated_parameter');
    },
  );

  it('ATK-22 a repeated scope with a different value is refused (no first/last-wins)', async () => {
    const form = new URLSearchParams(tokenForm(await assertFor(ec)));
    form.append('scope', 'system/Observation.rs');
    expectRefusal(await postToken(server.app, form.toString()), 'request.repeated_parameter');
  });

  it('ATK-22 parameters in the query string are refused, even with a valid body', async () => {
    const res = await request(server.app)
      .post('/token?scope=system/*.cruds')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send(new URLSearchParams(tokenForm(await assertFor(ec))).toString());
    expectRefusal(res, 'request.query_parameters');
  });

  it('ATK-22 a request carrying everything in the query string is refused', async () => {
    const query = new URLSearchParams(tokenForm(await assertFor(ec))).toString();
    const res = await request(server.app)
      .post(`/token?${query}`)
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send('');
    expectRefusal(res, 'request.query_parameters');
  });
});

describe('ATK-24 scope abuse', () => {
  const cases: Array<[scope: string, reason: ReasonCode]> = [
    ['system/Patient.rs\u0001', 'scope.invalid_characters'],
    ['system/Patient.rs"', 'scope.invalid_characters'],
    ['system/Patient.rs\\', 'scope.invalid_characters'],
    ['system/Patient.rs\u00e9', 'scope.invalid_characters'],
    ['system/Patient.rr', 'scope.repeated_permission'],
    ['system/Patient.sr', 'scope.permission_order'],
    ['system/Patient.', 'scope.empty_permissions'],
    ['system/UnknownResource.read', 'scope.unknown_resource_type'],
    ['system/patient.rs', 'scope.unknown_resource_type'],
    ['patient/Patient.rs', 'scope.nothing_granted'],
    ['user/Patient.rs', 'scope.nothing_granted'],
    ['launch/patient', 'scope.nothing_granted'],
    ['system/Observation.rs?foo=bar', 'scope.constraint_parameter_not_allowed'],
    ['system/Observation.rs?code:in=http://x', 'scope.constraint_parameter_not_allowed'],
    ['system/Observation.rs?patient.name=x', 'scope.constraint_parameter_not_allowed'],
    ['system/Observation.rs?_filter=x', 'scope.constraint_parameter_not_allowed'],
    ['system/Observation.rs?category', 'scope.constraint_malformed'],
    ['system/Patient.read?name=x', 'scope.v1_constraint'],
    [`system/Patient.rs ${'system/Observation.rs '.repeat(70)}`.trim(), 'scope.too_many'],
    [`system/Observation.rs?category=${'x'.repeat(600)}`, 'scope.too_long'],
  ];
  it.each(cases)('ATK-24 scope %j is refused (%s)', async (scope, reason) => {
    expectRefusal(await send(await assertFor(ec), { scope }), reason);
  });

  it('ATK-24 never more than registered: system/*.cruds yields exactly the registered scopes', async () => {
    const v2 = await send(await assertFor(ec), { scope: 'system/*.cruds' });
    expect(v2.status).toBe(200);
    expect(v2.body.scope).toBe('system/Patient.rs system/Observation.rs');
    const v1 = await send(await assertFor(ec), { scope: 'system/*.*' });
    expect(v1.body.scope).toBe('system/Patient.read system/Observation.read');
  });

  it('ATK-24 write letters the client is not registered for are never granted', async () => {
    const res = await send(await assertFor(ec), { scope: 'system/Patient.cud system/Patient.rs' });
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/Patient.rs');
  });
});
