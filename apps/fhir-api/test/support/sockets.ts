import net from 'node:net';
import { pino, type Logger } from 'pino';

/** Polls `probe` until it holds (the test timeout bounds the wait). */
export async function waitFor(probe: () => boolean, everyMs = 10): Promise<void> {
  while (!probe()) await new Promise((resolve) => setTimeout(resolve, everyMs));
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** A pino logger whose lines land, parsed, in `lines`. */
export function capturedLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
  return { logger, lines };
}

/** A raw TCP connection to `address` (http://host:port), for requests no HTTP client would send. */
export async function connect(address: string): Promise<net.Socket> {
  const url = new URL(address);
  const socket = net.connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}
