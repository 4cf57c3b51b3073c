import { COMMON_HELP, printJson, type Command } from '../command.js';
import { KEY_HELP, KEY_OPTIONS, loadKeyFromArgs } from './key-args.js';

export const jwksCommand: Command = {
  path: ['jwks'],
  summary: 'print the public JWKS of a private key',
  help: `Usage: smart-backend jwks --key FILE [--alg ALG] [--kid KID]

Prints the public JWK Set for a private key: kty and public members only, kid, alg,
use "sig", key_ops ["verify"]. Nothing private is ever printed.

Options:
${KEY_HELP}
${COMMON_HELP}`,
  options: { ...KEY_OPTIONS },
  positionals: { min: 0, max: 0, names: '' },
  async run(args, io) {
    const key = await loadKeyFromArgs(args, io);
    printJson(io, { keys: [key.publicJwk] });
  },
};
