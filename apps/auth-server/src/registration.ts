import { createPublicKey, randomBytes, type JsonWebKey } from 'node:crypto';
import {
  CLIENT_CREDENTIALS_GRANT,
  OAuthError,
  RegistrationRequestSchema,
  problemFromZodError,
  type PublicJwk,
  type PublicJwks,
  type RegistrationResponse,
} from '@smart-backend/protocol';
import type { ClientRecord, ClientStore } from './store/interfaces.js';

/**
 * Client registration (SMART CCA "Registering a client", RFC 7591 names). The body is validated
 * by the protocol's RegistrationRequestSchema: no member named `__proto__`, `constructor` or
 * `prototype` anywhere, exactly one of jwks / jwks_uri, public RSA or EC keys only (no private or
 * symmetric keys; RSA ≥ 2048 bits with an odd modulus free of small factors and an odd exponent
 * ≥ 65537; one algorithm per key), jwks_uri https (http on loopback only), system/ scopes only.
 */
export async function registerClient(
  body: unknown,
  store: ClientStore,
  nowEpochSeconds: number,
): Promise<ClientRecord> {
  const parsed = RegistrationRequestSchema.safeParse(body);
  if (!parsed.success) {
    const problem = problemFromZodError(parsed.error, 'registration.invalid_metadata');
    throw new OAuthError(problem.reason, problem.message);
  }
  const request = parsed.data;
  const client: ClientRecord = {
    clientId: newClientId(),
    ...(request.client_name !== undefined && { clientName: request.client_name }),
    ...(request.jwks !== undefined && { jwks: usablePublicJwks(request.jwks as PublicJwks) }),
    ...(request.jwks_uri !== undefined && { jwksUri: request.jwks_uri }),
    scope: request.scope.split(' ').filter(Boolean).join(' '),
    createdAt: nowEpochSeconds,
    disabledAt: null,
  };
  await store.create(client);
  return client;
}

/** The public members a registered key is stored and served with; anything else (x5c, ext, …) is dropped. */
const KEPT_MEMBERS = ['kty', 'kid', 'alg', 'use', 'key_ops', 'n', 'e', 'crv', 'x', 'y'] as const;

/**
 * REG-12, KEY-08: every key must be importable — an EC point on its curve, an RSA modulus and
 * exponent that form a key — so that a registration which could never authenticate is refused
 * now, not at every token request. The stored set keeps only the members this server uses.
 */
function usablePublicJwks(jwks: PublicJwks): PublicJwks {
  return {
    keys: jwks.keys.map((jwk, index) => {
      try {
        createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
      } catch {
        throw new OAuthError(
          jwk.kty === 'EC' ? 'jwks.ec_point_invalid' : 'jwks.malformed',
          jwk.kty === 'EC'
            ? `keys[${index}]: the point (x, y) is not on curve ${String(jwk.crv)}`
            : `keys[${index}]: n and e do not form an RSA public key`,
        );
      }
      // Fixed names only (the schema refused prototype names anywhere in the body).
      return Object.fromEntries(
        KEPT_MEMBERS.filter((member) => jwk[member] !== undefined).map((member) => [member, jwk[member]]),
      ) as PublicJwk;
    }),
  };
}

/** 144 random bits, base64url: unguessable, so a precise error_description reveals nothing useful. */
export function newClientId(): string {
  return randomBytes(18).toString('base64url');
}

/** The RFC 7591 §3.2.1 shape, used by POST /register (201) and GET/DELETE /clients/:id (200). */
export function registrationResponse(client: ClientRecord): RegistrationResponse & { disabled_at?: number } {
  return {
    client_id: client.clientId,
    ...(client.clientName !== undefined && { client_name: client.clientName }),
    ...(client.jwks !== undefined && { jwks: client.jwks }),
    ...(client.jwksUri !== undefined && { jwks_uri: client.jwksUri }),
    scope: client.scope,
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: [CLIENT_CREDENTIALS_GRANT],
    client_id_issued_at: client.createdAt,
    status: client.disabledAt === null ? 'active' : 'disabled',
    ...(client.disabledAt !== null && { disabled_at: client.disabledAt }),
  };
}
