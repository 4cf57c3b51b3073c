import { lstat, open, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  DEFAULT_GENERATED_KEY_ALGORITHM,
  DEFAULT_RSA_MODULUS_LENGTH,
  GENERATED_KEY_ALGORITHMS,
  RSA_MODULUS_LENGTHS,
  generateClientKeys,
  type GeneratedKeyAlgorithm,
} from '../../keys.js';
import { InvalidInputError } from '../../errors.js';
import { ensureDirectory, fileProblem } from '../../files.js';
import { COMMON_HELP, UsageError, optionalString, printJson, type Command } from '../command.js';

export const PRIVATE_KEY_FILE = 'private_key.pem';
export const PUBLIC_KEY_FILE = 'public_key.pem';
export const JWKS_FILE = 'jwks.json';

export const keysGenerateCommand: Command = {
  path: ['keys', 'generate'],
  summary: 'generate a signing key pair and its public JWKS',
  help: `Usage: smart-backend keys generate [--alg RS384|ES384] [--out DIR] [--force] [--rsa-bits N]

Generates a key pair for client assertions and writes, in DIR:
  ${PRIVATE_KEY_FILE}   PKCS#8 private key (mode 0600; keep it secret)
  ${PUBLIC_KEY_FILE}    SPKI public key
  ${JWKS_FILE}          public JWK Set to register (kid = RFC 7638 thumbprint, alg, use "sig")
Prints a JSON summary: alg, kid, the three paths and the public JWKS.

Options:
  --alg RS384|ES384        algorithm (default ${DEFAULT_GENERATED_KEY_ALGORITHM}); RS384 → RSA, ES384 → EC P-384
  --out DIR                directory to write to (default: current directory; created if missing)
  --force                  overwrite existing files (otherwise refuse)
  --rsa-bits N             RSA modulus length for RS384: ${RSA_MODULUS_LENGTHS.join(', ')} (default ${DEFAULT_RSA_MODULUS_LENGTH})
${COMMON_HELP}`,
  options: {
    alg: { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
    'rsa-bits': { type: 'string' },
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(args, io) {
    const alg = optionalString(args, 'alg') ?? DEFAULT_GENERATED_KEY_ALGORITHM;
    if (!(GENERATED_KEY_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new UsageError(
        `--alg must be ${GENERATED_KEY_ALGORITHMS.join(' or ')}, got ${JSON.stringify(alg)}`,
      );
    }
    const bitsText = optionalString(args, 'rsa-bits');
    if (bitsText !== undefined && alg !== 'RS384')
      throw new UsageError('--rsa-bits applies to --alg RS384 only');
    const modulusLength = bitsText === undefined ? DEFAULT_RSA_MODULUS_LENGTH : Number(bitsText);
    if (!(RSA_MODULUS_LENGTHS as readonly number[]).includes(modulusLength)) {
      throw new UsageError(
        `--rsa-bits must be one of ${RSA_MODULUS_LENGTHS.join(', ')}, got ${JSON.stringify(bitsText)}`,
      );
    }
    const dir = resolve(optionalString(args, 'out') ?? '.');
    const force = args.values.force === true;
    const paths = {
      privateKey: resolve(dir, PRIVATE_KEY_FILE),
      publicKey: resolve(dir, PUBLIC_KEY_FILE),
      jwks: resolve(dir, JWKS_FILE),
    };

    await ensureDirectory(dir, 0o700);
    // Refuse before generating anything, so an existing key pair is never half overwritten.
    if (!force) {
      const existing = await firstExisting(Object.values(paths));
      if (existing)
        throw new UsageError(
          `${existing} already exists; use --force to overwrite or --out to choose another directory`,
        );
    }

    const keys = await generateClientKeys({ alg: alg as GeneratedKeyAlgorithm, modulusLength });
    await writeNewFile(paths.privateKey, keys.privateKeyPem, 0o600, force);
    await writeNewFile(paths.publicKey, keys.publicKeyPem, 0o644, force);
    await writeNewFile(paths.jwks, `${JSON.stringify(keys.jwks, null, 2)}\n`, 0o644, force);
    printJson(io, { alg: keys.alg, kid: keys.kid, files: paths, jwks: keys.jwks });
  },
};

async function firstExisting(paths: string[]): Promise<string | undefined> {
  for (const path of paths) {
    try {
      await lstat(path);
      return path;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fileProblem('output file', path, error);
    }
  }
  return undefined;
}

/**
 * Creates the file exclusively (O_EXCL: never follows a planted symlink, never races another
 * writer) with its mode set at creation, so the private key is never readable by others, not even
 * briefly. With --force an existing file is unlinked first, then created the same way.
 */
async function writeNewFile(path: string, content: string, mode: number, force: boolean): Promise<void> {
  if (force) {
    try {
      await unlink(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw fileProblem('output file', path, error);
      }
    }
  }
  let handle;
  try {
    handle = await open(path, 'wx', mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${path} already exists; use --force to overwrite`);
    if (code === 'ENOENT')
      throw new InvalidInputError(`output file ${path} cannot be created here (ENOENT)`, { cause: error });
    throw fileProblem('output file', path, error);
  }
  try {
    // The umask can only narrow the mode; the private key's must be exactly 0600 whatever it is.
    if (mode === 0o600) await handle.chmod(mode);
    await handle.writeFile(content, 'utf8');
  } catch (error) {
    throw fileProblem('output file', path, error);
  } finally {
    await handle.close();
  }
}
