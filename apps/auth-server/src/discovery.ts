import {
  DEFAULT_ASSERTION_ALGORITHMS,
  CLIENT_CREDENTIALS_GRANT,
  SMART_CAPABILITIES,
  type SmartConfiguration,
} from '@smart-backend/protocol';
import type { Config } from './config.js';

/** Wildcard scopes in both syntaxes; anything listed is supported (SCP-12), granted per registration. */
export const SCOPES_SUPPORTED = [
  'system/*.cruds',
  'system/*.rs',
  'system/*.read',
  'system/*.write',
  'system/*.*',
];

/**
 * The discovery document, served as `/.well-known/smart-configuration` (SMART Conformance) and
 * as `/.well-known/oauth-authorization-server` (RFC 8414, for generic OAuth clients). There is no
 * authorization endpoint, so no response type is supported: `response_types_supported` (a member
 * RFC 8414 requires) is empty.
 */
export function discoveryDocument(config: Pick<Config, 'publicUrl'>): SmartConfiguration {
  const base = config.publicUrl;
  return {
    issuer: base,
    token_endpoint: `${base}/token`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    registration_endpoint: `${base}/register`,
    introspection_endpoint: `${base}/introspect`,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...DEFAULT_ASSERTION_ALGORITHMS],
    grant_types_supported: [CLIENT_CREDENTIALS_GRANT],
    scopes_supported: SCOPES_SUPPORTED,
    response_types_supported: [],
    code_challenge_methods_supported: ['S256'],
    capabilities: [...SMART_CAPABILITIES],
  };
}
