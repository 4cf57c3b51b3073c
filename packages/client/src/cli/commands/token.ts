import { MAX_ASSERTION_LIFETIME_SECONDS } from '@smart-backend/protocol';
import { discover } from '../../discovery.js';
import { requestAccessToken } from '../../token.js';
import {
  COMMON_HELP,
  NETWORK_HELP,
  NETWORK_OPTIONS,
  UsageError,
  optionalString,
  printJson,
  requireString,
  transportOptions,
  type Command,
} from '../command.js';
import { KEY_HELP, SIGNER_OPTIONS, signerFromArgs } from './key-args.js';

export const tokenCommand: Command = {
  path: ['token'],
  summary: 'get an access token (client_credentials + private_key_jwt)',
  help: `Usage: smart-backend token (--fhir-url URL | --token-url URL) --client-id ID --key FILE --scope "SCOPES"
                          [--alg ALG] [--kid KID] [--jku URL] [--lifetime S]

Signs a fresh client assertion, POSTs the client_credentials token request and prints the
token response JSON ({access_token, token_type, expires_in, scope, …}).

Options:
  --fhir-url URL           FHIR base: the token endpoint is discovered from
                           {URL}/.well-known/smart-configuration (or {URL}/metadata)
  --token-url URL          the token endpoint itself (no discovery; wins over --fhir-url)
  --client-id ID           the client_id assigned at registration
${KEY_HELP}
  --scope "SCOPES"         space-separated scopes, e.g. "system/Patient.rs system/Observation.rs"
  --jku URL                add a jku header (must be the JWKS URL registered for the client)
  --lifetime S             assertion lifetime in seconds, 1-${MAX_ASSERTION_LIFETIME_SECONDS} (default ${MAX_ASSERTION_LIFETIME_SECONDS})
${NETWORK_HELP}
${COMMON_HELP}`,
  options: {
    'fhir-url': { type: 'string' },
    'token-url': { type: 'string' },
    ...SIGNER_OPTIONS,
    scope: { type: 'string' },
    ...NETWORK_OPTIONS,
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(args, io) {
    const fhirUrl = optionalString(args, 'fhir-url');
    let tokenUrl = optionalString(args, 'token-url');
    if (fhirUrl === undefined && tokenUrl === undefined)
      throw new UsageError('--fhir-url or --token-url is required');
    const scope = requireString(args, 'scope');
    const transport = transportOptions(args);
    const { clientId, key, jku, lifetime } = await signerFromArgs(args, io);
    tokenUrl ??= (await discover(fhirUrl as string, transport)).token_endpoint;
    const response = await requestAccessToken({
      tokenUrl,
      clientId,
      key,
      scope,
      ...(jku !== undefined && { jku }),
      ...(lifetime !== undefined && { assertionLifetime: lifetime }),
      ...transport,
    });
    printJson(io, response);
  },
};
