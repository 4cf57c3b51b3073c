#!/usr/bin/env node
// The fhir-api process: read the environment, start, and stop cleanly on SIGTERM/SIGINT.
import { pino } from 'pino';
import { ConfigError, loadConfig, type Config } from './config.js';
import { startFhirApi } from './server.js';

async function main(): Promise<void> {
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

  const logger = pino({ level: config.logLevel });
  const api = await startFhirApi(config, { logger });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    api.close(8000).then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `fhir-api: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
