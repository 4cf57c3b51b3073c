import { z } from 'zod';

const AbsoluteUrl = z.url({ protocol: /^https?$/ });
const StringList = z.array(z.string());

/**
 * `.well-known/smart-configuration` (SMART Conformance). Only `token_endpoint` is required of a
 * server we read; smart-backend's own document carries every member listed in DESIGN.md.
 */
export const SmartConfigurationSchema = z
  .object({
    issuer: AbsoluteUrl.optional(),
    token_endpoint: AbsoluteUrl,
    jwks_uri: AbsoluteUrl.optional(),
    registration_endpoint: AbsoluteUrl.optional(),
    introspection_endpoint: AbsoluteUrl.optional(),
    token_endpoint_auth_methods_supported: StringList.optional(),
    token_endpoint_auth_signing_alg_values_supported: StringList.optional(),
    grant_types_supported: StringList.optional(),
    scopes_supported: StringList.optional(),
    response_types_supported: StringList.optional(),
    code_challenge_methods_supported: StringList.optional(),
    capabilities: StringList.optional(),
  })
  .loose();
export type SmartConfiguration = z.infer<typeof SmartConfigurationSchema>;
