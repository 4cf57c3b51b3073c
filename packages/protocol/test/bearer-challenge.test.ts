import { describe, expect, it } from '@jest/globals';
import {
  REASONS,
  REASON_CODES,
  challengeText,
  formatBearerChallenge,
  parseBearerChallenge,
} from '../src/index.js';

const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;

describe('WWW-Authenticate: Bearer (RFC 6750 §3)', () => {
  it('is written with quoted realm, error, error_description and scope', () => {
    expect(
      formatBearerChallenge({
        realm: 'http://fhir.test/fhir',
        error: 'insufficient_scope',
        errorDescription: 'token.insufficient_scope: read of Patient needs system/Patient.r',
        scope: 'system/Patient.r',
      }),
    ).toBe(
      'Bearer realm="http://fhir.test/fhir", error="insufficient_scope", error_description="token.insufficient_scope: read of Patient needs system/Patient.r", scope="system/Patient.r"',
    );
    expect(formatBearerChallenge({ realm: 'smart-auth' })).toBe('Bearer realm="smart-auth"');
  });

  it('is always printable ASCII without " or \\ inside the quotes, whatever the text', () => {
    const hostile = 'a "quoted" \\ back § para – dash é\r\nX-Injected: 1\u0000\u{1F600}';
    const header = formatBearerChallenge({ realm: hostile, error: hostile, errorDescription: hostile });
    expect(header).toMatch(PRINTABLE_ASCII);
    expect(challengeText(hostile)).toMatch(/^[\x20\x21\x23-\x5B\x5D-\x7E]*$/);
    expect(parseBearerChallenge(header).errorDescription).toBe(challengeText(hostile));
  });

  it('every catalogue summary is printable ASCII', () => {
    for (const reason of REASON_CODES)
      expect([reason, REASONS[reason].summary]).toEqual([reason, expect.stringMatching(PRINTABLE_ASCII)]);
  });

  it('carries the summaries of challenge reasons (token.*, admin.*) unchanged: parse(format(x)) = x', () => {
    const challengeReasons = REASON_CODES.filter((r) => r.startsWith('token.') || r.startsWith('admin.'));
    expect(challengeReasons.length).toBeGreaterThan(15);
    for (const reason of challengeReasons) {
      const errorDescription = `${reason}: ${REASONS[reason].summary}`;
      const parsed = parseBearerChallenge(
        formatBearerChallenge({ realm: 'r', error: REASONS[reason].error, errorDescription }),
      );
      expect(parsed).toEqual({ realm: 'r', error: REASONS[reason].error, errorDescription });
    }
  });

  it.each([
    ['no header', undefined, {}],
    ['a bare scheme', 'Bearer', {}],
    ['token values', 'Bearer error=invalid_token', { error: 'invalid_token' }],
    [
      'commas, equals signs and an inner error= inside quotes',
      'Bearer realm="r", error="invalid_token", error_description="a, b=c, error=\\"x\\""',
      { realm: 'r', error: 'invalid_token', errorDescription: 'a, b=c, error="x"' },
    ],
    [
      'parameter names in any case (RFC 9110 §11.2)',
      'Bearer ERROR="x", Scope="a b"',
      { error: 'x', scope: 'a b' },
    ],
    ['the first of a repeated parameter', 'Bearer error="a", error="b"', { error: 'a' }],
    ['no space after commas', 'Bearer realm="r",error="e"', { realm: 'r', error: 'e' }],
  ])('reads %s', (_title, header, expected) => {
    expect(parseBearerChallenge(header)).toEqual(expected);
  });
});
