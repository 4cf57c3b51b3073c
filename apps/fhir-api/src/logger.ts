import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';
import { logDestination } from './log-destination.js';

export type { Logger } from 'pino';

/**
 * pino JSON lines on stdout (pino's default fields: numeric `level`, `time`, `pid`, `hostname`),
 * through a destination that a gone or stuck log reader cannot block (log-destination.ts).
 */
export function createLogger(
  level: LogLevel,
  destination: pino.DestinationStream = logDestination(),
): Logger {
  return pino({ level }, destination);
}
