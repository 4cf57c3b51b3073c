import { OAuthError, decodeBase64url, isPrototypeMemberName } from '@smart-backend/protocol';

/**
 * Strict JWS Compact Serialization (RFC 7515 §7.1) for client assertions (RFC 7523 §2.2, VAL-08,
 * ATK-18, ATK-19): exactly three canonical base64url segments; header and payload are UTF-8 JSON
 * objects with no repeated member names and none named `__proto__`, `constructor` or `prototype`;
 * no JWE, no JSON serialization, no BOM, bounded nesting.
 */
export interface CompactJws {
  /** `BASE64URL(header) || '.' || BASE64URL(payload)`: what the signature covers. */
  readonly signingInput: string;
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  readonly signature: Uint8Array;
}

/** Deeper than any honest JOSE header or claims set (ATK-20: deeply nested JSON). */
export const MAX_JSON_DEPTH = 16;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const malformed = (message: string) => new OAuthError('assertion.malformed', message);

export function parseCompactJws(text: string): CompactJws {
  const segments = text.split('.');
  if (segments.length === 5) {
    throw malformed(
      'the client assertion has 5 segments (a JWE); only a signed JWT (compact JWS) is accepted',
    );
  }
  if (segments.length !== 3) {
    throw malformed(
      `a compact JWS has exactly 3 dot-separated segments; the client assertion has ${segments.length}`,
    );
  }
  const [headerSegment = '', payloadSegment = '', signatureSegment = ''] = segments;
  const header = decodeJsonSegment(headerSegment, 'header');
  const payload = decodeJsonSegment(payloadSegment, 'payload');
  const signature = decodeBase64url(signatureSegment);
  if (!signature)
    throw malformed('the signature segment is not canonical base64url (RFC 4648 §5, no padding)');
  return { signingInput: `${headerSegment}.${payloadSegment}`, header, payload, signature };
}

function decodeJsonSegment(segment: string, what: 'header' | 'payload'): Record<string, unknown> {
  if (segment.length === 0) throw malformed(`the ${what} segment is empty`);
  const bytes = decodeBase64url(segment);
  if (!bytes) throw malformed(`the ${what} segment is not canonical base64url (RFC 4648 §5, no padding)`);
  let json: string;
  try {
    json = utf8.decode(bytes);
  } catch {
    throw malformed(`the ${what} is not valid UTF-8`);
  }
  return parseStrictJsonObject(json, what);
}

/**
 * JSON.parse plus what it does not check: the value is an object, no object repeats a member name
 * (compared after unescaping, so "alg" and "\u0061lg" collide), no member is named `__proto__`,
 * `constructor` or `prototype` at any depth, nesting is bounded. The header and claims are then
 * read both raw (crit, jwk, …) and through zod, which drops an own `__proto__` member: refusing
 * those names keeps every reader looking at the same members.
 */
export function parseStrictJsonObject(json: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw malformed(
      `the ${what} is not JSON${json.charCodeAt(0) === 0xfeff ? ' (it starts with a byte order mark)' : ''}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(`the ${what} is not a JSON object`);
  }
  checkMemberNames(json, what);
  return value as Record<string, unknown>;
}

/**
 * Walks JSON text that JSON.parse has already accepted, member name by member name (unescaped):
 * refuses a name repeated within one object, a prototype name (see json-members in the protocol
 * package), and nesting deeper than {@link MAX_JSON_DEPTH}.
 */
function checkMemberNames(json: string, what: string): void {
  // One entry per open container: the member names seen so far (object) or null (array).
  const stack: Array<Set<string> | null> = [];
  let expectingName = false;
  for (let i = 0; i < json.length; i++) {
    const ch = json.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      let end = i + 1;
      while (end < json.length && json.charCodeAt(end) !== 0x22) end += json.charCodeAt(end) === 0x5c ? 2 : 1;
      const names = stack[stack.length - 1];
      if (expectingName && names) {
        const raw = json.slice(i + 1, end);
        const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (isPrototypeMemberName(name)) {
          throw malformed(`the ${what} has a member named ${JSON.stringify(name)}, which is refused`);
        }
        if (names.has(name)) {
          throw new OAuthError(
            'assertion.duplicate_member',
            `the ${what} repeats the member name ${JSON.stringify(name.slice(0, 64))}`,
          );
        }
        names.add(name);
        expectingName = false;
      }
      i = end;
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      if (stack.length >= MAX_JSON_DEPTH)
        throw malformed(`JSON nesting deeper than ${MAX_JSON_DEPTH} levels`);
      stack.push(ch === 0x7b ? new Set() : null);
      expectingName = ch === 0x7b;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
      expectingName = false;
    } else if (ch === 0x2c /* , */) {
      expectingName = stack[stack.length - 1] instanceof Set;
    }
  }
}
