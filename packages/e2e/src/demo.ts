// `pnpm demo`: the main job. Starts both apps (embedded SQLite, sample data) as real processes on
// free ports with throw-away data directories, walks the seed's four steps with the real
// `smart-backend` CLI, prints each step, stops the apps, and exits 0 — or 1 naming the failed step.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, startStack, tempDir, type CliResult, type Stack } from './stack.js';

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const dim = (text: string) => (process.stdout.isTTY ? `\x1b[2m${text}\x1b[0m` : text);

class StepFailed extends Error {}

function heading(step: string, title: string): void {
  console.log(`\n${bold(`── ${step} ${title} `.padEnd(100, '─'))}`);
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<unknown> {
  const shown = args.map((a) => (/\s|\|/.test(a) ? `'${a}'` : a)).join(' ');
  console.log(dim(`$ smart-backend ${shown}`));
  const result: CliResult = await runCli(args, { env });
  if (result.code !== 0) {
    throw new StepFailed(
      `smart-backend ${args[0]} exited with ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return JSON.parse(result.stdout) as unknown;
}

function show(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Header and claims of a compact JWT, for display only (the FHIR API verifies it for real). */
function decodeJwt(jwt: string): { header: unknown; claims: unknown } {
  const [header = '', claims = ''] = jwt.split('.');
  const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
  return { header: decode(header), claims: decode(claims) };
}

function truncateToken(token: string): string {
  return token.length > 48 ? `${token.slice(0, 24)}…${token.slice(-16)} (${token.length} chars)` : token;
}

async function main(): Promise<void> {
  const alg = process.argv.includes('--rs384') ? 'RS384' : 'ES384';
  const scope = 'system/Patient.rs system/Observation.rs';
  let stack: Stack | undefined;
  const keysDir = tempDir('demo-keys');
  try {
    heading('0/4', 'start the authorization server and the FHIR API (SQLite, sample data)');
    stack = await startStack();
    console.log(`auth-server  ${stack.authUrl}   (data: ${stack.authDataDir})`);
    console.log(`fhir-api     ${stack.fhirBase}   (data: ${stack.fhirDataDir}, SEED=true)`);

    heading('1/4', `generate an ${alg} key pair and its public JWKS`);
    const generated = (await cli(['keys', 'generate', '--alg', alg, '--out', keysDir])) as Record<
      string,
      unknown
    >;
    show({ ...generated });
    console.log(dim(`private key: ${join(keysDir, 'private_key.pem')} (mode 0600, never printed)`));

    heading('2/4', 'register the client with its JWKS and the scopes it may ever receive');
    const registration = (await cli(
      [
        'register',
        '--auth-url',
        stack.authUrl,
        '--jwks',
        join(keysDir, 'jwks.json'),
        '--scope',
        'system/*.rs',
        '--name',
        'demo client',
      ],
      { SMART_ADMIN_TOKEN: stack.adminToken },
    )) as { client_id: string };
    show(registration);
    const credentials = ['--client-id', registration.client_id, '--key', join(keysDir, 'private_key.pem')];

    heading('3/4', 'sign a client assertion and exchange it for an access token');
    const discovery = (await (await fetch(`${stack.fhirBase}/.well-known/smart-configuration`)).json()) as {
      token_endpoint: string;
    };
    console.log(
      dim(
        `token endpoint from ${stack.fhirBase}/.well-known/smart-configuration: ${discovery.token_endpoint}`,
      ),
    );
    const assertion = (await cli([
      'assertion',
      '--token-url',
      discovery.token_endpoint,
      ...credentials,
      '--decode',
    ])) as {
      assertion: string;
      header: unknown;
      claims: unknown;
    };
    show({ header: assertion.header, claims: assertion.claims });
    const token = (await cli(['token', '--fhir-url', stack.fhirBase, ...credentials, '--scope', scope])) as {
      access_token: string;
    };
    show({ ...token, access_token: truncateToken(token.access_token) });
    console.log(dim('the access token (RFC 9068 JWT), decoded:'));
    show(decodeJwt(token.access_token));

    heading('4/4', 'call the FHIR API with the token: the first page of Patients');
    const bundle = (await cli([
      'fhir',
      'get',
      'Patient?_count=10',
      '--fhir-url',
      stack.fhirBase,
      ...credentials,
      '--scope',
      scope,
    ])) as {
      total?: number;
      entry?: Array<{
        resource: {
          id: string;
          name?: Array<{ family?: string; given?: string[] }>;
          gender?: string;
          birthDate?: string;
        };
      }>;
      link?: Array<{ relation: string; url: string }>;
    };
    console.log(`Bundle searchset: total ${bundle.total}, ${bundle.entry?.length ?? 0} on this page`);
    for (const { resource } of bundle.entry ?? []) {
      const name = resource.name?.[0];
      console.log(
        `  Patient/${resource.id.padEnd(10)} ${`${name?.given?.join(' ') ?? ''} ${name?.family ?? ''}`.trim().padEnd(28)} ${(resource.gender ?? '').padEnd(8)} ${resource.birthDate ?? ''}`,
      );
    }
    const next = bundle.link?.find((l) => l.relation === 'next');
    if (next) console.log(dim(`next page: ${next.url}`));

    console.log(`\n${bold('Demo complete:')} keys → registration → token → FHIR data, end to end.`);
  } finally {
    await stack?.stop();
    rmSync(keysDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`\ndemo failed: ${message}`);
  process.exitCode = 1;
});
