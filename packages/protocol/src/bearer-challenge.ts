/**
 * The `WWW-Authenticate: Bearer` challenge (RFC 6750 §3), written by the resource server and the
 * authorization server's admin endpoints and read by the client: one definition for both sides.
 */
export interface BearerChallenge {
  readonly realm?: string;
  /** RFC 6750 §3.1 error code (`invalid_token`, `insufficient_scope`, `invalid_request`). */
  readonly error?: string;
  readonly errorDescription?: string;
  /** RFC 6750 §3: the scope needed to access the resource. */
  readonly scope?: string;
}

/**
 * Header values are ASCII (RFC 9110 §5.5: anything else is opaque at best and is replaced or
 * refused by intermediaries), and RFC 6750 §3 narrows `error`, `error_description` and `scope` to
 * %x20-21 / %x23-5B / %x5D-7E: printable ASCII without `"` and `\`. Text that already fits passes
 * unchanged; otherwise `"` and `\` become `'` and anything else outside that range becomes `?`, so
 * the header is always valid. Callers keep their own texts ASCII, so nothing is lost for them.
 */
export function challengeText(text: string): string {
  return text.replace(/["\\]/g, "'").replace(/[^\x20-\x7E]/g, '?');
}

export function formatBearerChallenge(challenge: BearerChallenge): string {
  const parts: string[] = [];
  const add = (name: string, value: string | undefined) => {
    if (value !== undefined) parts.push(`${name}="${challengeText(value)}"`);
  };
  add('realm', challenge.realm);
  add('error', challenge.error);
  add('error_description', challenge.errorDescription);
  add('scope', challenge.scope);
  return parts.length === 0 ? 'Bearer' : `Bearer ${parts.join(', ')}`;
}

/**
 * The auth-params of a `WWW-Authenticate` value (RFC 9110 §11.6.1: token or quoted-string values,
 * the first occurrence of a name wins). Lenient: it reads what other servers send as well.
 */
export function parseBearerChallenge(header: string | undefined): BearerChallenge {
  if (!header) return {};
  const params = new Map<string, string>();
  const pattern = /([a-zA-Z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (const match of header.matchAll(pattern)) {
    const name = match[1]?.toLowerCase();
    if (name === undefined || params.has(name)) continue;
    params.set(name, match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? ''));
  }
  const realm = params.get('realm');
  const error = params.get('error');
  const errorDescription = params.get('error_description');
  const scope = params.get('scope');
  return {
    ...(realm !== undefined && { realm }),
    ...(error !== undefined && { error }),
    ...(errorDescription !== undefined && { errorDescription }),
    ...(scope !== undefined && { scope }),
  };
}
