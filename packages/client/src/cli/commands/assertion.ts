import { MAX_ASSERTION_LIFETIME_SECONDS } from '@smart-backend/protocol';
import { createClientAssertion, decodeClientAssertion } from '../../assertion.js';
import { COMMON_HELP, printJson, requireString, type Command } from '../command.js';
import { KEY_HELP, SIGNER_OPTIONS, signerFromArgs } from './key-args.js';

export const assertionCommand: Command = {
  path: ['assertion'],
  summary: 'sign a client assertion (JWT) for a token request',
  help: `Usage: smart-backend assertion --client-id ID --token-url URL --key FILE
                              [--alg ALG] [--kid KID] [--jku URL] [--lifetime S] [--decode]

Signs a single-use client assertion: header {alg, kid, typ "JWT", jku?}, claims iss = sub =
client id, aud = token URL, iat, exp, jti (256 random bits). Prints {"assertion": "…"};
with --decode also its "header" and "claims".

Options:
  --client-id ID           the client_id assigned at registration
  --token-url URL          the token endpoint the assertion is for (its aud)
${KEY_HELP}
  --jku URL                add a jku header (must be the JWKS URL registered for the client)
  --lifetime S             seconds until exp, 1-${MAX_ASSERTION_LIFETIME_SECONDS} (default ${MAX_ASSERTION_LIFETIME_SECONDS})
  --decode                 also print the decoded header and claims
${COMMON_HELP}`,
  options: {
    ...SIGNER_OPTIONS,
    'token-url': { type: 'string' },
    decode: { type: 'boolean' },
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(args, io) {
    const tokenUrl = requireString(args, 'token-url');
    const { clientId, key, jku, lifetime } = await signerFromArgs(args, io);
    const assertion = await createClientAssertion({
      clientId,
      tokenUrl,
      key,
      ...(jku !== undefined && { jku }),
      ...(lifetime !== undefined && { lifetime }),
    });
    printJson(io, args.values.decode ? { assertion, ...decodeClientAssertion(assertion) } : { assertion });
  },
};
