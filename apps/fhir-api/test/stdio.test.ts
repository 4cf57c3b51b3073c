import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { killServers, spawnServer, terminate, type ServerProcess } from './support/stdio-processes.js';

// A dead or stuck log collector must not keep the server from stopping: whatever happened to
// stdout and stderr, `node dist/main.js` exits 0 soon after SIGTERM (at the latest 9.5 s after
// it). Before, a closed stdout pipe (`node dist/main.js | head -1`) left the process running
// after SIGTERM, its event loop blocked in the logger's exit flush retrying EPIPE for ever.
const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js');
/** Nothing is in flight, so stopping takes well under this; the hard bound is 9.5 s. */
const PROMPTLY_MS = 5000;

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'fhir-api-stdio-'));
});
afterEach(() => killServers());
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const start = () => spawnServer(MAIN, { PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info' });

/** Requests the server logs, about 4 kB each (the request line carries the path). */
async function makeItLog(server: ServerProcess, kilobytes: number): Promise<void> {
  const path = `/${'x'.repeat(4000)}`;
  for (let sent = 0; sent < kilobytes; sent += 4 * 10) {
    await Promise.all(
      Array.from({ length: 10 }, async () => (await fetch(`${server.first.address}${path}`)).arrayBuffer()),
    );
  }
}

describe('SIGTERM whatever happened to stdout and stderr', () => {
  it.each([
    [
      'stdout closed after the first line',
      (server: ServerProcess) => {
        server.child.stdout.destroy();
      },
    ],
    [
      'stdout and stderr closed after the first line',
      (server: ServerProcess) => {
        server.child.stdout.destroy();
        server.child.stderr.destroy();
      },
    ],
    [
      'stderr closed, stdout read',
      (server: ServerProcess) => {
        server.child.stderr.destroy();
        server.child.stdout.resume();
      },
    ],
    [
      'stdout closed while the server is logging',
      async (server: ServerProcess) => {
        server.child.stdout.destroy();
        await makeItLog(server, 40);
      },
    ],
    [
      'stdout never read again (a stuck collector) while the server logs 400 kB',
      async (server: ServerProcess) => {
        await makeItLog(server, 400);
      },
    ],
  ])('%s: exits 0 promptly', async (_, happen) => {
    const server = await start();
    await happen(server);
    const stopped = await terminate(server, PROMPTLY_MS);
    expect(stopped).toEqual({ code: 0, signal: null, ms: expect.any(Number) });
  });
});
