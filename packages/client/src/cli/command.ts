import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CliEnvironment } from '../config.js';
import type { TransportOptions } from '../http.js';

/** A command-line mistake: exit code 2, the message, and a pointer to --help. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: CliEnvironment;
  /** Reads all of standard input (for `--data -`). */
  readStdin: () => Promise<string>;
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  /** Words that select the command, e.g. `['keys', 'generate']`. */
  readonly path: readonly string[];
  readonly summary: string;
  readonly help: string;
  readonly options: OptionSpec;
  /** How many positional arguments it takes. */
  readonly positionals: { min: number; max: number; names: string };
  run(args: ParsedArgs, io: CliIo): Promise<void>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Flags every command accepts. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  debug: { type: 'boolean' },
} as const satisfies OptionSpec;

/** Flags of every command that talks to a server. */
export const NETWORK_OPTIONS = {
  timeout: { type: 'string' },
  retries: { type: 'string' },
  'allow-insecure-http': { type: 'boolean' },
} as const satisfies OptionSpec;

export const NETWORK_HELP = `  --timeout MS             per-request timeout in milliseconds (default 10000)
  --retries N              extra attempts on connection errors and 5xx for retry-safe requests (default 2)
  --allow-insecure-http    allow plain http to hosts other than localhost/127.0.0.1/[::1]`;

export const COMMON_HELP = `  --debug                  print stack traces on failure
  -h, --help               show this help`;

/** node:util parseArgs, with its errors turned into one-line usage errors. */
export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...command.options },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    const message = error instanceof Error ? (error.message.split('. ')[0] ?? error.message) : String(error);
    throw new UsageError(message.replace(/\.$/, ''));
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) return { values, positionals: parsed.positionals };
  const { min, max, names } = command.positionals;
  if (parsed.positionals.length < min) throw new UsageError(`missing ${names}`);
  if (parsed.positionals.length > max) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[max])}`);
  }
  return { values, positionals: parsed.positionals };
}

export function requireString(args: ParsedArgs, name: string): string {
  const value = args.values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

export function optionalString(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} needs a value`);
  return value;
}

export function optionalInteger(
  args: ParsedArgs,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const text = optionalString(args, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

export function transportOptions(args: ParsedArgs): TransportOptions {
  const timeoutMs = optionalInteger(args, 'timeout', 1, 600_000);
  const retries = optionalInteger(args, 'retries', 0, 10);
  return {
    ...(timeoutMs !== undefined && { timeoutMs }),
    ...(retries !== undefined && { retries }),
    allowInsecureHttp: args.values['allow-insecure-http'] === true,
  };
}

export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}
