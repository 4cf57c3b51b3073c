/**
 * RFC 7515 §4.1.9: `typ` is a media type; "application/" may be omitted, and a recipient treats a
 * value without a "/" as if "application/" were prepended. Media types compare case-insensitively
 * (RFC 2045 §5.1, RFC 6838 §4.2). So `JWT`, `jwt` and `application/jwt` are one type, and
 * `at+jwt` and `Application/AT+JWT` another (RFC 9068 §4).
 *
 * Only a bare type (RFC 6838 §4.2 restricted-name characters, at most one "/") is recognised:
 * parameters (`JWT; x=y`), whitespace and anything else make the value match nothing. Neither
 * kind of token this project handles is ever sent with parameters, and a value read two ways by
 * two parsers is exactly what a `typ` check must not allow.
 */
const BARE_MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*)?$/;

/** The media type a `typ` value names, in lower case, or undefined when it is not a bare media type. */
export function typMediaType(typ: string): string | undefined {
  if (!BARE_MEDIA_TYPE.test(typ)) return undefined;
  const lower = typ.toLowerCase();
  return lower.includes('/') ? lower : `application/${lower}`;
}

/** True when `typ` names the media type `expected` (given without "application/", e.g. `jwt`, `at+jwt`). */
export function typMatches(typ: unknown, expected: 'jwt' | 'at+jwt'): boolean {
  return typeof typ === 'string' && typMediaType(typ) === `application/${expected}`;
}
