import type { Logger } from 'pino';
import type { LogDestination } from './log-destination.js';

/** How long in-flight requests may go on after a stop signal; then their connections are closed. */
export const DRAIN_MS = 8000;
/** The process is gone this long after the first stop signal, whatever else happens. */
export const EXIT_WITHIN_MS = 9500;
/** What is still queued for a slow log reader gets at most this long at the end. */
export const LOG_FLUSH_MS = 500;

/** The parts of `process` this uses; tests hand in a stand-in. */
export interface StoppableProcess {
  on(event: 'SIGTERM' | 'SIGINT', listener: (signal: NodeJS.Signals) => void): unknown;
  exit(code: number): void;
}

export interface StopSignalOptions {
  readonly logger: Logger;
  /** The logger's destination, flushed (briefly) before exiting. */
  readonly log: LogDestination;
  readonly drainMs?: number;
  readonly exitWithinMs?: number;
  readonly logFlushMs?: number;
  /** Default: the real process. */
  readonly process?: StoppableProcess;
}

export interface StopSignals {
  /**
   * What stopping the running server means: stop accepting, drain for up to `drainMs`, close the
   * stores. A signal that came while the server was starting stops it now.
   */
  attach(close: (drainMs: number) => Promise<void>): void;
}

/**
 * SIGTERM and SIGINT, listened for from before the server starts (a supervisor may signal as soon
 * as it reads the `listening` line): drain and close the server, flush the log (at most
 * `logFlushMs`), exit 0 — or 1 if closing failed. Whatever happens meanwhile (a request that will
 * not end, a store that will not close, a log reader that is gone or stuck), the process exits 0
 * `exitWithinMs` after the first signal. A second signal does not cut the drain short.
 */
export function handleStopSignals(options: StopSignalOptions): StopSignals {
  const proc = options.process ?? process;
  const drainMs = options.drainMs ?? DRAIN_MS;
  const exitWithinMs = options.exitWithinMs ?? EXIT_WITHIN_MS;
  const logFlushMs = options.logFlushMs ?? LOG_FLUSH_MS;
  const { logger, log } = options;
  let signalled = false;
  let close: ((drainMs: number) => Promise<void>) | undefined;
  let stopping = false;

  const exit = async (code: number) => {
    await log.flush(logFlushMs);
    proc.exit(code);
  };
  const stop = () => {
    if (!signalled || !close || stopping) return;
    stopping = true;
    close(drainMs).then(
      () => {
        logger.info('stopped');
        return exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        return exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    // The bound holds even if draining, closing or logging hangs: nothing here blocks the event
    // loop (see log-destination.ts), so this timer always gets to run.
    setTimeout(() => proc.exit(0), exitWithinMs).unref();
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    stop();
  };
  proc.on('SIGTERM', onSignal);
  proc.on('SIGINT', onSignal);
  return {
    attach(given) {
      close = given;
      stop();
    },
  };
}
