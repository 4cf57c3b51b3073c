import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';
import { checkPublicJwks, type PublicJwks } from '@smart-backend/protocol';
import { json, runCli } from './support/cli.js';

// The built binary, spawned as a user would run it. Exit codes: 0 ok, 1 failed request, 2 usage/input.
describe('smart-backend CLI (local commands)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smart-backend-cli-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('usage', () => {
    it('prints the overview on stderr and exits 2 without a command', async () => {
      const result = await runCli([]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/Usage: smart-backend <command>/);
      expect(result.stdout).toBe('');
    });

    it('prints the overview on --help and exits 0', async () => {
      const result = await runCli(['--help']);
      expect(result.code).toBe(0);
      for (const command of ['keys generate', 'jwks', 'assertion', 'register', 'token', 'fhir']) {
        expect(result.stdout).toContain(command);
      }
    });

    it('prints its version as JSON', async () => {
      const result = await runCli(['--version']);
      expect(result.code).toBe(0);
      expect(json(result)).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    });

    it.each([
      [['keys', 'generate', '--help'], 'smart-backend keys generate'],
      [['jwks', '--help'], 'smart-backend jwks'],
      [['assertion', '--help'], 'smart-backend assertion'],
      [['register', '--help'], 'smart-backend register'],
      [['token', '--help'], 'smart-backend token'],
      [['fhir', '--help'], 'smart-backend fhir'],
      [['fhir', 'get', '-h'], 'smart-backend fhir'],
      [['help', 'token'], 'smart-backend token'],
    ])('%j prints help and exits 0', async (args, usage) => {
      const result = await runCli(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Usage: ${usage}`);
      expect(result.stderr).toBe('');
    });

    it.each([
      [['nope'], /unknown command "nope"/],
      [['keys'], /keys needs a subcommand/],
      [['keys', 'rotate'], /unknown command "keys rotate"/],
      [['jwks', '--bogus'], /Unknown option '--bogus'/],
      [['jwks'], /--key is required/],
      [['jwks', '--key'], /--key/],
      [['jwks', 'extra', '--key', 'k.pem'], /unexpected argument "extra"/],
      [
        ['assertion', '--token-url', 'https://a.example.test/token', '--key', 'k.pem'],
        /--client-id is required/,
      ],
      [['token', '--client-id', 'c', '--key', 'k', '--scope', 's'], /--fhir-url or --token-url is required/],
      [['fhir', 'get'], /missing the method/],
      [['fhir', 'patch', 'Patient'], /unknown method "patch"/],
      [['keys', 'generate', '--alg', 'HS256'], /--alg must be RS384 or ES384/],
      [
        ['keys', 'generate', '--alg', 'ES384', '--rsa-bits', '4096'],
        /--rsa-bits applies to --alg RS384 only/,
      ],
      [
        [
          'token',
          '--token-url',
          'https://a.example.test/t',
          '--client-id',
          'c',
          '--key',
          'k',
          '--scope',
          's',
          '--timeout',
          'soon',
        ],
        /--timeout must be an integer/,
      ],
      [
        ['register', '--auth-url', 'http://127.0.0.1:9', '--jwks', 'j.json', '--scope', 's'],
        /--admin-token is required \(or set SMART_ADMIN_TOKEN\)/,
      ],
    ])('%j is a usage error: exit 2, one line on stderr, nothing on stdout', async (args, message) => {
      const result = await runCli(args, { cwd: dir });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stdout).toBe('');
    });
  });

  describe('keys generate', () => {
    it.each(['ES384', 'RS384'])(
      'writes private_key.pem (0600), public_key.pem and jwks.json for %s',
      async (alg) => {
        const out = join(dir, `keys-${alg}`);
        const result = await runCli(['keys', 'generate', '--alg', alg, '--out', out]);
        expect(result.code).toBe(0);
        const summary = json(result) as {
          alg: string;
          kid: string;
          files: Record<string, string>;
          jwks: PublicJwks;
        };
        expect(summary.alg).toBe(alg);
        expect(summary.files).toEqual({
          privateKey: join(out, 'private_key.pem'),
          publicKey: join(out, 'public_key.pem'),
          jwks: join(out, 'jwks.json'),
        });
        expect((await stat(summary.files.privateKey!)).mode & 0o777).toBe(0o600);
        const jwks = JSON.parse(await readFile(summary.files.jwks!, 'utf8')) as PublicJwks;
        expect(jwks).toEqual(summary.jwks);
        expect(checkPublicJwks(jwks)).toBeUndefined();
        expect(jwks.keys[0]?.kid).toBe(summary.kid);
        expect(result.stdout).not.toContain('PRIVATE KEY');
        expect(await readFile(summary.files.privateKey!, 'utf8')).toMatch(/^-{5}BEGIN PRIVATE KEY-{5}/);
      },
    );

    it('defaults to ES384 in the current directory', async () => {
      const cwd = await mkdtemp(join(dir, 'default-'));
      const result = await runCli(['keys', 'generate'], { cwd });
      expect(result.code).toBe(0);
      expect((json(result) as { alg: string }).alg).toBe('ES384');
      await expect(stat(join(cwd, 'private_key.pem'))).resolves.toBeDefined();
    });

    it('refuses to overwrite without --force (exit 2, files untouched) and replaces them with --force', async () => {
      const out = join(dir, 'force');
      const first = await runCli(['keys', 'generate', '--out', out]);
      expect(first.code).toBe(0);
      const before = await readFile(join(out, 'private_key.pem'), 'utf8');

      const refused = await runCli(['keys', 'generate', '--out', out]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/private_key\.pem already exists; use --force/);
      expect(refused.stdout).toBe('');
      expect(await readFile(join(out, 'private_key.pem'), 'utf8')).toBe(before);

      const forced = await runCli(['keys', 'generate', '--out', out, '--force']);
      expect(forced.code).toBe(0);
      expect(await readFile(join(out, 'private_key.pem'), 'utf8')).not.toBe(before);
      expect((await stat(join(out, 'private_key.pem'))).mode & 0o777).toBe(0o600);
      expect((json(forced) as { kid: string }).kid).not.toBe((json(first) as { kid: string }).kid);
    });

    it('refuses when only one of the three files exists', async () => {
      const out = join(dir, 'partial');
      await runCli(['keys', 'generate', '--out', out]);
      await rm(join(out, 'private_key.pem'));
      await rm(join(out, 'public_key.pem'));
      const result = await runCli(['keys', 'generate', '--out', out]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/jwks\.json already exists/);
      await expect(stat(join(out, 'private_key.pem'))).rejects.toThrow();
    });

    it('makes the private key 0600 even when an existing file had a wider mode (--force)', async () => {
      const out = join(dir, 'mode');
      await runCli(['keys', 'generate', '--out', out]);
      await writeFile(join(out, 'private_key.pem'), 'old', { mode: 0o666 });
      const result = await runCli(['keys', 'generate', '--out', out, '--force']);
      expect(result.code).toBe(0);
      expect((await stat(join(out, 'private_key.pem'))).mode & 0o777).toBe(0o600);
    });
  });

  describe('jwks and assertion', () => {
    let keyDir: string;
    let kid: string;

    beforeAll(async () => {
      keyDir = join(dir, 'signing');
      const result = await runCli(['keys', 'generate', '--alg', 'RS384', '--out', keyDir]);
      kid = (json(result) as { kid: string }).kid;
    }, 30_000);

    it('jwks prints the public JWKS of a private key', async () => {
      const result = await runCli(['jwks', '--key', join(keyDir, 'private_key.pem')]);
      expect(result.code).toBe(0);
      expect(json(result)).toEqual(JSON.parse(await readFile(join(keyDir, 'jwks.json'), 'utf8')));
    });

    it('assertion prints {assertion}; --decode adds header and claims', async () => {
      const args = [
        'assertion',
        '--client-id',
        'client-1',
        '--token-url',
        'https://auth.example.test/token',
        '--key',
        join(keyDir, 'private_key.pem'),
      ];
      const plain = await runCli(args);
      expect(plain.code).toBe(0);
      const { assertion } = json(plain) as { assertion: string };
      const publicKey = await importSPKI(await readFile(join(keyDir, 'public_key.pem'), 'utf8'), 'RS384');
      await jwtVerify(assertion, publicKey, {
        issuer: 'client-1',
        subject: 'client-1',
        audience: 'https://auth.example.test/token',
      });
      expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'RS384', kid, typ: 'JWT' });

      const decoded = await runCli([
        ...args,
        '--decode',
        '--lifetime',
        '120',
        '--jku',
        'https://client.example.test/jwks.json',
      ]);
      expect(decoded.code).toBe(0);
      const body = json(decoded) as {
        assertion: string;
        header: Record<string, unknown>;
        claims: Record<string, number>;
      };
      expect(body.header).toEqual({
        alg: 'RS384',
        kid,
        typ: 'JWT',
        jku: 'https://client.example.test/jwks.json',
      });
      expect(body.claims.exp! - body.claims.iat!).toBe(120);
      expect(body.claims).toMatchObject({
        iss: 'client-1',
        sub: 'client-1',
        aud: 'https://auth.example.test/token',
      });
    });

    it.each([
      [['--lifetime', '301'], /--lifetime must be an integer from 1 to 300/],
      [['--alg', 'ES384'], /ES384 needs an EC P-384 key, but this is an RSA 2048-bit key/],
      [['--token-url', 'ftp://auth.example.test/token'], /must be an http or https URL/],
      [['--jku', 'not a url'], /jku "not a url" is not an absolute URL/],
    ])('assertion %j is an input error: exit 2 with a one-line message', async (extra, message) => {
      const result = await runCli([
        'assertion',
        '--client-id',
        'c',
        '--token-url',
        'https://auth.example.test/token',
        '--key',
        join(keyDir, 'private_key.pem'),
        ...extra,
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    });

    it('names missing, invalid and non-regular key files (exit 2)', async () => {
      const missing = await runCli(['jwks', '--key', join(dir, 'nope.pem')]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/key file .*nope\.pem does not exist/);

      const garbage = join(dir, 'garbage.pem');
      await writeFile(garbage, 'not a key');
      const invalid = await runCli(['jwks', '--key', garbage]);
      expect(invalid.code).toBe(2);
      expect(invalid.stderr).toMatch(/key file .*garbage\.pem: the key is neither PEM/);

      const publicOnly = await runCli(['jwks', '--key', join(keyDir, 'public_key.pem')]);
      expect(publicOnly.code).toBe(2);
      expect(publicOnly.stderr).toMatch(/is a public key/);

      const directory = await runCli(['jwks', '--key', dir]);
      expect(directory.code).toBe(2);
      expect(directory.stderr).toMatch(/is not a regular file/);
    });

    it('warns (like ssh) when the private key file is readable by others, and still works', async () => {
      const exposed = join(dir, 'exposed.pem');
      await writeFile(exposed, await readFile(join(keyDir, 'private_key.pem'), 'utf8'), { mode: 0o644 });
      await chmod(exposed, 0o644);
      const result = await runCli(['jwks', '--key', exposed]);
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(
        /^warning: key file .*exposed\.pem is accessible by other users \(mode 0644\); run chmod 600 /,
      );
      const quiet = await runCli(['jwks', '--key', join(keyDir, 'private_key.pem')]);
      expect(quiet.stderr).toBe('');
    });

    it('prints a stack trace only with --debug', async () => {
      const quiet = await runCli(['jwks', '--key', join(dir, 'nope.pem')]);
      expect(quiet.stderr).not.toMatch(/\n\s+at /);
      const debug = await runCli(['jwks', '--key', join(dir, 'nope.pem'), '--debug']);
      expect(debug.code).toBe(2);
      expect(debug.stderr).toMatch(/\n\s+at /);
    });
  });
});
