import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli, startStack, tempDir, type Stack } from '../src/stack.js';

// The seed's four steps, through the built `smart-backend` binary against both apps as real processes.
describe('the CLI walks the four steps: keys generate → register → token → fhir get Patient', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  }, 60_000);
  afterAll(async () => stack?.stop());

  it.each(['RS384', 'ES384'] as const)(
    'with an %s key',
    async (alg) => {
      const dir = tempDir(`cli-${alg}`);

      const keys = await runCli(['keys', 'generate', '--alg', alg, '--out', dir]);
      expect(keys.code).toBe(0);
      expect(statSync(join(dir, 'private_key.pem')).mode & 0o777).toBe(0o600);
      const jwks = JSON.parse(readFileSync(join(dir, 'jwks.json'), 'utf8')) as {
        keys: Array<Record<string, unknown>>;
      };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]).toMatchObject({ alg, use: 'sig' });
      expect(jwks.keys[0]).not.toHaveProperty('d');

      const register = await runCli(
        [
          'register',
          '--auth-url',
          stack.authUrl,
          '--jwks',
          join(dir, 'jwks.json'),
          '--scope',
          'system/*.rs',
          '--name',
          `cli ${alg}`,
        ],
        { env: { SMART_ADMIN_TOKEN: stack.adminToken } },
      );
      expect(register.stderr).toBe('');
      expect(register.code).toBe(0);
      const { client_id: clientId } = JSON.parse(register.stdout) as { client_id: string };
      expect(clientId).toMatch(/^[A-Za-z0-9_-]{16,}$/);

      const common = ['--client-id', clientId, '--key', join(dir, 'private_key.pem')];
      const token = await runCli([
        'token',
        '--fhir-url',
        stack.fhirBase,
        ...common,
        '--scope',
        'system/Patient.read',
      ]);
      expect(token.code).toBe(0);
      expect(JSON.parse(token.stdout)).toMatchObject({
        token_type: expect.stringMatching(/^bearer$/i),
        expires_in: expect.any(Number),
        scope: 'system/Patient.read', // v1 answered in v1
        access_token: expect.any(String),
      });

      const patients = await runCli([
        'fhir',
        'get',
        'Patient',
        '--fhir-url',
        stack.fhirBase,
        ...common,
        '--scope',
        'system/Patient.rs',
      ]);
      expect(patients.code).toBe(0);
      const bundle = JSON.parse(patients.stdout) as {
        resourceType: string;
        type: string;
        total: number;
        entry: unknown[];
      };
      expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
      expect(bundle.total).toBeGreaterThanOrEqual(100);
      expect(bundle.entry.length).toBeGreaterThan(0);

      // A scope the client holds but that does not cover the interaction: refused by the FHIR API, exit 1.
      const refused = await runCli([
        'fhir',
        'get',
        'Observation',
        '--fhir-url',
        stack.fhirBase,
        ...common,
        '--scope',
        'system/Patient.rs',
      ]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/insufficient_scope|token\.insufficient_scope/);

      // A scope the client is not registered for: refused by the auth server, exit 1, reason shown.
      const notRegistered = await runCli([
        'token',
        '--fhir-url',
        stack.fhirBase,
        ...common,
        '--scope',
        'system/Patient.cruds',
      ]);
      expect(notRegistered.code).toBe(0); // narrowed to what is registered
      expect(JSON.parse(notRegistered.stdout).scope).toBe('system/Patient.rs');
      const nothing = await runCli([
        'token',
        '--fhir-url',
        stack.fhirBase,
        ...common,
        '--scope',
        'system/Patient.c',
      ]);
      expect(nothing.code).toBe(1);
      expect(nothing.stderr).toMatch(/invalid_scope/);
    },
    60_000,
  );
});
