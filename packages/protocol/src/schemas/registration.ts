import { z } from 'zod';
import { CLIENT_CREDENTIALS_GRANT } from '../constants.js';
import { parseScopeList } from '../scopes/parse.js';
import { findPrototypeMember } from '../json-members.js';
import { OAuthError } from '../oauth-error.js';
import { PublicJwksSchema, type PublicJwks } from './jwks.js';
import { reasonParam, type Problem } from './problem.js';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** True for hosts that never leave the machine (http is tolerated only there). */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** SMART CCA: a registered JWKS URL is https (http only on loopback hosts, for development and tests). */
export function checkJwksUri(value: string): Problem | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { reason: 'registration.jwks_uri_invalid', message: 'jwks_uri is not an absolute URL' };
  }
  if (url.username || url.password)
    return { reason: 'registration.jwks_uri_invalid', message: 'jwks_uri must not carry credentials' };
  if (url.hash)
    return { reason: 'registration.jwks_uri_invalid', message: 'jwks_uri must not have a fragment' };
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return undefined;
  return {
    reason: 'registration.jwks_uri_invalid',
    message: 'jwks_uri must use https (http is allowed only on loopback hosts)',
  };
}

/** Registered scopes: valid SMART scopes, `system/` only (backend services have no launch context). */
export function checkRegisteredScope(value: string): Problem | undefined {
  try {
    const { scopes, rejected } = parseScopeList(value);
    const bad = rejected[0];
    if (bad) return { reason: 'registration.scope_invalid', message: bad.message };
    const notSystem = scopes.find((s) => s.context !== 'system');
    if (notSystem)
      return {
        reason: 'registration.scope_invalid',
        message: 'only system/ scopes can be registered for a backend service',
      };
    return undefined;
  } catch (error) {
    if (error instanceof OAuthError)
      return { reason: 'registration.scope_invalid', message: error.description };
    throw error;
  }
}

const JwksUriSchema = z.string().superRefine((value, ctx) => {
  const found = checkJwksUri(value);
  if (found) ctx.addIssue({ code: 'custom', message: found.message, params: reasonParam(found.reason) });
});

const RegisteredScopeSchema = z.string().superRefine((value, ctx) => {
  const found = checkRegisteredScope(value);
  if (found) ctx.addIssue({ code: 'custom', message: found.message, params: reasonParam(found.reason) });
});

/**
 * `POST /register` body: RFC 7591 names, SMART semantics. Exactly one of `jwks` / `jwks_uri`.
 * RFC 7591 members a generic client may add are accepted only with the values this flow allows.
 * A member named `__proto__`, `constructor` or `prototype` anywhere is refused first: zod would
 * drop such a member silently, and what is validated must be what is stored.
 */
export const RegistrationRequestSchema = z
  .unknown()
  .superRefine((value, ctx) => {
    const found = findPrototypeMember(value);
    if (found) {
      ctx.addIssue({
        code: 'custom',
        message: `the member name ${JSON.stringify(found.name)} (at ${found.path}) is refused`,
        params: reasonParam('registration.invalid_metadata'),
      });
    }
  })
  .pipe(
    z
      .object({
        client_name: z.string().min(1).max(200).optional(),
        jwks: PublicJwksSchema.optional(),
        jwks_uri: JwksUriSchema.optional(),
        scope: RegisteredScopeSchema,
        token_endpoint_auth_method: z.literal('private_key_jwt').optional(),
        grant_types: z.tuple([z.literal(CLIENT_CREDENTIALS_GRANT)]).optional(),
      })
      .loose()
      .superRefine((value, ctx) => {
        if ((value.jwks === undefined) === (value.jwks_uri === undefined)) {
          ctx.addIssue({
            code: 'custom',
            message: 'exactly one of jwks and jwks_uri is required',
            params: reasonParam('registration.jwks_source'),
          });
        }
      }),
  );
export type RegistrationRequest = z.infer<typeof RegistrationRequestSchema> & { jwks?: PublicJwks };

/** `POST /register` 201 body and `GET /clients/:id` body. */
export const RegistrationResponseSchema = z
  .object({
    client_id: z.string().min(1),
    client_name: z.string().optional(),
    jwks: z.custom<PublicJwks>().optional(),
    jwks_uri: z.string().optional(),
    scope: z.string(),
    token_endpoint_auth_method: z.literal('private_key_jwt'),
    grant_types: z.tuple([z.literal(CLIENT_CREDENTIALS_GRANT)]),
    client_id_issued_at: z.number().int(),
    status: z.enum(['active', 'disabled']),
  })
  .loose();
export type RegistrationResponse = z.infer<typeof RegistrationResponseSchema>;
