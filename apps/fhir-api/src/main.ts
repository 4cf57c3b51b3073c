#!/usr/bin/env node
// The fhir-api process: read the environment, start, and stop cleanly on SIGTERM/SIGINT — within
// 10 s, whatever happened to stdout and stderr (shutdown.ts).
import { ConfigError, loadConfig, type Config } from './config.js';
import { ignoreWriteErrors, logDestination } from './log-destination.js';
import { createLogger } from './logger.js';
import { startFhirApi } from './server.js';
import { handleStopSignals } from './shutdown.js';

async function main(): Promise<void> {
  ignoreWriteErrors(process.stderr);
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`fhir-api: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  const log = logDestination();
  const logger = createLogger(config.logLevel, log);
  const signals = handleStopSignals({ logger, log });
  const api = await startFhirApi(config, { logger });
  signals.attach((drainMs) => api.close(drainMs));
}

main().catch((error: unknown) => {
  process.stderr.write(
    `fhir-api: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
