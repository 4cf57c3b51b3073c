import { ConfigError, loadConfig } from './config.js';
import { ignoreWriteErrors, logDestination } from './log-destination.js';
import { createLogger } from './logger.js';
import { startServer } from './server.js';
import { handleStopSignals } from './shutdown.js';
import { errorSummary } from './signing/signing-keys.js';

/**
 * `node dist/main.js`: environment → stores → listen. SIGTERM/SIGINT drain and exit 0 within 10 s,
 * whatever happened to stdout and stderr (shutdown.ts).
 */
async function main(): Promise<void> {
  ignoreWriteErrors(process.stderr);
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`auth-server: invalid configuration: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const log = logDestination();
  const logger = createLogger(config.logLevel, log);
  const signals = handleStopSignals({ logger, log });
  let running;
  try {
    running = await startServer(config, { logger });
  } catch (error) {
    const { message } = errorSummary(error);
    process.stderr.write(`auth-server: cannot start: ${message}\n`);
    process.exit(1);
  }
  signals.attach((drainMs) => running.close(drainMs));
}

void main();
