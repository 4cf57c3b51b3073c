import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ACCESS_TOKEN_ALGORITHMS, type ReasonCode } from '@smart-backend/protocol';
import { SignJWT, base64url } from 'jose';
import { newSigningKey, signRawEs256, unsignedToken } from './support/fake-auth-server.js';
import { FHIR_BASE, startTestApi, type TestApi } from './support/test-api.js';

// RS-02/RS-03/RS-07, RFC 6750 §3, RFC 9068, RFC 8725 (ATK-01, ATK-02, ATK-06, ATK-11, ATK-19, ATK-20).
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
});

const now = () => Math.floor(Date.now() / 1000);

async function expectRefusal(token: string | undefined, reason: ReasonCode, status = 401) {
  const req = api.http().get('/fhir/Patient');
  const res = await (token === undefined ? req : req.set('Authorization', `Bearer ${token}`));
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].diagnostics).toMatch(new RegExp(`^${reason.replace('.', '\\.')}: `));
  return res;
}

describe('a valid access token', () => {
  it('is accepted: 200', async () => {
    const res = await api
      .http()
      .get('/fhir/Patient')
      .set('Authorization', `Bearer ${await api.token()}`);
    expect(res.status).toBe(200);
  });

  it('is accepted with the scheme in any case and an aud array that names this server (RFC 7519 §4.1.3)', async () => {
    const token = await api.token('system/*.rs', {
      claims: { aud: ['https://other.example/fhir', FHIR_BASE] },
    });
    const res = await api.http().get('/fhir/Patient').set('Authorization', `bearer ${token}`);
    expect(res.status).toBe(200);
  });

  it('is accepted up to the clock skew after exp, and refused one second beyond it', async () => {
    // The verifier's clock is frozen, so the boundary holds however long minting and the request take.
    const t = now();
    const frozen = await startTestApi({ verifier: { now: () => t * 1000 } });
    try {
      const get = async (exp: number) =>
        frozen
          .http()
          .get('/fhir/Patient')
          .set(
            'Authorization',
            `Bearer ${await frozen.token('system/*.rs', { claims: { exp, iat: t - 300 } })}`,
          );
      expect((await get(t - 9)).status).toBe(200);
      const beyond = await get(t - 10);
      expect(beyond.status).toBe(401);
      expect(beyond.body.issue[0].diagnostics).toMatch(/^token\.expired: /);
    } finally {
      await frozen.close();
    }
  });

  it.each(ACCESS_TOKEN_ALGORITHMS.map((alg) => [alg]))(
    'signed with %s by a published key is accepted',
    async (alg) => {
      const key = await newSigningKey(alg);
      api.auth.published = [...api.auth.published, key];
      const token = await api.token('system/*.rs', { key });
      const res = await api.http().get('/fhir/Patient').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(200);
    },
    30_000,
  );
});

describe('RFC 7519 NumericDates and RFC 9068 typ spellings', () => {
  it('non-integer exp, iat and nbf are accepted (RFC 7519 §2: a NumericDate "can be non-integer")', async () => {
    const token = await api.token('system/*.rs', {
      claims: { exp: now() + 60.5, iat: now() - 0.25, nbf: now() - 1.75 },
    });
    const res = await api.http().get('/fhir/Patient').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
  });

  it('a non-integer exp in the past is still expired', async () => {
    await expectRefusal(
      await api.token('system/*.rs', { claims: { exp: now() - 30.5, iat: now() - 300.5 } }),
      'token.expired',
    );
  });

  it.each([['application/at+jwt'], ['AT+JWT'], ['Application/At+Jwt']])(
    'typ %s is at+jwt (RFC 9068 §4, RFC 7515 §4.1.9): accepted',
    async (typ) => {
      const token = await api.token('system/*.rs', { header: { typ } });
      const res = await api.http().get('/fhir/Patient').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(200);
    },
  );

  it.each([
    ['jwt'],
    ['application/jwt'],
    ['at+jwt; x=y'],
    ['at+jwt '],
    ['application/at+jwt+x'],
    ['text/at+jwt'],
    [''],
  ])('typ %j is refused: 401 token.wrong_type', async (typ) => {
    await expectRefusal(await api.token('system/*.rs', { header: { typ } }), 'token.wrong_type');
  });
});

describe('the issuer is checked before any key lookup (RFC 9068 §4)', () => {
  it('tokens from another issuer, or with the wrong typ, cause no JWKS fetch at all', async () => {
    const fresh = await startTestApi();
    try {
      const stranger = await newSigningKey('ES256');
      const foreign = [
        // another issuer's key and kid: a lookup would refetch the JWKS looking for it
        await fresh.token('system/*.rs', { key: stranger, claims: { iss: 'https://other.example' } }),
        // another issuer naming our published kid
        await fresh.token('system/*.rs', { claims: { iss: 'https://other.example' } }),
        await fresh.token('system/*.rs', { key: stranger, claims: { iss: `${fresh.auth.url}/` } }),
        await fresh.token('system/*.rs', { key: stranger, claims: { iss: undefined } }),
      ];
      for (const token of foreign) {
        const res = await fresh.http().get('/fhir/Patient').set('Authorization', `Bearer ${token}`);
        expect(res.status).toBe(401);
        expect(res.body.issue[0].diagnostics).toMatch(/^token\.wrong_issuer: /);
      }
      const wrongType = await fresh.token('system/*.rs', { key: stranger, header: { typ: 'JWT' } });
      const res = await fresh.http().get('/fhir/Patient').set('Authorization', `Bearer ${wrongType}`);
      expect(res.body.issue[0].diagnostics).toMatch(/^token\.wrong_type: /);
      expect(fresh.auth.jwksFetches).toBe(0);

      // The counter counts: our own issuer's token is verified with a fetched key.
      const ours = await fresh
        .http()
        .get('/fhir/Patient')
        .set('Authorization', `Bearer ${await fresh.token()}`);
      expect(ours.status).toBe(200);
      expect(fresh.auth.jwksFetches).toBe(1);
    } finally {
      await fresh.close();
    }
  });
});

describe('refusals: 401 invalid_token with WWW-Authenticate (RFC 6750 §3)', () => {
  it('no token: 401 token.missing, error="invalid_token" (DESIGN.md)', async () => {
    const res = await expectRefusal(undefined, 'token.missing');
    expect(res.headers['www-authenticate']).toBe(
      `Bearer realm="${FHIR_BASE}", error="invalid_token", error_description="token.missing: send Authorization: Bearer <access token>"`,
    );
    expect(res.body.issue[0].code).toBe('login');
  });

  it('another authentication scheme: 401 token.missing', async () => {
    const res = await api.http().get('/fhir/Patient').set('Authorization', 'Basic Y2xpZW50OnNlY3JldA==');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm=".*", error="invalid_token"/);
  });

  it.each([
    ['not a JWT', 'not-a-jwt'],
    ['two segments', 'abc.def'],
    ['undecodable header', 'abc.def.ghi'],
    ['a JWE (five segments, ATK-19)', 'a.b.c.d.e'],
    ['characters outside b64token', 'abc.def.g"hi'],
  ])('%s: 401 token.malformed', async (_label, token) => {
    const res = await expectRefusal(token, 'token.malformed');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('an oversized token (ATK-20): 401 token.malformed without verification', async () => {
    const token = await api.token('system/*.rs', { claims: { padding: 'x'.repeat(9_000) } });
    await expectRefusal(token, 'token.malformed');
  });

  it('a client-assertion-style token (typ: JWT) signed by the real key: 401 token.wrong_type (ATK-11)', async () => {
    await expectRefusal(await api.token('system/*.rs', { header: { typ: 'JWT' } }), 'token.wrong_type');
  });

  it('no typ at all: 401 token.wrong_type', async () => {
    await expectRefusal(await api.token('system/*.rs', { header: { typ: undefined } }), 'token.wrong_type');
  });

  it('alg none, in any case (ATK-01): 401 token.alg_not_allowed', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      const token = unsignedToken(
        { alg, typ: 'at+jwt', kid: api.auth.key.kid },
        {
          iss: api.auth.url,
          aud: FHIR_BASE,
          sub: 'c',
          client_id: 'c',
          scope: 'system/*.cruds',
          exp: now() + 60,
          iat: now(),
          jti: 'j',
        },
      );
      await expectRefusal(token, 'token.alg_not_allowed');
    }
  });

  it("HS256 with a secret, and HS256 keyed with the issuer's public key (ATK-02): 401 token.alg_not_allowed", async () => {
    const claims = {
      iss: api.auth.url,
      aud: FHIR_BASE,
      sub: 'c',
      client_id: 'c',
      scope: 'system/*.cruds',
      jti: 'j',
    };
    const publicKeyBytes = new TextEncoder().encode(JSON.stringify(api.auth.key.publicJwk));
    for (const secret of [new TextEncoder().encode('a'.repeat(32)), publicKeyBytes]) {
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: api.auth.key.kid })
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(secret);
      await expectRefusal(token, 'token.alg_not_allowed');
    }
  });

  it('an algorithm outside ACCESS_TOKEN_ALGORITHMS (ES512): 401 token.alg_not_allowed', async () => {
    const key = await newSigningKey('ES512');
    api.auth.published = [...api.auth.published, key];
    await expectRefusal(await api.token('system/*.rs', { key }), 'token.alg_not_allowed');
  });

  it('a key embedded in the header (jwk, ATK-06) is never used: 401 token.key_unknown', async () => {
    const attacker = await newSigningKey('ES256');
    const token = await api.token('system/*.cruds', {
      key: attacker,
      header: { jwk: attacker.publicJwk, kid: attacker.kid },
    });
    await expectRefusal(token, 'token.key_unknown');
  });

  it('a forged signature under a published kid: 401 token.signature_invalid', async () => {
    const attacker = await newSigningKey('ES256');
    const token = await api.token('system/*.cruds', { key: attacker, header: { kid: api.auth.key.kid } });
    await expectRefusal(token, 'token.signature_invalid');
  });

  it('a payload altered after signing: 401 token.signature_invalid', async () => {
    const [header, , signature] = (await api.token('system/Patient.rs')).split('.');
    const payload = base64url.encode(
      JSON.stringify({
        iss: api.auth.url,
        aud: FHIR_BASE,
        sub: 'c',
        client_id: 'c',
        scope: 'system/*.cruds',
        exp: now() + 60,
        iat: now(),
        jti: 'x',
      }),
    );
    await expectRefusal(`${header}.${payload}.${signature}`, 'token.signature_invalid');
  });

  it('wrong iss: 401 token.wrong_issuer', async () => {
    await expectRefusal(
      await api.token('system/*.rs', { claims: { iss: 'https://evil.example' } }),
      'token.wrong_issuer',
    );
    await expectRefusal(
      await api.token('system/*.rs', { claims: { iss: `${api.auth.url}/` } }),
      'token.wrong_issuer',
    );
  });

  it('wrong aud (another resource server, the token endpoint, a case variant): 401 token.wrong_audience', async () => {
    for (const aud of [
      'https://other.example/fhir',
      `${api.auth.url}/token`,
      FHIR_BASE.toUpperCase(),
      `${FHIR_BASE}/`,
    ]) {
      await expectRefusal(await api.token('system/*.rs', { claims: { aud } }), 'token.wrong_audience');
    }
  });

  it('expired beyond the skew: 401 token.expired', async () => {
    const res = await expectRefusal(
      await api.token('system/*.rs', { claims: { exp: now() - 60, iat: now() - 360 } }),
      'token.expired',
    );
    expect(res.headers['www-authenticate']).toContain('error_description="token.expired: ');
  });

  it('nbf or iat in the future beyond the skew: 401 token.not_yet_valid', async () => {
    await expectRefusal(
      await api.token('system/*.rs', { claims: { nbf: now() + 120 } }),
      'token.not_yet_valid',
    );
    await expectRefusal(
      await api.token('system/*.rs', { claims: { iat: now() + 120 } }),
      'token.not_yet_valid',
    );
  });

  it.each(['exp', 'iat', 'jti', 'sub', 'client_id'])(
    'no %s claim: 401 token.claims_invalid',
    async (claim) => {
      await expectRefusal(
        await api.token('system/*.rs', { claims: { [claim]: undefined } }),
        'token.claims_invalid',
      );
    },
  );

  it('a scope claim that is not a string: 401 token.claims_invalid', async () => {
    await expectRefusal(
      await api.token('system/*.rs', { claims: { scope: ['system/*.rs'] } }),
      'token.claims_invalid',
    );
  });

  it('an unknown critical header (RFC 7515 §4.1.11): 401 token.malformed', async () => {
    const claims = {
      iss: api.auth.url,
      aud: FHIR_BASE,
      sub: 'c',
      client_id: 'c',
      scope: 'system/*.rs',
      exp: now() + 60,
      iat: now(),
      jti: 'crit',
    };
    const header = { alg: 'ES256', typ: 'at+jwt', kid: api.auth.key.kid };
    // The same signer without crit produces an accepted token, so only crit can be at fault.
    const plain = await signRawEs256(header, claims, api.auth.key);
    expect((await api.http().get('/fhir/Patient').set('Authorization', `Bearer ${plain}`)).status).toBe(200);
    const token = await signRawEs256({ ...header, crit: ['x-custom'], 'x-custom': 1 }, claims, api.auth.key);
    await expectRefusal(token, 'token.malformed');
  });
});

describe('a token in the URL (RFC 6750 §2.3, RS-07)', () => {
  it('is refused with 400 token.in_query and error="invalid_request", even with a valid header', async () => {
    const token = await api.token();
    const res = await api
      .http()
      .get(`/fhir/Patient?access_token=${token}`)
      .set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/^token\.in_query: /);
    expect(res.body.issue[0].code).toBe('security');
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_request"/);
    const alone = await api.http().get(`/fhir/Patient/123?access_token=${token}`);
    expect(alone.status).toBe(400);
  });

  it('is refused in a POST _search form body too', async () => {
    const token = await api.token();
    const res = await api
      .http()
      .post('/fhir/Patient/_search')
      .set('Authorization', `Bearer ${token}`)
      .type('form')
      .send(`access_token=${token}`);
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/^token\.in_query: /);
  });
});

describe('the issuer JWKS (jose remote key set)', () => {
  it('an unknown kid is refused; once the auth server publishes the key (rotation), a refetch finds it', async () => {
    const rotated = await newSigningKey('ES256');
    const token = await api.token('system/*.rs', { key: rotated });
    const fetchesBefore = api.auth.jwksFetches;
    await expectRefusal(token, 'token.key_unknown');
    expect(api.auth.jwksFetches).toBe(fetchesBefore + 1); // refetched once looking for the kid
    api.auth.published = [...api.auth.published, rotated];
    const res = await api.http().get('/fhir/Patient').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(api.auth.jwksFetches).toBe(fetchesBefore + 2);
  });

  it('within the cooldown an unknown kid does not trigger another fetch (ATK-20)', async () => {
    const cooled = await startTestApi({ verifier: { jwksCooldownMs: 600_000 } });
    try {
      const ok = await cooled
        .http()
        .get('/fhir/Patient')
        .set('Authorization', `Bearer ${await cooled.token()}`);
      expect(ok.status).toBe(200);
      expect(cooled.auth.jwksFetches).toBe(1);
      const unknown = await newSigningKey('ES256');
      const token = await cooled.token('system/*.rs', { key: unknown });
      for (let i = 0; i < 5; i++) {
        const res = await cooled.http().get('/fhir/Patient').set('Authorization', `Bearer ${token}`);
        expect(res.status).toBe(401);
      }
      expect(cooled.auth.jwksFetches).toBe(1);
    } finally {
      await cooled.close();
    }
  });

  it('an unreachable JWKS: 503 token.issuer_unavailable with Retry-After, no WWW-Authenticate', async () => {
    const down = await startTestApi();
    try {
      down.auth.jwksMode = 'unavailable';
      const res = await down
        .http()
        .get('/fhir/Patient')
        .set('Authorization', `Bearer ${await down.token()}`);
      expect(res.status).toBe(503);
      expect(res.body.issue[0].diagnostics).toMatch(/^token\.issuer_unavailable: /);
      expect(res.body.issue[0].code).toBe('transient');
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.headers['www-authenticate']).toBeUndefined();
    } finally {
      await down.close();
    }
  });
});

describe('verified tokens are cached until they expire', () => {
  it('a verified token keeps working without the JWKS, and is refused from the cache once expired', async () => {
    let clock = Date.now();
    const cached = await startTestApi({ verifier: { now: () => clock } });
    try {
      const token = await cached.token('system/*.rs', { claims: { exp: Math.floor(clock / 1000) + 60 } });
      expect((await cached.http().get('/fhir/Patient').set('Authorization', `Bearer ${token}`)).status).toBe(
        200,
      );
      cached.auth.jwksMode = 'unavailable';
      expect((await cached.http().get('/fhir/Patient').set('Authorization', `Bearer ${token}`)).status).toBe(
        200,
      );
      clock += 120_000;
      const res = await cached.http().get('/fhir/Patient').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(401);
      expect(res.body.issue[0].diagnostics).toMatch(/^token\.expired: /);
    } finally {
      await cached.close();
    }
  });
});
