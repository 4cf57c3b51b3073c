import {
  OAuthErrorBodySchema,
  RegistrationResponseSchema,
  checkPublicJwks,
  type PublicJwks,
  type RegistrationResponse,
} from '@smart-backend/protocol';
import { InvalidInputError, InvalidResponseError, RegistrationError } from './errors.js';
import { describeUrl, parseJsonBody, sendRequest, type TransportOptions } from './http.js';
import { parseHttpUrl, trimTrailingSlash } from './urls.js';
import { describeSchemaProblem } from './validation.js';

export interface RegisterClientOptions extends TransportOptions {
  /** The authorization server's base URL; the request goes to `{authUrl}/register`. */
  authUrl: string;
  /** The server's ADMIN_TOKEN, sent as a bearer token. */
  adminToken: string;
  /** The public JWK Set, by value (exactly one of jwks / jwksUri). */
  jwks?: PublicJwks;
  /** The https URL of the public JWK Set (REG-05: preferred; http only on loopback hosts). */
  jwksUri?: string;
  /** The scopes the client may ever receive, e.g. `system/*.rs`. */
  scope: string;
  clientName?: string;
}

/**
 * Registers a client at a smart-backend authorization server (`POST {authUrl}/register`, admin
 * bearer token). The JWK Set is checked locally first with the server's own rules, so a private or
 * symmetric key is never sent anywhere. Throws {@link RegistrationError} for a refusal.
 */
export async function registerClient(options: RegisterClientOptions): Promise<RegistrationResponse> {
  const base = trimTrailingSlash(parseHttpUrl(options.authUrl, 'the auth server URL'));
  if (typeof options.adminToken !== 'string' || options.adminToken === '') {
    throw new InvalidInputError('an admin token is required to register a client');
  }
  if ((options.jwks === undefined) === (options.jwksUri === undefined)) {
    throw new InvalidInputError('exactly one of jwks and jwksUri is required');
  }
  const jwks = options.jwks === undefined ? undefined : jwksToSend(options.jwks);
  if (options.jwksUri !== undefined) parseHttpUrl(options.jwksUri, 'jwks_uri');
  if (typeof options.scope !== 'string' || options.scope.trim() === '') {
    throw new InvalidInputError('a scope is required, e.g. "system/*.rs"');
  }
  const body = {
    ...(options.clientName !== undefined && { client_name: options.clientName }),
    ...(jwks !== undefined && { jwks }),
    ...(options.jwksUri !== undefined && { jwks_uri: options.jwksUri }),
    scope: options.scope,
  };
  const url = new URL(`${base}/register`);
  const response = await sendRequest(
    () => ({
      method: 'POST',
      url,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        authorization: `Bearer ${options.adminToken}`,
      },
      body: JSON.stringify(body),
    }),
    { retryable: false },
    options,
  );
  const where = `the registration endpoint ${describeUrl(url)}`;
  const answer = parseJsonBody(response, where);
  if (response.status >= 200 && response.status < 300) {
    const parsed = RegistrationResponseSchema.safeParse(answer);
    if (!parsed.success) {
      const clientId = (answer as { client_id?: unknown } | undefined)?.client_id;
      const note =
        typeof clientId === 'string' ? ` (the server may have registered client_id ${clientId})` : '';
      throw new InvalidResponseError(
        `${where} answered HTTP ${response.status} with an invalid registration response: ${describeSchemaProblem(parsed.error, answer)}${note}`,
        { status: response.status, url: response.url },
      );
    }
    return parsed.data;
  }
  const refusal = OAuthErrorBodySchema.safeParse(answer);
  if (!refusal.success) {
    throw new InvalidResponseError(`${where} answered HTTP ${response.status} without an OAuth error body`, {
      status: response.status,
      url: response.url,
    });
  }
  throw new RegistrationError({
    status: response.status,
    error: refusal.data.error,
    errorDescription: refusal.data.error_description,
  });
}

/**
 * The JWK Set exactly as it will be sent, checked. It is serialized once and parsed back, so the
 * check sees the very members the server will (no getters, nothing inherited), and refused if a
 * key is private or symmetric or if any member at any depth is named `__proto__`, `constructor` or
 * `prototype`: a private `d` inside `"__proto__": {…}` is not a member of the key to a
 * member-by-member check, yet becomes part of it on a server that copies members into `{}`.
 */
function jwksToSend(jwks: PublicJwks): PublicJwks {
  let wire: unknown;
  try {
    wire = JSON.parse(JSON.stringify(jwks)) as unknown;
  } catch {
    throw new InvalidInputError('the JWK Set cannot be registered: it is not JSON');
  }
  // The protocol's check refuses the prototype member names at any depth (jwks.malformed).
  const problem = checkPublicJwks(wire);
  if (problem)
    throw new InvalidInputError(`the JWK Set cannot be registered: ${problem.reason}: ${problem.message}`);
  return wire as PublicJwks;
}
