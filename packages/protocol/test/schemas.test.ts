import { describe, expect, it } from '@jest/globals';
import {
  AccessTokenClaimsSchema,
  AccessTokenHeaderSchema,
  IntrospectionRequestSchema,
  IntrospectionResponseSchema,
  OAuthErrorBodySchema,
  RegistrationRequestSchema,
  RegistrationResponseSchema,
  SmartConfigurationSchema,
  TokenRequestSchema,
  TokenResponseSchema,
  parseClientAssertionClaims,
  parseClientAssertionHeader,
  problemFromZodError,
  CLIENT_ASSERTION_TYPE,
  type ReasonCode,
} from '../src/index.js';

const now = 1_800_000_000;
const claims = {
  iss: 'client-1',
  sub: 'client-1',
  aud: 'https://auth.example/token',
  exp: now + 300,
  jti: 'a'.repeat(32),
};

describe('client assertion header (SMART CCA header table)', () => {
  it('accepts the SMART header and ignores unknown members (BDT sends kty)', () => {
    const result = parseClientAssertionHeader({
      alg: 'RS384',
      kid: 'k1',
      typ: 'JWT',
      jku: 'https://c.example/jwks',
      kty: 'RSA',
    });
    expect(result.ok).toBe(true);
  });
  it('accepts a header without typ (openid-client default)', () => {
    expect(parseClientAssertionHeader({ alg: 'ES384', kid: 'k1' }).ok).toBe(true);
  });
  const bad: Array<[string, unknown, ReasonCode]> = [
    ['kid missing (ATK-17)', { alg: 'RS384' }, 'assertion.kid_missing'],
    ['kid not a string', { alg: 'RS384', kid: 7 }, 'assertion.kid_invalid'],
    ['kid of 10 kB (ATK-08/20)', { alg: 'RS384', kid: 'x'.repeat(10_000) }, 'assertion.kid_invalid'],
    ['alg missing', { kid: 'k' }, 'assertion.alg_not_allowed'],
    ['crit not an array', { alg: 'RS384', kid: 'k', crit: 'b64' }, 'assertion.crit_unsupported'],
    ['not an object', 'JWT', 'assertion.malformed'],
  ];
  it.each(bad)('refuses %s', (_t, header, reason) => {
    const result = parseClientAssertionHeader(header);
    expect(result).toMatchObject({ ok: false, reason });
  });
});

describe('client assertion claims (SMART CCA claims table, RFC 7523 §3)', () => {
  it('accepts the SMART claims, with iat and nbf or without', () => {
    expect(parseClientAssertionClaims(claims).ok).toBe(true);
    expect(parseClientAssertionClaims({ ...claims, iat: now, nbf: now }).ok).toBe(true);
    expect(parseClientAssertionClaims({ ...claims, aud: [claims.aud] }).ok).toBe(true);
  });
  it('accepts non-integer NumericDates (RFC 7519 §2: "can be non-integer") and keeps their value', () => {
    const result = parseClientAssertionClaims({ ...claims, exp: now + 0.5, iat: now - 0.25, nbf: 1e-3 });
    expect(result).toMatchObject({ ok: true, value: { exp: now + 0.5, iat: now - 0.25, nbf: 1e-3 } });
  });
  const without = (name: keyof typeof claims) => {
    const copy: Record<string, unknown> = { ...claims };
    delete copy[name];
    return copy;
  };
  const bad: Array<[string, unknown, ReasonCode]> = [
    ['iss missing', without('iss'), 'assertion.iss_missing'],
    ['sub missing', without('sub'), 'assertion.sub_missing'],
    ['aud missing', without('aud'), 'assertion.aud_missing'],
    ['exp missing', without('exp'), 'assertion.exp_missing'],
    ['jti missing', without('jti'), 'assertion.jti_missing'],
    [
      'aud with two values (ATK-12 audience injection)',
      { ...claims, aud: ['https://evil.example', claims.aud] },
      'assertion.aud_multiple',
    ],
    ['aud an empty array', { ...claims, aud: [] }, 'assertion.aud_invalid'],
    ['aud a number', { ...claims, aud: 42 }, 'assertion.aud_invalid'],
    ['exp a string (ATK-14)', { ...claims, exp: String(now + 300) }, 'assertion.exp_invalid'],
    ['exp negative', { ...claims, exp: -1 }, 'assertion.exp_invalid'],
    ['exp 1e308', { ...claims, exp: 1e308 }, 'assertion.exp_invalid'],
    ['exp 2^63', { ...claims, exp: 2 ** 63 }, 'assertion.exp_invalid'],
    ['nbf a string', { ...claims, nbf: 'now' }, 'assertion.nbf_invalid'],
    ['iat Infinity (JSON 1e400)', { ...claims, iat: JSON.parse('1e400') as number }, 'assertion.iat_invalid'],
    [
      'exp -Infinity (JSON -1e400)',
      { ...claims, exp: JSON.parse('-1e400') as number },
      'assertion.exp_invalid',
    ],
    ['exp NaN', { ...claims, exp: Number.NaN }, 'assertion.exp_invalid'],
    ['nbf negative', { ...claims, nbf: -0.5 }, 'assertion.nbf_invalid'],
    ['exp a boolean', { ...claims, exp: true }, 'assertion.exp_invalid'],
    ['exp null', { ...claims, exp: null }, 'assertion.exp_invalid'],
    ['jti empty', { ...claims, jti: '' }, 'assertion.jti_invalid'],
    ['jti of 10 kB', { ...claims, jti: 'j'.repeat(10_000) }, 'assertion.jti_invalid'],
    ['jti a number', { ...claims, jti: 12 }, 'assertion.jti_invalid'],
    ['iss empty', { ...claims, iss: '' }, 'assertion.iss_missing'],
    ['not an object', [claims], 'assertion.malformed'],
  ];
  it.each(bad)('refuses %s', (_t, value, reason) => {
    expect(parseClientAssertionClaims(value)).toMatchObject({ ok: false, reason });
  });
});

describe('token request and response', () => {
  const form = {
    grant_type: 'client_credentials',
    scope: 'system/*.rs',
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: 'a.b.c',
  };
  it('accepts the SMART form, with or without client_id', () => {
    expect(TokenRequestSchema.safeParse(form).success).toBe(true);
    expect(TokenRequestSchema.safeParse({ ...form, client_id: 'c' }).success).toBe(true);
  });
  it.each([
    ['password grant', { ...form, grant_type: 'password' }],
    [
      'another assertion type',
      { ...form, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' },
    ],
    ['no scope', { ...form, scope: undefined }],
    ['an oversized assertion', { ...form, client_assertion: 'x'.repeat(20_000) }],
  ])('refuses %s', (_t, value) => {
    expect(TokenRequestSchema.safeParse(value).success).toBe(false);
  });

  it('accepts bearer in any case (TRESP-02) and requires all four members', () => {
    const ok = { access_token: 't', token_type: 'Bearer', expires_in: 300, scope: 'system/*.rs' };
    expect(TokenResponseSchema.safeParse(ok).success).toBe(true);
    expect(TokenResponseSchema.safeParse({ ...ok, token_type: 'mac' }).success).toBe(false);
    expect(TokenResponseSchema.safeParse({ ...ok, expires_in: '300' }).success).toBe(false);
    expect(TokenResponseSchema.safeParse({ ...ok, scope: undefined }).success).toBe(false);
    expect(TokenResponseSchema.safeParse({ ...ok, access_token: '' }).success).toBe(false);
  });

  it('OAuth error body: error required, error_uri an http(s) URL', () => {
    expect(OAuthErrorBodySchema.safeParse({ error: 'invalid_client', error_description: 'x' }).success).toBe(
      true,
    );
    expect(OAuthErrorBodySchema.safeParse({ error_description: 'x' }).success).toBe(false);
    expect(
      OAuthErrorBodySchema.safeParse({ error: 'invalid_client', error_uri: 'javascript:alert(1)' }).success,
    ).toBe(false);
  });
});

describe('.well-known/smart-configuration', () => {
  it('needs an absolute token_endpoint; the rest is typed when present', () => {
    expect(SmartConfigurationSchema.safeParse({ token_endpoint: 'https://a.example/token' }).success).toBe(
      true,
    );
    expect(SmartConfigurationSchema.safeParse({ token_endpoint: '/token' }).success).toBe(false);
    expect(SmartConfigurationSchema.safeParse({}).success).toBe(false);
    expect(
      SmartConfigurationSchema.safeParse({
        token_endpoint: 'https://a.example/token',
        capabilities: 'permission-v2',
      }).success,
    ).toBe(false);
  });
});

describe('introspection', () => {
  it('request needs a token', () => {
    expect(IntrospectionRequestSchema.safeParse({ token: 'abc' }).success).toBe(true);
    expect(IntrospectionRequestSchema.safeParse({ token: '' }).success).toBe(false);
  });
  it('an inactive response says nothing else (RFC 7662 §2.2, INT-06)', () => {
    expect(IntrospectionResponseSchema.safeParse({ active: false }).success).toBe(true);
    expect(IntrospectionResponseSchema.safeParse({ active: false, client_id: 'c' }).success).toBe(false);
  });
  it('an active response carries scope, client_id and exp (INT-04)', () => {
    expect(
      IntrospectionResponseSchema.safeParse({ active: true, scope: 's', client_id: 'c', exp: now }).success,
    ).toBe(true);
    expect(IntrospectionResponseSchema.safeParse({ active: true, scope: 's', exp: now }).success).toBe(false);
  });
});

describe('registration', () => {
  const jwks = {
    keys: [
      {
        kty: 'EC',
        crv: 'P-384',
        kid: 'k1',
        x: 'q9ScZbKWZX2CzwfRbqr2Tu4F7XhU1GnVvLPvOM1v8ImSqaOJvi8hZzS4XvGRS7kN',
        y: 'xyyzHTxK6NcnDpXHPgZIhfL0RPmbUIqN0xZmCRjBqIi8UMmdNbuq3lbpsLTAWTry',
      },
    ],
  };
  const reason = (value: unknown): ReasonCode | undefined => {
    const result = RegistrationRequestSchema.safeParse(value);
    return result.success
      ? undefined
      : problemFromZodError(result.error, 'registration.invalid_metadata').reason;
  };

  it('accepts jwks by value or a jwks_uri', () => {
    expect(reason({ client_name: 'lab feed', jwks, scope: 'system/*.rs' })).toBeUndefined();
    expect(
      reason({ jwks_uri: 'https://client.example/jwks.json', scope: 'system/Patient.read' }),
    ).toBeUndefined();
    expect(
      reason({ jwks_uri: 'http://127.0.0.1:8080/jwks.json', scope: 'system/Patient.read' }),
    ).toBeUndefined();
    expect(
      reason({ jwks_uri: 'http://localhost:8080/jwks.json', scope: 'system/Patient.read' }),
    ).toBeUndefined();
  });
  it.each([
    [
      'both jwks and jwks_uri',
      { jwks, jwks_uri: 'https://c.example/jwks', scope: 'system/*.rs' },
      'registration.jwks_source',
    ],
    ['neither', { scope: 'system/*.rs' }, 'registration.jwks_source'],
    [
      'http jwks_uri on a public host',
      { jwks_uri: 'http://client.example/jwks', scope: 'system/*.rs' },
      'registration.jwks_uri_invalid',
    ],
    [
      'a file: jwks_uri',
      { jwks_uri: 'file:///etc/passwd', scope: 'system/*.rs' },
      'registration.jwks_uri_invalid',
    ],
    [
      'a jwks_uri with credentials',
      { jwks_uri: 'https://u:p@c.example/jwks', scope: 'system/*.rs' },
      'registration.jwks_uri_invalid',
    ],
    [
      'a relative jwks_uri',
      { jwks_uri: '/jwks.json', scope: 'system/*.rs' },
      'registration.jwks_uri_invalid',
    ],
    [
      'a private key',
      { jwks: { keys: [{ ...jwks.keys[0], d: 'AAAA' }] }, scope: 'system/*.rs' },
      'jwks.private_key',
    ],
    ['patient/ scopes', { jwks, scope: 'patient/*.rs' }, 'registration.scope_invalid'],
    ['an unknown resource type', { jwks, scope: 'system/Foo.rs' }, 'registration.scope_invalid'],
    ['launch', { jwks, scope: 'system/*.rs launch' }, 'registration.scope_invalid'],
    ['no scope', { jwks }, 'registration.invalid_metadata'],
    [
      'another auth method',
      { jwks, scope: 'system/*.rs', token_endpoint_auth_method: 'client_secret_basic' },
      'registration.invalid_metadata',
    ],
    [
      'another grant type',
      { jwks, scope: 'system/*.rs', grant_types: ['authorization_code'] },
      'registration.invalid_metadata',
    ],
  ])('refuses %s', (_t, value, expected) => {
    expect(reason(value)).toBe(expected);
  });

  // Built as JSON text: an object literal's __proto__ sets the prototype instead of a member.
  const key = JSON.stringify(jwks.keys[0]);
  it.each([
    [
      '__proto__ at the top',
      `{"__proto__":{"jwks_uri":"http://evil.example/"},"jwks":{"keys":[${key}]},"scope":"system/*.rs"}`,
    ],
    ['constructor at the top', `{"constructor":{},"jwks":{"keys":[${key}]},"scope":"system/*.rs"}`],
    ['__proto__ in jwks', `{"jwks":{"keys":[${key}],"__proto__":{}},"scope":"system/*.rs"}`],
    ['prototype in a key', `{"jwks":{"keys":[${key.slice(0, -1)},"prototype":1}]},"scope":"system/*.rs"}`],
    [
      '__proto__ deep in an unknown member',
      `{"jwks":{"keys":[${key}]},"scope":"system/*.rs","x":[[{"y":{"__proto__":null}}]]}`,
    ],
    ['an escaped \\u005f_proto__', `{"jwks":{"keys":[${key}]},"scope":"system/*.rs","\\u005f_proto__":1}`],
  ])('refuses a member named __proto__, constructor or prototype: %s', (_t, text) => {
    const value: unknown = JSON.parse(text);
    const result = RegistrationRequestSchema.safeParse(value);
    expect(result.success).toBe(false);
    expect(result.error && problemFromZodError(result.error, 'jwks.empty').reason).toBe(
      'registration.invalid_metadata',
    );
  });

  it('response shape', () => {
    const response = {
      client_id: 'abc',
      scope: 'system/*.rs',
      jwks,
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      client_id_issued_at: now,
      status: 'active',
    };
    expect(RegistrationResponseSchema.safeParse(response).success).toBe(true);
    expect(RegistrationResponseSchema.safeParse({ ...response, status: 'deleted' }).success).toBe(false);
  });
});

describe('access tokens (RFC 9068)', () => {
  it('header typ must be at+jwt (ATK-11: an assertion typ JWT is not an access token)', () => {
    expect(AccessTokenHeaderSchema.safeParse({ alg: 'ES256', kid: 'k', typ: 'at+jwt' }).success).toBe(true);
    expect(
      AccessTokenHeaderSchema.safeParse({ alg: 'ES256', kid: 'k', typ: 'application/at+jwt' }).success,
    ).toBe(true);
    expect(AccessTokenHeaderSchema.safeParse({ alg: 'ES256', kid: 'k', typ: 'JWT' }).success).toBe(false);
    expect(AccessTokenHeaderSchema.safeParse({ alg: 'ES256', kid: 'k' }).success).toBe(false);
  });
  it.each([['AT+JWT'], ['Application/At+Jwt'], ['APPLICATION/AT+JWT']])(
    'header typ %s is at+jwt in another case (RFC 9068 §4, RFC 7515 §4.1.9)',
    (typ) => {
      expect(AccessTokenHeaderSchema.safeParse({ alg: 'ES256', kid: 'k', typ }).success).toBe(true);
    },
  );
  it('claims may carry non-integer NumericDates (RFC 7519 §2)', () => {
    const claims = {
      iss: 'i',
      sub: 'c',
      aud: 'a',
      exp: now + 0.5,
      iat: now - 0.5,
      jti: 'j',
      client_id: 'c',
      scope: '',
    };
    expect(AccessTokenClaimsSchema.safeParse(claims).success).toBe(true);
    expect(AccessTokenClaimsSchema.safeParse({ ...claims, exp: JSON.parse('1e400') as number }).success).toBe(
      false,
    );
  });
  it('claims need iss, sub, aud, exp, iat, jti, client_id and scope', () => {
    const ok = {
      iss: 'i',
      sub: 'c',
      aud: 'https://fhir.example/fhir',
      exp: now,
      iat: now,
      jti: 'j',
      client_id: 'c',
      scope: 'system/*.rs',
    };
    expect(AccessTokenClaimsSchema.safeParse(ok).success).toBe(true);
    for (const member of Object.keys(ok)) {
      const copy: Record<string, unknown> = { ...ok };
      delete copy[member];
      expect(AccessTokenClaimsSchema.safeParse(copy).success).toBe(false);
    }
  });
});
