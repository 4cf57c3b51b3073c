import {
  CLIENT_ASSERTION_TYPE,
  CLIENT_CREDENTIALS_GRANT,
  OAuthErrorBodySchema,
  TokenResponseSchema,
  type TokenResponse,
} from '@smart-backend/protocol';
import { checkClientId, createClientAssertion } from './assertion.js';
import { InvalidInputError, InvalidResponseError, TokenRequestError } from './errors.js';
import { describeUrl, parseJsonBody, sendRequest, type HttpResponse, type TransportOptions } from './http.js';
import { loadPrivateKey, type PrivateKeyInput } from './keys.js';
import { parseHttpUrl } from './urls.js';
import { describeSchemaProblem } from './validation.js';

export interface TokenRequestOptions extends TransportOptions {
  tokenUrl: string;
  clientId: string;
  /** PKCS#8 PEM, a private JWK, or a loaded {@link ClientSigningKey}. */
  key: PrivateKeyInput;
  /** Space-separated SMART scopes, e.g. `system/Patient.rs system/Observation.rs`. */
  scope: string;
  alg?: string;
  kid?: string;
  jku?: string;
  /** Assertion lifetime in seconds (1–300, default 300). */
  assertionLifetime?: number;
  clock?: () => number;
}

/**
 * One client_credentials token request (SMART Backend Services "Obtain access token", TREQ-01/02):
 * a form POST with a brand-new assertion. A connection failure or 5xx is retried with a *new*
 * assertion each time (the old one may have been consumed); 4xx never is.
 * Resolves to the validated token response; throws {@link TokenRequestError} for an RFC 6749 §5.2
 * refusal and {@link InvalidResponseError} for anything that is neither a token nor an OAuth error.
 */
export async function requestAccessToken(options: TokenRequestOptions): Promise<TokenResponse> {
  const url = parseHttpUrl(options.tokenUrl, 'the token URL');
  checkClientId(options.clientId);
  if (typeof options.scope !== 'string' || options.scope.trim() === '') {
    throw new InvalidInputError(
      'a scope is required (SMART backend services always send one), e.g. "system/*.rs"',
    );
  }
  const key = await loadPrivateKey(options.key, {
    ...(options.alg !== undefined && { alg: options.alg }),
    ...(options.kid !== undefined && { kid: options.kid }),
  });
  const response = await sendRequest(
    async () => {
      const assertion = await createClientAssertion({
        clientId: options.clientId,
        tokenUrl: options.tokenUrl,
        key,
        ...(options.jku !== undefined && { jku: options.jku }),
        ...(options.assertionLifetime !== undefined && { lifetime: options.assertionLifetime }),
        ...(options.clock !== undefined && { clock: options.clock }),
      });
      const form = new URLSearchParams({
        grant_type: CLIENT_CREDENTIALS_GRANT,
        scope: options.scope,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: assertion,
      });
      return {
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
      };
    },
    { retryable: true },
    options,
  );
  return parseTokenResponse(response, url);
}

/** TRESP-02: a 2xx must carry access_token, token_type bearer (any case), expires_in and scope. */
export function parseTokenResponse(response: HttpResponse, url: URL): TokenResponse {
  const where = `the token endpoint ${describeUrl(url)}`;
  const body = parseJsonBody(response, where);
  if (response.status >= 200 && response.status < 300) {
    const parsed = TokenResponseSchema.safeParse(body);
    if (!parsed.success) {
      throw new InvalidResponseError(
        `${where} answered HTTP ${response.status} with an invalid token response: ${describeSchemaProblem(parsed.error, body)}`,
        { status: response.status, url: response.url },
      );
    }
    return parsed.data;
  }
  throw refusalFrom(response, body, where);
}

function refusalFrom(response: HttpResponse, body: unknown, where: string): Error {
  const parsed = OAuthErrorBodySchema.safeParse(body);
  if (!parsed.success) {
    return new InvalidResponseError(
      `${where} answered HTTP ${response.status} without an OAuth error body (RFC 6749 §5.2)`,
      { status: response.status, url: response.url },
    );
  }
  return new TokenRequestError({
    status: response.status,
    error: parsed.data.error,
    errorDescription: parsed.data.error_description,
  });
}
