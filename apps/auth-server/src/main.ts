import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startServer } from './server.js';
import { errorSummary } from './signing/signing-keys.js';

/** `node dist/main.js`: environment → stores → listen. SIGTERM/SIGINT drain and exit 0 within 10 s. */
async function main(): Promise<void> {
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
  const logger = createLogger(config.logLevel);
  let running;
  try {
    running = await startServer(config, { logger });
  } catch (error) {
    const { message } = errorSummary(error);
    process.stderr.write(`auth-server: cannot start: ${message}\n`);
    process.exit(1);
  }

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    // A second signal does not cut the drain short (the 9.5 s bound below still holds).
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    // Whatever happens, the process is gone within 10 s.
    setTimeout(() => process.exit(0), 9500).unref();
    void running.close(8000).then(() => {
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

void main();
