import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { PublicJwks } from '@smart-backend/protocol';

export interface ReferenceServer {
  issuer: string;
  tokenUrl: string;
  jwksUrl: string;
  /** The resource (FHIR base) tokens are issued for: their `aud`. */
  fhirBase: string;
  close(): Promise<void>;
}

export interface ReferenceClient {
  client_id: string;
  jwks: PublicJwks;
  scope?: string;
}

/** Scopes the reference "FHIR server" knows; oidc-provider treats them as opaque strings. */
export const REFERENCE_SCOPES = 'system/*.read system/Patient.rs system/Observation.rs';

const SCRIPT = fileURLToPath(new URL('./reference-server.mjs', import.meta.url));

/** Starts oidc-provider (a server nobody here wrote) as a child process on 127.0.0.1:0. */
export async function startReferenceServer(
  clients: ReferenceClient[],
  fhirBase = 'https://fhir.example.test/fhir',
): Promise<ReferenceServer> {
  const input = JSON.stringify({ clients, fhirBase, scopes: REFERENCE_SCOPES.split(' ') });
  const child = spawn(process.execPath, [SCRIPT, input], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout });
  const issuer = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`oidc-provider exited (${String(code)}): ${stderr}`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { issuer: string }).issuer));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    jwksUrl: `${issuer}/jwks`,
    fhirBase,
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
