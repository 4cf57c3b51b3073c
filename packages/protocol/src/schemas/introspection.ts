import { z } from 'zod';
import { NumericDateSchema } from './assertion.js';

/** RFC 7662 §2.1 introspection request (form). */
export const IntrospectionRequestSchema = z.object({
  token: z.string().min(1),
  token_type_hint: z.string().optional(),
});
export type IntrospectionRequest = z.infer<typeof IntrospectionRequestSchema>;

/** RFC 7662 §2.2 + SMART "Token Introspection": inactive tokens reveal nothing but `active: false`. */
export const InactiveIntrospectionSchema = z.object({ active: z.literal(false) }).strict();

export const ActiveIntrospectionSchema = z
  .object({
    active: z.literal(true),
    scope: z.string(),
    client_id: z.string(),
    exp: NumericDateSchema,
    iat: NumericDateSchema.optional(),
    sub: z.string().optional(),
    iss: z.string().optional(),
    aud: z.union([z.string(), z.array(z.string())]).optional(),
    jti: z.string().optional(),
    token_type: z.string().optional(),
  })
  .loose();

export const IntrospectionResponseSchema = z.discriminatedUnion('active', [
  InactiveIntrospectionSchema,
  ActiveIntrospectionSchema,
]);
export type IntrospectionResponse = z.infer<typeof IntrospectionResponseSchema>;
