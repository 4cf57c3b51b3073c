import type { PublicJwks } from '@smart-backend/protocol';
import { InvalidInputError } from '../../errors.js';
import { readSmallTextFile } from '../../files.js';
import { registerClient } from '../../registration.js';
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

const MAX_JWKS_FILE_BYTES = 256 * 1024;

export const registerCommand: Command = {
  path: ['register'],
  summary: 'register a client at a smart-backend auth server (admin)',
  help: `Usage: smart-backend register --auth-url URL [--admin-token T] (--jwks FILE | --jwks-uri URL)
                             --scope "SCOPES" [--name NAME]

POSTs {client_name?, jwks | jwks_uri, scope} to {auth-url}/register with the admin token as a
bearer token and prints the registration response (client_id, …). The JWK Set is checked
locally first: a file holding private or symmetric keys is refused and never sent.

Options:
  --auth-url URL           the auth server's base URL (its PUBLIC_URL)
  --admin-token T          the server's ADMIN_TOKEN; default: the SMART_ADMIN_TOKEN environment
                           variable (preferred: command-line arguments are visible to other users)
  --jwks FILE              public JWK Set file (e.g. jwks.json from "keys generate")
  --jwks-uri URL           URL where the public JWK Set is served (https; http only on loopback)
  --scope "SCOPES"         the system/ scopes the client may ever receive, space-separated
  --name NAME              client_name
${NETWORK_HELP}
${COMMON_HELP}`,
  options: {
    'auth-url': { type: 'string' },
    'admin-token': { type: 'string' },
    jwks: { type: 'string' },
    'jwks-uri': { type: 'string' },
    scope: { type: 'string' },
    name: { type: 'string' },
    ...NETWORK_OPTIONS,
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(args, io) {
    const authUrl = requireString(args, 'auth-url');
    const adminToken = optionalString(args, 'admin-token') ?? io.env.adminToken;
    if (adminToken === undefined) {
      throw new UsageError('--admin-token is required (or set SMART_ADMIN_TOKEN)');
    }
    const jwksFile = optionalString(args, 'jwks');
    const jwksUri = optionalString(args, 'jwks-uri');
    if ((jwksFile === undefined) === (jwksUri === undefined)) {
      throw new UsageError('exactly one of --jwks and --jwks-uri is required');
    }
    const scope = requireString(args, 'scope');
    const clientName = optionalString(args, 'name');
    const jwks = jwksFile === undefined ? undefined : await readJwksFile(jwksFile);
    const response = await registerClient({
      authUrl,
      adminToken,
      scope,
      ...(jwks !== undefined && { jwks }),
      ...(jwksUri !== undefined && { jwksUri }),
      ...(clientName !== undefined && { clientName }),
      ...transportOptions(args),
    });
    printJson(io, response);
  },
};

async function readJwksFile(path: string): Promise<PublicJwks> {
  const text = await readSmallTextFile(path, 'JWKS file', MAX_JWKS_FILE_BYTES);
  try {
    return JSON.parse(text) as PublicJwks;
  } catch {
    throw new InvalidInputError(`JWKS file ${path} is not valid JSON`);
  }
}
