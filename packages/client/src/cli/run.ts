import { createRequire } from 'node:module';
import { InvalidInputError, KeyError, SmartClientError, oneLine } from '../errors.js';
import { UsageError, parseCommandArgs, type CliIo, type Command } from './command.js';
import { assertionCommand } from './commands/assertion.js';
import { fhirCommand } from './commands/fhir.js';
import { jwksCommand } from './commands/jwks.js';
import { keysGenerateCommand } from './commands/keys-generate.js';
import { registerCommand } from './commands/register.js';
import { tokenCommand } from './commands/token.js';

export const COMMANDS: readonly Command[] = [
  keysGenerateCommand,
  jwksCommand,
  assertionCommand,
  registerCommand,
  tokenCommand,
  fhirCommand,
];

/** Exit codes (README "Exit codes"). */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const OVERVIEW = `Usage: smart-backend <command> [options]

SMART Backend Services from the command line: keys, JWKS, client assertions, tokens, FHIR calls.

Commands:
${COMMANDS.map((c) => `  ${c.path.join(' ').padEnd(16)} ${c.summary}`).join('\n')}

Run "smart-backend <command> --help" for the options of a command, "smart-backend --version" for the version.
Output is JSON on stdout; messages go to stderr.
Exit codes: 0 success, 1 refused or failed request, 2 usage or input error.`;

/**
 * Runs one CLI invocation and returns its exit code. Never throws: every failure becomes one line
 * on stderr (with the server's error_description when there is one); stack traces only with --debug.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const debug = argv.includes('--debug');
  let command: Command | undefined;
  try {
    if (argv.length === 0) {
      io.stderr(`${OVERVIEW}\n`);
      return EXIT_USAGE;
    }
    if (argv[0] === '--version' || argv[0] === '-V') {
      io.stdout(`${JSON.stringify({ version: packageVersion() })}\n`);
      return EXIT_OK;
    }
    if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      const wanted = argv[0] === 'help' ? findCommand(argv.slice(1)) : undefined;
      io.stdout(`${wanted ? wanted.command.help : OVERVIEW}\n`);
      return EXIT_OK;
    }
    const found = findCommand(argv);
    if (!found) throw new UsageError(unknownCommandMessage(argv));
    command = found.command;
    const args = parseCommandArgs(command, argv.slice(found.command.path.length));
    if (args.values.help) {
      io.stdout(`${command.help}\n`);
      return EXIT_OK;
    }
    await command.run(args, io);
    return EXIT_OK;
  } catch (error) {
    const name = command ? `smart-backend ${command.path.join(' ')}` : 'smart-backend';
    const exitCode = exitCodeFor(error);
    const hint = error instanceof UsageError ? ` (see "${name} --help")` : '';
    io.stderr(`${name}: ${messageOf(error)}${hint}\n`);
    if (debug) io.stderr(`${stackOf(error)}\n`);
    return exitCode;
  }
}

function packageVersion(): string {
  const manifest = createRequire(import.meta.url)('../../package.json') as { version?: string };
  return manifest.version ?? 'unknown';
}

function findCommand(argv: string[]): { command: Command } | undefined {
  const command = COMMANDS.find((c) => c.path.every((word, i) => argv[i] === word));
  return command ? { command } : undefined;
}

function unknownCommandMessage(argv: string[]): string {
  const first = argv[0] ?? '';
  if (first === 'keys') {
    return argv[1] === undefined
      ? 'keys needs a subcommand: keys generate'
      : `unknown command "keys ${argv[1]}"; did you mean "keys generate"?`;
  }
  return `unknown command ${JSON.stringify(first)}; commands: ${COMMANDS.map((c) => c.path.join(' ')).join(', ')}`;
}

/** 2 for anything the user can fix locally (flags, files, keys, URLs); 1 for failed or refused requests. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError || error instanceof InvalidInputError || error instanceof KeyError) {
    return EXIT_USAGE;
  }
  return EXIT_FAILED;
}

/** One line, always: server-supplied text is flattened and bounded. */
function messageOf(error: unknown): string {
  if (error instanceof SmartClientError || error instanceof UsageError) return oneLine(error.message, 2000);
  const text = error instanceof Error ? error.message : String(error);
  return `unexpected error: ${oneLine(text)}`;
}

function stackOf(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    lines.push(
      depth === 0
        ? String((current as Error).stack ?? current)
        : `Caused by: ${String((current as Error).stack ?? current)}`,
    );
    current = current instanceof Error ? current.cause : undefined;
  }
  return lines.join('\n');
}
