import { MAX_ASSERTION_LIFETIME_SECONDS } from '@smart-backend/protocol';
import { BackendServicesClient, type FhirRequestOptions } from '../../client.js';
import { FhirRequestError, ForeignUrlError, InvalidInputError } from '../../errors.js';
import type { Bundle, BundleEntry } from '../../fhir-types.js';
import { readSmallTextFile } from '../../files.js';
import {
  COMMON_HELP,
  NETWORK_HELP,
  NETWORK_OPTIONS,
  UsageError,
  optionalString,
  printJson,
  requireString,
  transportOptions,
  type CliIo,
  type Command,
  type ParsedArgs,
} from '../command.js';
import { KEY_HELP, SIGNER_OPTIONS, signerFromArgs } from './key-args.js';

const METHODS = { get: 'GET', post: 'POST', put: 'PUT', delete: 'DELETE' } as const;
const MAX_DATA_BYTES = 16 * 1024 * 1024;

export const fhirCommand: Command = {
  path: ['fhir'],
  summary: 'call the FHIR API with an access token (get|post|put|delete)',
  help: `Usage: smart-backend fhir get|post|put|delete PATH [--data FILE] [--all]
                         --fhir-url URL --client-id ID --key FILE --scope "SCOPES"
                         [--token-url URL] [--alg ALG] [--kid KID] [--jku URL] [--lifetime S]

Gets an access token (discovering the token endpoint from the FHIR base unless --token-url is
given) and sends the request with Authorization: Bearer. PATH is relative to the FHIR base
("Patient?name=smith", "Patient/123") or an absolute URL inside it; the token is never sent
anywhere else, and a paging link that leaves the FHIR base is refused.

Prints the FHIR JSON the server answered. An empty answer (e.g. 204 after delete) prints an
informational OperationOutcome. On a FHIR error the server's OperationOutcome (if any) is
printed and the exit code is 1.

Options:
  --fhir-url URL           the FHIR base URL
  --data FILE              request body for post/put: a JSON resource file, or - for stdin
  --all                    get only: follow the Bundle's next links and print one Bundle
                           (type searchset) holding the entries of every page, without links
  --token-url URL          the token endpoint (skips discovery)
  --client-id ID           the client_id assigned at registration
${KEY_HELP}
  --scope "SCOPES"         space-separated scopes to request
  --jku URL                add a jku header (must be the JWKS URL registered for the client)
  --lifetime S             assertion lifetime in seconds, 1-${MAX_ASSERTION_LIFETIME_SECONDS} (default ${MAX_ASSERTION_LIFETIME_SECONDS})
${NETWORK_HELP}
${COMMON_HELP}`,
  options: {
    data: { type: 'string' },
    all: { type: 'boolean' },
    'fhir-url': { type: 'string' },
    'token-url': { type: 'string' },
    ...SIGNER_OPTIONS,
    scope: { type: 'string' },
    ...NETWORK_OPTIONS,
  },
  positionals: { min: 2, max: 2, names: 'the method (get|post|put|delete) and PATH' },
  async run(args, io) {
    const [methodWord, path] = args.positionals as [string, string];
    const method = METHODS[methodWord.toLowerCase() as keyof typeof METHODS];
    if (method === undefined) {
      throw new UsageError(`unknown method ${JSON.stringify(methodWord)}; use get, post, put or delete`);
    }
    const all = args.values.all === true;
    if (all && method !== 'GET') throw new UsageError('--all applies to get only');
    const dataFile = optionalString(args, 'data');
    if ((method === 'POST' || method === 'PUT') && dataFile === undefined) {
      throw new UsageError(`fhir ${methodWord} needs --data FILE (or --data - for stdin)`);
    }
    if ((method === 'GET' || method === 'DELETE') && dataFile !== undefined) {
      throw new UsageError(`--data does not apply to fhir ${methodWord}`);
    }
    const client = await clientFromArgs(args, io);
    try {
      client.urlFor(path); // refuse a PATH outside the FHIR base before any token request
    } catch (error) {
      if (error instanceof ForeignUrlError) throw new UsageError(error.message);
      throw error;
    }
    const body = dataFile === undefined ? undefined : await readData(dataFile, io);
    try {
      if (all) {
        printJson(io, await collectPages(client, path));
        return;
      }
      const options: FhirRequestOptions = { method, ...(body !== undefined && { body }) };
      const response = await client.request(path, options);
      printJson(io, response.body ?? emptyAnswer(response.status));
    } catch (error) {
      if (error instanceof FhirRequestError && error.operationOutcome) printJson(io, error.operationOutcome);
      throw error;
    }
  },
};

async function clientFromArgs(args: ParsedArgs, io: CliIo): Promise<BackendServicesClient> {
  const fhirBaseUrl = requireString(args, 'fhir-url');
  const scope = requireString(args, 'scope');
  const tokenUrl = optionalString(args, 'token-url');
  const transport = transportOptions(args);
  const { clientId, key, jku, lifetime } = await signerFromArgs(args, io);
  return new BackendServicesClient({
    fhirBaseUrl,
    clientId,
    scope,
    privateKey: key,
    ...(tokenUrl !== undefined && { tokenUrl }),
    ...(jku !== undefined && { jku }),
    ...(lifetime !== undefined && { assertionLifetime: lifetime }),
    ...transport,
  });
}

async function readData(file: string, io: CliIo): Promise<unknown> {
  const text =
    file === '-' ? await io.readStdin() : await readSmallTextFile(file, 'data file', MAX_DATA_BYTES);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidInputError(`${file === '-' ? 'standard input' : `data file ${file}`} is not valid JSON`);
  }
}

async function collectPages(client: BackendServicesClient, path: string): Promise<Bundle> {
  const entry: BundleEntry[] = [];
  let total: number | undefined;
  for await (const page of client.pages(path)) {
    if (total === undefined && typeof page.total === 'number') total = page.total;
    entry.push(...(page.entry ?? []));
  }
  return { resourceType: 'Bundle', type: 'searchset', ...(total !== undefined && { total }), entry };
}

function emptyAnswer(status: number): unknown {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      { severity: 'information', code: 'informational', diagnostics: `HTTP ${status} with an empty body` },
    ],
  };
}
