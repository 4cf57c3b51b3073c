import { readPrivateKeyFileWithMode, type ClientSigningKey } from '../../keys.js';
import { MAX_ASSERTION_LIFETIME_SECONDS } from '@smart-backend/protocol';
import {
  optionalInteger,
  optionalString,
  requireString,
  type CliIo,
  type OptionSpec,
  type ParsedArgs,
} from '../command.js';

/** `--key FILE [--alg A] [--kid K]`: the private signing key, shared by every signing command. */
export const KEY_OPTIONS = {
  key: { type: 'string' },
  alg: { type: 'string' },
  kid: { type: 'string' },
} as const satisfies OptionSpec;

export const KEY_HELP = `  --key FILE               private key: PKCS#8 PEM or a private JWK (JSON)
  --alg ALG                RS384 or ES384 (default: from the key, RSA → RS384, P-384 → ES384)
  --kid KID                header kid (default: the JWK's kid, else the RFC 7638 thumbprint)`;

export async function loadKeyFromArgs(args: ParsedArgs, io: CliIo): Promise<ClientSigningKey> {
  const path = requireString(args, 'key');
  const alg = optionalString(args, 'alg');
  const kid = optionalString(args, 'kid');
  const { key, mode } = await readPrivateKeyFileWithMode(path, {
    ...(alg !== undefined && { alg }),
    ...(kid !== undefined && { kid }),
  });
  warnIfExposed(path, mode, io);
  return key;
}

/** REG-03: the private key must stay confidential; like ssh, say so when others can read it. */
function warnIfExposed(path: string, mode: number, io: CliIo): void {
  if (process.platform === 'win32') return;
  const permissions = mode & 0o777;
  if ((permissions & 0o077) !== 0) {
    io.stderr(
      `warning: key file ${path} is accessible by other users (mode ${permissions.toString(8).padStart(4, '0')}); run chmod 600 ${path}\n`,
    );
  }
}

/**
 * `--client-id ID --key FILE [--alg A] [--kid K] [--jku URL] [--lifetime S]`: who signs the client
 * assertion and how, shared by `assertion`, `token` and `fhir`.
 */
export const SIGNER_OPTIONS = {
  'client-id': { type: 'string' },
  ...KEY_OPTIONS,
  jku: { type: 'string' },
  lifetime: { type: 'string' },
} as const satisfies OptionSpec;

export interface SignerArgs {
  readonly clientId: string;
  readonly key: ClientSigningKey;
  readonly jku?: string;
  /** Assertion lifetime in seconds (1–300). */
  readonly lifetime?: number;
}

/** Reads {@link SIGNER_OPTIONS}; usage errors for missing or out-of-range values come before the key file is read. */
export async function signerFromArgs(args: ParsedArgs, io: CliIo): Promise<SignerArgs> {
  const clientId = requireString(args, 'client-id');
  const jku = optionalString(args, 'jku');
  const lifetime = optionalInteger(args, 'lifetime', 1, MAX_ASSERTION_LIFETIME_SECONDS);
  const key = await loadKeyFromArgs(args, io);
  return {
    clientId,
    key,
    ...(jku !== undefined && { jku }),
    ...(lifetime !== undefined && { lifetime }),
  };
}
