#!/usr/bin/env node
import { readCliEnvironment } from '../config.js';
import { runCli } from './run.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

// Exit by setting exitCode, not process.exit(): stdout to a pipe is written asynchronously.
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: readCliEnvironment(),
  readStdin,
});
