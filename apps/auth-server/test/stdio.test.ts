import { afterEach, describe, expect, it } from '@jest/globals';
import { ADMIN_TOKEN, tempDir } from './helpers.js';
import { MAIN } from './processes.js';
import { killServers, spawnServer, terminate, type ServerProcess } from './stdio-processes.js';

// A dead or stuck log collector must not keep the server from stopping: whatever happened to
// stdout and stderr, `node dist/main.js` exits 0 soon after SIGTERM (at the latest 9.5 s after
// it). Before, a closed stdout pipe (`node dist/main.js | head -3`) left the process running
// after SIGTERM, its event loop blocked in the logger's exit flush retrying EPIPE for ever.
/** Nothing is in flight, so stopping takes well under this; the hard bound is 9.5 s. */
const PROMPTLY_MS = 5000;

afterEach(() => killServers());

const start = () => spawnServer(MAIN, { PORT: '0', DATA_DIR: tempDir(), ADMIN_TOKEN, LOG_LEVEL: 'info' });

/** Registrations, each logged as an audit line of about 4 kB (the line carries the jwks_uri). */
async function makeItLog(server: ServerProcess, kilobytes: number): Promise<void> {
  const jwksUri = `http://127.0.0.1/${'x'.repeat(4000)}`;
  for (let sent = 0; sent < kilobytes; sent += 4 * 10) {
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const res = await fetch(`${server.first.address}/register`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ jwks_uri: jwksUri, scope: 'system/Patient.rs' }),
        });
        await res.arrayBuffer();
      }),
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
