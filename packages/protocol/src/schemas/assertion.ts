import { z } from 'zod';
import { MAX_CLIENT_ID_LENGTH, MAX_JTI_LENGTH, MAX_KID_LENGTH } from '../constants.js';
import type { ReasonCode } from '../reasons.js';
import type { Checked } from './problem.js';

/**
 * RFC 7519 §2 NumericDate: seconds since the epoch, which "can be non-integer" — so any finite
 * number from 0 to 2^53 - 1 (zod 4's number refuses NaN and ±Infinity, which JSON.parse makes of
 * 1e400). Compared as numbers; never rounded towards acceptance.
 */
export const NumericDateSchema = z.number().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * Client assertion JOSE header (SMART CCA header table). Unknown members are kept and ignored
 * (BDT sends a non-standard `kty`); `crit`, `jwk`, `x5c` and `x5u` are judged by the server.
 */
export const ClientAssertionHeaderSchema = z
  .object({
    alg: z.string().min(1),
    kid: z.string().min(1).max(MAX_KID_LENGTH),
    typ: z.string().optional(),
    jku: z.string().min(1).optional(),
    crit: z.array(z.string()).optional(),
  })
  .loose();
export type ClientAssertionHeader = z.infer<typeof ClientAssertionHeaderSchema>;

/** Client assertion claims (SMART CCA claims table, RFC 7523 §3). */
export const ClientAssertionClaimsSchema = z
  .object({
    iss: z.string().min(1).max(MAX_CLIENT_ID_LENGTH),
    sub: z.string().min(1).max(MAX_CLIENT_ID_LENGTH),
    aud: z.union([z.string().min(1), z.array(z.string().min(1)).length(1)]),
    exp: NumericDateSchema,
    jti: z.string().min(1).max(MAX_JTI_LENGTH),
    iat: NumericDateSchema.optional(),
    nbf: NumericDateSchema.optional(),
  })
  .loose();
export type ClientAssertionClaims = z.infer<typeof ClientAssertionClaimsSchema>;

const HEADER_REASONS: Record<string, [missing: ReasonCode, invalid: ReasonCode]> = {
  alg: ['assertion.alg_not_allowed', 'assertion.alg_not_allowed'],
  kid: ['assertion.kid_missing', 'assertion.kid_invalid'],
  typ: ['assertion.typ_invalid', 'assertion.typ_invalid'],
  jku: ['assertion.jku_not_registered', 'assertion.jku_not_registered'],
  crit: ['assertion.crit_unsupported', 'assertion.crit_unsupported'],
};

const CLAIM_REASONS: Record<string, [missing: ReasonCode, invalid: ReasonCode]> = {
  iss: ['assertion.iss_missing', 'assertion.iss_missing'],
  sub: ['assertion.sub_missing', 'assertion.sub_missing'],
  aud: ['assertion.aud_missing', 'assertion.aud_invalid'],
  exp: ['assertion.exp_missing', 'assertion.exp_invalid'],
  jti: ['assertion.jti_missing', 'assertion.jti_invalid'],
  iat: ['assertion.iat_invalid', 'assertion.iat_invalid'],
  nbf: ['assertion.nbf_invalid', 'assertion.nbf_invalid'],
};

/** Validates a decoded assertion header, naming the member at fault with its reason code. */
export function parseClientAssertionHeader(value: unknown): Checked<ClientAssertionHeader> {
  return parseWithReasons(
    ClientAssertionHeaderSchema,
    value,
    HEADER_REASONS,
    'assertion.malformed',
    'header',
  );
}

/** Validates decoded assertion claims, naming the claim at fault with its reason code. */
export function parseClientAssertionClaims(value: unknown): Checked<ClientAssertionClaims> {
  const aud = (value as { aud?: unknown } | null)?.aud;
  if (Array.isArray(aud) && aud.length > 1) {
    // ATK-12 / RFC 7523bis: a multi-valued audience is refused (audience injection).
    return {
      ok: false,
      reason: 'assertion.aud_multiple',
      message: `aud has ${aud.length} values; exactly one is allowed`,
    };
  }
  return parseWithReasons(ClientAssertionClaimsSchema, value, CLAIM_REASONS, 'assertion.malformed', 'claim');
}

function parseWithReasons<T>(
  schema: z.ZodType<T>,
  value: unknown,
  reasons: Record<string, [ReasonCode, ReasonCode]>,
  fallback: ReasonCode,
  what: string,
): Checked<T> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  const member = issue?.path[0];
  const pair = typeof member === 'string' ? reasons[member] : undefined;
  if (!pair || typeof member !== 'string') {
    return {
      ok: false,
      reason: fallback,
      message: `the assertion ${what} is not a JSON object of the expected shape`,
    };
  }
  const present =
    typeof value === 'object' &&
    value !== null &&
    member in value &&
    (value as Record<string, unknown>)[member] !== undefined;
  return {
    ok: false,
    reason: present ? pair[1] : pair[0],
    message: present
      ? `${what} ${member}: ${issue?.message ?? 'invalid'}`
      : `the ${what} ${member} is required`,
  };
}
