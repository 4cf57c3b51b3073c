import { readPrivateKeyFile, type ClientSigningKey } from '../../keys.js';
import { optionalString, requireString, type OptionSpec, type ParsedArgs } from '../command.js';

/** `--key FILE [--alg A] [--kid K]`: the private signing key, shared by every signing command. */
export const KEY_OPTIONS = {
  key: { type: 'string' },
  alg: { type: 'string' },
  kid: { type: 'string' },
} as const satisfies OptionSpec;

export const KEY_HELP = `  --key FILE               private key: PKCS#8 PEM or a private JWK (JSON)
  --alg ALG                RS384 or ES384 (default: from the key, RSA → RS384, P-384 → ES384)
  --kid KID                header kid (default: the JWK's kid, else the RFC 7638 thumbprint)`;

export async function loadKeyFromArgs(args: ParsedArgs): Promise<ClientSigningKey> {
  const path = requireString(args, 'key');
  const alg = optionalString(args, 'alg');
  const kid = optionalString(args, 'kid');
  return readPrivateKeyFile(path, { ...(alg !== undefined && { alg }), ...(kid !== undefined && { kid }) });
}
