import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { logDestination, type LogDestination } from '../src/log-destination.js';
import { handleStopSignals, type StoppableProcess } from '../src/shutdown.js';

// The stop sequence of main.js (shutdown.ts) and the log destination it flushes
// (log-destination.ts), with a stand-in process and streams: every way to stop ends in exactly
// one exit, at the latest `exitWithinMs` after the first signal.

class FakeProcess extends EventEmitter implements StoppableProcess {
  readonly exits: number[] = [];
  private resolveExit: (code: number) => void = () => undefined;
  /** The first exit code, and when (ms after `signal`). */
  readonly exited = new Promise<number>((resolve) => (this.resolveExit = resolve));
  signalledAt = 0;
  exit(code: number): void {
    this.exits.push(code);
    this.resolveExit(code);
  }
  signal(name: NodeJS.Signals = 'SIGTERM'): void {
    this.signalledAt = Date.now();
    this.emit(name, name);
  }
}

/** A stdout whose reader never reads: every write stays pending. */
function stuckStream(): Writable {
  return new Writable({ write: () => undefined });
}

/** A stdout whose reader is gone: every write fails with EPIPE. */
function brokenPipe(): Writable {
  return new Writable({
    write: (_chunk, _encoding, callback) =>
      callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })),
  });
}

function setUp(options: { log?: LogDestination; exitWithinMs?: number; logFlushMs?: number } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const log = options.log ?? logDestination(new Writable({ write: (_c, _e, callback) => callback() }));
  const logger = pino(
    { level: 'info' },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line) as Record<string, unknown>);
        log.write(line);
      },
    },
  );
  const proc = new FakeProcess();
  const signals = handleStopSignals({
    logger,
    log,
    process: proc,
    drainMs: 50,
    exitWithinMs: options.exitWithinMs ?? 1000,
    logFlushMs: options.logFlushMs ?? 100,
  });
  return { proc, signals, lines };
}

describe('handleStopSignals', () => {
  it.each([['SIGTERM' as const], ['SIGINT' as const]])(
    '%s: drains with drainMs, logs "stopped" and exits 0',
    async (signal) => {
      const { proc, signals, lines } = setUp();
      const drains: number[] = [];
      signals.attach(async (drainMs) => {
        drains.push(drainMs);
      });
      proc.signal(signal);
      expect(await proc.exited).toBe(0);
      expect(drains).toEqual([50]);
      expect(lines.map((line) => line.msg)).toEqual([
        'shutting down: draining in-flight requests',
        'stopped',
      ]);
    },
  );

  it('exits 0 at exitWithinMs when closing never ends (the hard bound)', async () => {
    const { proc, signals } = setUp({ exitWithinMs: 300 });
    signals.attach(() => new Promise<void>(() => undefined));
    proc.signal();
    expect(await proc.exited).toBe(0);
    const elapsed = Date.now() - proc.signalledAt;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2000);
  });

  it('exits 1 when closing fails, logging why', async () => {
    const { proc, signals, lines } = setUp();
    signals.attach(() => Promise.reject(new Error('store would not close')));
    proc.signal();
    expect(await proc.exited).toBe(1);
    expect(lines).toContainEqual(expect.objectContaining({ level: 50, msg: 'shutdown failed' }));
  });

  it('a signal that comes while the server is starting stops it as soon as it runs', async () => {
    const { proc, signals } = setUp();
    proc.signal();
    let closed = false;
    signals.attach(async () => {
      closed = true;
    });
    expect(await proc.exited).toBe(0);
    expect(closed).toBe(true);
  });

  it('a second signal does not close twice nor cut the drain short', async () => {
    const { proc, signals } = setUp();
    let closes = 0;
    let finish: () => void = () => undefined;
    signals.attach(() => {
      closes += 1;
      return new Promise<void>((resolve) => (finish = resolve));
    });
    proc.signal('SIGTERM');
    proc.signal('SIGINT');
    proc.signal('SIGTERM');
    expect(proc.exits).toEqual([]);
    finish();
    expect(await proc.exited).toBe(0);
    expect(closes).toBe(1);
    expect(proc.exits).toEqual([0]);
  });

  it.each([
    ['stuck (nobody reads it)', stuckStream],
    ['gone (EPIPE)', brokenPipe],
  ])('a log reader that is %s delays the exit by logFlushMs at most', async (_, stream) => {
    const log = logDestination(stream());
    const { proc, signals } = setUp({ log, logFlushMs: 200 });
    signals.attach(async () => undefined);
    proc.signal();
    expect(await proc.exited).toBe(0);
    expect(Date.now() - proc.signalledAt).toBeLessThan(1000);
  });
});

describe('logDestination', () => {
  it('after a write error (EPIPE) drops every line, throwing nothing', async () => {
    const stream = brokenPipe();
    const log = logDestination(stream);
    log.write('first\n');
    await new Promise((resolve) => stream.once('close', resolve));
    expect(() => log.write('second\n')).not.toThrow();
    expect(log.dropped).toBe(1);
  });

  it('drops lines while more than maxPendingBytes wait for a reader that does not read', () => {
    const log = logDestination(stuckStream(), 100);
    for (let i = 0; i < 10; i++) log.write(`${'x'.repeat(59)}\n`);
    // The stuck first write holds 60 bytes, the second is queued behind it: 120 > 100.
    expect(log.dropped).toBe(8);
  });

  it('drops a line whose synchronous write throws (a full disk), and every line after it', () => {
    const log = logDestination(
      new Writable({
        write: () => {
          throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
        },
      }),
    );
    expect(() => log.write('a\n')).not.toThrow();
    log.write('b\n');
    expect(log.dropped).toBe(2);
  });

  it('flush resolves once everything is written, or after withinMs when it cannot be', async () => {
    const writes: Array<() => void> = [];
    const slow = new Writable({ write: (_chunk, _encoding, callback) => writes.push(callback) });
    const log = logDestination(slow);
    log.write('line\n');
    let flushed = false;
    const flushing = log.flush(10_000).then(() => (flushed = true));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(flushed).toBe(false);
    writes.shift()?.();
    await flushing;
    expect(slow.writableLength).toBe(0);

    const stuck = logDestination(stuckStream());
    stuck.write('line\n');
    const started = Date.now();
    await stuck.flush(100);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });
});
