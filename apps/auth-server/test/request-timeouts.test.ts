import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startServer, type RunningServer } from '../src/server.js';
import { waitFor } from './backends.js';
import { ADMIN_TOKEN, tempDir } from './helpers.js';
import { sendAndStall, sendSlowly, statusOf, trickle } from './slow-clients.js';

// A client may take at most `headersTimeoutMs` for its headers and `requestTimeoutMs` for the whole
// request. Both hold as configured: a connection that trickles bytes is cut at the timeout (not up
// to 30 s later, when Node's default connection check would run), and a slow request within both
// is answered normally. Small values here; the defaults are 10 s and 30 s.
const HEADERS_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 6000;
/** Generous for a loaded machine, and far below Node's default 30 s check interval. */
const LATE_MS = 2000;
const REQUEST_TIMEOUT_RESPONSE = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';

let server: RunningServer;
const logs: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  const logger = createLogger('info', {
    write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>),
  });
  server = await startServer(loadConfig({ PORT: '0', DATA_DIR: tempDir(), ADMIN_TOKEN }), {
    logger,
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
  });
});
afterAll(async () => {
  await server.close(0);
});

const tokenHead = (length: number) =>
  'POST /token HTTP/1.1\r\nHost: auth.test\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
  `Content-Length: ${length}\r\nConnection: close\r\n\r\n`;

describe('request timeouts', () => {
  it('cuts a connection that trickles its headers at headersTimeoutMs, answering 408 if nothing was in flight', async () => {
    const outcome = await trickle(server.address, {
      head: 'GET /healthz HTTP/1.1\r\nHost: auth.test\r\nX-Slow: ',
      drip: 'a',
      everyMs: 100,
    });
    expect(outcome.ms).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(outcome.ms).toBeLessThan(HEADERS_TIMEOUT_MS + LATE_MS);
    expect(['', REQUEST_TIMEOUT_RESPONSE]).toContain(outcome.received);
  });

  it('cuts a connection that trickles its body at requestTimeoutMs; the token endpoint logs a refusal, not an error', async () => {
    const from = logs.length;
    const outcome = await trickle(server.address, { head: tokenHead(10_000), drip: 'a', everyMs: 100 });
    expect(outcome.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(outcome.ms).toBeLessThan(REQUEST_TIMEOUT_MS + LATE_MS);
    expect(['', REQUEST_TIMEOUT_RESPONSE]).toContain(outcome.received);
    const refusal = { event: 'token', outcome: 'refused', reason: 'request.malformed_body' };
    await waitFor(() => logs.slice(from).some((line) => line.reason === refusal.reason));
    expect(logs.slice(from)).toContainEqual(expect.objectContaining({ level: 'info', ...refusal }));
    expect(logs.slice(from).filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
  });

  it('a client that stops sending mid-request gets 408 Request Timeout and a closed connection', async () => {
    const [headers, body] = await Promise.all([
      sendAndStall(server.address, 'GET /healthz HTTP/1.1\r\nHost: auth.test\r\n'),
      sendAndStall(server.address, `${tokenHead(100)}grant_type=`),
    ]);
    for (const outcome of [headers, body]) {
      expect(outcome).toMatchObject({ received: REQUEST_TIMEOUT_RESPONSE, ended: 'closed' });
    }
    expect(headers.ms).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(headers.ms).toBeLessThan(HEADERS_TIMEOUT_MS + LATE_MS);
    expect(body.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(body.ms).toBeLessThan(REQUEST_TIMEOUT_MS + LATE_MS);
  });

  it('answers a slow request whose headers and body each arrive well within the timeouts', async () => {
    const form = 'grant_type=client_credentials&scope=system%2FPatient.rs';
    const head = tokenHead(form.length);
    const cut = head.indexOf('Content-Type');
    // A part every 1.2 s: the headers are complete at 40 % of headersTimeoutMs, the body at 60 % of
    // requestTimeoutMs (and later than headersTimeoutMs).
    const parts = [head.slice(0, cut), head.slice(cut), form.slice(0, 20), form.slice(20)];
    const outcome = await sendSlowly(server.address, parts, 0.4 * HEADERS_TIMEOUT_MS);
    // The whole form arrived and was judged (it carries no client assertion).
    expect(statusOf(outcome.received)).toBe(400);
    expect(outcome.received).toContain('client_assertion_type.missing');
    expect(outcome.completedAtMs).toBeGreaterThanOrEqual(3 * 0.4 * HEADERS_TIMEOUT_MS - 50);
  });

  it.each([
    [0, 1000],
    [1000, 0],
    [1.5, 1000],
    [2000, 1000],
  ])(
    'refuses headersTimeoutMs=%s with requestTimeoutMs=%s, naming the option',
    async (headersTimeoutMs, requestTimeoutMs) => {
      await expect(
        startServer(loadConfig({ PORT: '0', DATA_DIR: tempDir(), ADMIN_TOKEN }), {
          logger: createLogger('silent'),
          headersTimeoutMs,
          requestTimeoutMs,
        }),
      ).rejects.toThrow(/headersTimeoutMs|requestTimeoutMs/);
    },
  );
});
