import { createHash } from 'node:crypto';
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';
import { logDestination } from './log-destination.js';

export type { Logger } from 'pino';

/**
 * Structured JSON logs on stdout, through a destination that a gone or stuck log reader cannot
 * block (log-destination.ts). What is logged is chosen field by field at each call site: never
 * an assertion, an access token, a key or the admin token (README "Logs").
 */
export function createLogger(
  level: LogLevel,
  destination: pino.DestinationStream = logDestination(),
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'auth-server' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return pino(options, destination);
}

/** A short, non-reversible handle on (iss, jti) so audit lines can be correlated without the raw jti. */
export function jtiHash(iss: string, jti: string): string {
  return createHash('sha256').update(iss).update('\0').update(jti).digest('base64url').slice(0, 16);
}

/** Attacker-controlled strings are bounded before they reach a log line. */
export function truncateForLog(value: string, max = 256): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}
