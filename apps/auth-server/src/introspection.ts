import { AccessTokenClaimsSchema, OAuthError, type IntrospectionResponse } from '@smart-backend/protocol';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { SigningKeyRing } from './signing/signing-keys.js';
import type { ClientStore } from './store/interfaces.js';

export interface IntrospectionContext {
  readonly issuer: string;
  readonly signingKeys: SigningKeyRing;
  readonly clients: ClientStore;
  /** Epoch milliseconds. */
  readonly now: () => number;
}

const INACTIVE: IntrospectionResponse = { active: false };

/**
 * RFC 7662 §2.2 + SMART "Token Introspection": active only for an access token this server signed
 * with a key it still publishes, `typ` at+jwt, `iss` this server, not expired, whose client exists
 * and is enabled (disabling a client deactivates its live tokens). Anything else is
 * `{ "active": false }` and nothing more (INT-06).
 */
export async function introspectToken(
  token: string,
  ctx: IntrospectionContext,
): Promise<IntrospectionResponse> {
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return INACTIVE;
  }
  const key = kid === undefined ? undefined : ctx.signingKeys.published(kid);
  if (!key) return INACTIVE;

  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, key.verifier.key, {
      algorithms: [key.alg],
      typ: 'at+jwt',
      issuer: ctx.issuer,
      currentDate: new Date(ctx.now()),
      requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id', 'scope'],
    }));
  } catch {
    return INACTIVE;
  }
  const claims = AccessTokenClaimsSchema.safeParse(payload);
  if (!claims.success || claims.data.sub !== claims.data.client_id) return INACTIVE;

  let client;
  try {
    client = await ctx.clients.get(claims.data.client_id);
  } catch (error) {
    throw new OAuthError('server.unavailable', 'the client store is unavailable', { cause: error });
  }
  if (!client || client.disabledAt !== null) return INACTIVE;

  const { scope, client_id, exp, iat, sub, iss, aud, jti } = claims.data;
  return { active: true, scope, client_id, exp, iat, sub, iss, aud, jti, token_type: 'Bearer' };
}
