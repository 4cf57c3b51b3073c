// `pnpm start`: both apps for real local use — auth-server on :4000, fhir-api on :4001/fhir, state
// under ./data (kept across runs), sample data loaded. Each app's own variables are documented in
// the README; to configure an app fully, start it on its own (`pnpm --filter <app> start`).
// Ctrl-C (or SIGTERM) stops both; if one app dies, the other is stopped too.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AUTH_MAIN, FHIR_MAIN, startApp, type RunningApp } from './stack.js';

const dataDir = resolve(process.env.DATA_DIR ?? 'data');
const authPort = process.env.AUTH_PORT ?? '4000';
const fhirPort = process.env.FHIR_PORT ?? '4001';
const authUrl = `http://localhost:${authPort}`;
const fhirBase = `http://localhost:${fhirPort}/fhir`;

/** ADMIN_TOKEN from the environment, else one generated once and kept in data/admin-token (0600). */
function adminToken(): { token: string; source: string } {
  if (process.env.ADMIN_TOKEN)
    return { token: process.env.ADMIN_TOKEN, source: 'ADMIN_TOKEN from the environment' };
  const file = resolve(dataDir, 'admin-token');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (!existsSync(file))
    writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  return { token: readFileSync(file, 'utf8').trim(), source: `read it from ${file}` };
}

const prefix = (name: string) => (line: string) => process.stdout.write(`[${name}] ${line}\n`);

async function main(): Promise<void> {
  const admin = adminToken();
  const logLevel = process.env.LOG_LEVEL ?? 'info';
  const apps: RunningApp[] = [];
  const stopAll = async (code: number) => {
    await Promise.all(apps.map((app) => app.stop()));
    process.exit(code);
  };
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));

  const auth = await startApp(
    AUTH_MAIN,
    {
      PORT: authPort,
      PUBLIC_URL: authUrl,
      FHIR_BASE_URL: fhirBase,
      ADMIN_TOKEN: admin.token,
      DATA_DIR: resolve(dataDir, 'auth-server'),
      LOG_LEVEL: logLevel,
    },
    'auth-server',
    prefix('auth'),
  );
  apps.push(auth);
  const fhir = await startApp(
    FHIR_MAIN,
    {
      PORT: fhirPort,
      AUTH_URL: authUrl,
      DATA_DIR: resolve(dataDir, 'fhir-api'),
      SEED: 'true',
      LOG_LEVEL: logLevel,
    },
    'fhir-api',
    prefix('fhir'),
  );
  apps.push(fhir);
  for (const app of apps) {
    app.process.once('exit', (code) => {
      console.error(`an app exited (code ${code}); stopping the other`);
      void stopAll(1);
    });
  }

  console.log(`
smart-backend is running (Ctrl-C stops both apps)
  authorization server  ${auth.url}        discovery: ${auth.url}/.well-known/smart-configuration
  FHIR API              ${fhir.url}   metadata:  ${fhir.url}/metadata
  admin token           ${admin.source}
  data                  ${dataDir}
`);
}

main().catch((error: unknown) => {
  console.error(`start failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
