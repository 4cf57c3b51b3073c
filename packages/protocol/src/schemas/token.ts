import { z } from 'zod';
import { CLIENT_ASSERTION_TYPE, CLIENT_CREDENTIALS_GRANT, MAX_ASSERTION_LENGTH } from '../constants.js';

/** The token request form (SMART Backend Services "Request", RFC 6749 §4.4.2, RFC 7523 §2.2). */
export const TokenRequestSchema = z.object({
  grant_type: z.literal(CLIENT_CREDENTIALS_GRANT),
  scope: z.string().min(1),
  client_assertion_type: z.literal(CLIENT_ASSERTION_TYPE),
  client_assertion: z.string().min(1).max(MAX_ASSERTION_LENGTH),
  /** Optional (RFC 7521 §4.2); when sent it must equal the assertion's iss. */
  client_id: z.string().min(1).optional(),
});
export type TokenRequest = z.infer<typeof TokenRequestSchema>;

/** The token response (SMART Backend Services token response table, RFC 6749 §5.1). */
export const TokenResponseSchema = z
  .object({
    access_token: z.string().min(1),
    token_type: z.string().regex(/^bearer$/i, 'token_type must be "bearer"'),
    expires_in: z.number().int().positive(),
    scope: z.string().min(1),
  })
  .loose();
export type TokenResponse = z.infer<typeof TokenResponseSchema>;

/** RFC 6749 §5.2 error body (also the shape of our other OAuth-style errors). */
export const OAuthErrorBodySchema = z
  .object({
    error: z.string().min(1),
    error_description: z.string().optional(),
    error_uri: z.url({ protocol: /^https?$/ }).optional(),
  })
  .loose();
export type OAuthErrorBody = z.infer<typeof OAuthErrorBodySchema>;
