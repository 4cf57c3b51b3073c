import type { Writable } from 'node:stream';

/**
 * Where log lines go: stdout, through Node's own stream, in a way that a log collector that is gone
 * or stuck can neither stop the server nor keep it from stopping.
 *
 * Why not pino's default destination (sonic-boom writing to fd 1): once the reading end of a
 * stdout pipe is closed, its synchronous flush at exit retries the failed write (EPIPE) every
 * 100 ms for ever, blocking the event loop; a SIGTERM'd server closed its listener and then never
 * exited, and neither a timer nor a second signal could run. On a pipe nobody reads, that flush
 * blocks in write(2) for good.
 *
 * Here, through `process.stdout` (for a pipe, Node writes without blocking and queues the rest):
 * - a write error (EPIPE: the reader is gone) ends logging for good, silently: there is nowhere
 *   left to report it;
 * - while more than `maxPendingBytes` wait for a slow reader, new lines are dropped (and counted)
 *   rather than held in memory;
 * - {@link LogDestination.flush} waits for what is pending, but never longer than asked; nothing
 *   is flushed at exit behind the server's back.
 */

export const DEFAULT_MAX_PENDING_LOG_BYTES = 4 * 1024 * 1024;

export interface LogDestination {
  /** pino's destination interface. */
  write(line: string): void;
  /** Resolves once every pending line is written, the stream has failed, or `withinMs` has passed. */
  flush(withinMs: number): Promise<void>;
  /** Lines dropped because the reader was too slow or gone. */
  readonly dropped: number;
}

export function logDestination(
  stream: Writable = process.stdout,
  maxPendingBytes = DEFAULT_MAX_PENDING_LOG_BYTES,
): LogDestination {
  ignoreWriteErrors(stream);
  let threw = false;
  let dropped = 0;
  const unusable = () => threw || stream.destroyed || stream.errored !== null;
  return {
    write(line: string) {
      if (unusable() || stream.writableLength > maxPendingBytes) {
        dropped += 1;
        return;
      }
      try {
        stream.write(line);
      } catch {
        // A file or terminal stdout writes synchronously and can throw (ENOSPC, EIO).
        threw = true;
        dropped += 1;
      }
    },
    flush(withinMs: number) {
      const deadline = Date.now() + withinMs;
      return new Promise<void>((resolve) => {
        const check = () => {
          if (unusable() || stream.writableLength === 0 || Date.now() >= deadline) resolve();
          else setTimeout(check, 10);
        };
        check();
      });
    },
    get dropped() {
      return dropped;
    },
  };
}

/** Streams that already carry the listener below (one each, however many destinations share them). */
const guarded = new WeakSet<Writable>();

/**
 * A write error on stdout or stderr (the reader gone) is not worth dying for, yet without a
 * listener Node throws it as an uncaught exception. The stream is destroyed by the error, which
 * {@link logDestination} sees before its next write.
 */
export function ignoreWriteErrors(stream: Writable): void {
  if (guarded.has(stream)) return;
  guarded.add(stream);
  stream.on('error', () => undefined);
}
