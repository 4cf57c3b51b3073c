import { z } from 'zod';
import { ACCESS_TOKEN_TYP } from '../constants.js';
import { typMatches } from '../jose-typ.js';
import { NumericDateSchema } from './assertion.js';

/**
 * RFC 9068 §2.1 header: `typ` is at+jwt; RFC 9068 §4 and RFC 7515 §4.1.9: `application/at+jwt`
 * and any case are the same media type.
 */
export const AccessTokenHeaderSchema = z
  .object({
    alg: z.string().min(1),
    kid: z.string().min(1),
    typ: z.string().refine((typ) => typMatches(typ, 'at+jwt'), `typ must be ${ACCESS_TOKEN_TYP}`),
  })
  .loose();
export type AccessTokenHeader = z.infer<typeof AccessTokenHeaderSchema>;

/** RFC 9068 §2.2 claims, plus the SMART `scope`. */
export const AccessTokenClaimsSchema = z
  .object({
    iss: z.string().min(1),
    sub: z.string().min(1),
    aud: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    exp: NumericDateSchema,
    iat: NumericDateSchema,
    jti: z.string().min(1),
    client_id: z.string().min(1),
    scope: z.string(),
  })
  .loose();
export type AccessTokenClaims = z.infer<typeof AccessTokenClaimsSchema>;
