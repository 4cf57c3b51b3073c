import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig, startFhirApi, type RunningFhirApi } from '../src/index.js';
import { startFakeAuthServer, type FakeAuthServer } from './support/fake-auth-server.js';
import { sendAndStall, sendSlowly, statusOf, trickle } from './support/slow-clients.js';
import { capturedLogger, waitFor, type LogLine } from './support/sockets.js';

// A client may take at most `headersTimeoutMs` for its headers and `requestTimeoutMs` for the whole
// request. Both hold as configured: a connection that trickles bytes is cut at the timeout (not up
// to 30 s later, when Node's default connection check would run), and a slow request within both
// is answered normally. Small values here; the defaults are 10 s and 30 s.
const HEADERS_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 6000;
/** Generous for a loaded machine, and far below Node's default 30 s check interval. */
const LATE_MS = 2000;

let auth: FakeAuthServer;
let api: RunningFhirApi;
let dataDir: string;
let lines: LogLine[];
let token: string;

beforeAll(async () => {
  auth = await startFakeAuthServer();
  dataDir = mkdtempSync(join(tmpdir(), 'fhir-api-timeouts-'));
  const captured = capturedLogger();
  lines = captured.lines;
  api = await startFhirApi(loadConfig({ PORT: '0', DATA_DIR: dataDir, AUTH_URL: auth.url }), {
    logger: captured.logger,
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
  });
  token = await auth.mint(api.url, { scope: 'system/*.cruds' });
});
afterAll(async () => {
  await api.close(0);
  await auth.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const bodyHead = (length: number) =>
  `POST /fhir/Patient HTTP/1.1\r\nHost: fhir.test\r\nAuthorization: Bearer ${token}\r\n` +
  `Content-Type: application/fhir+json\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;

describe('request timeouts', () => {
  it('cuts a connection that trickles its headers at headersTimeoutMs, answering 408 if nothing was in flight', async () => {
    const outcome = await trickle(api.address, {
      head: 'GET /fhir/metadata HTTP/1.1\r\nHost: fhir.test\r\nX-Slow: ',
      drip: 'a',
      everyMs: 100,
    });
    expect(outcome.ms).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(outcome.ms).toBeLessThan(HEADERS_TIMEOUT_MS + LATE_MS);
    expect(['', 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n']).toContain(outcome.received);
  });

  it('cuts a connection that trickles its body at requestTimeoutMs; the request is logged as aborted, not as an error', async () => {
    const from = lines.length;
    const outcome = await trickle(api.address, { head: bodyHead(10_000), drip: ' ', everyMs: 100 });
    expect(outcome.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(outcome.ms).toBeLessThan(REQUEST_TIMEOUT_MS + LATE_MS);
    expect(['', 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n']).toContain(outcome.received);
    await waitFor(() => lines.slice(from).some((line) => line.aborted === true));
    expect(lines.slice(from)).toContainEqual(
      expect.objectContaining({ level: 30, msg: 'request', path: '/fhir/Patient', aborted: true }),
    );
    expect(lines.slice(from).filter((line) => line.level >= 50)).toEqual([]);
  });

  it('a client that stops sending mid-request gets 408 Request Timeout and a closed connection', async () => {
    const [headers, body] = await Promise.all([
      sendAndStall(api.address, 'GET /fhir/metadata HTTP/1.1\r\nHost: fhir.test\r\n'),
      sendAndStall(api.address, `${bodyHead(100)}{"resourceType":`),
    ]);
    for (const outcome of [headers, body]) {
      expect(outcome).toMatchObject({
        received: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
        ended: 'closed',
      });
    }
    expect(headers.ms).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(headers.ms).toBeLessThan(HEADERS_TIMEOUT_MS + LATE_MS);
    expect(body.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(body.ms).toBeLessThan(REQUEST_TIMEOUT_MS + LATE_MS);
  });

  it('answers a slow request whose headers and body each arrive well within the timeouts', async () => {
    const resource = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Slow' }] });
    const head = bodyHead(Buffer.byteLength(resource));
    const cut = head.indexOf('Content-Type');
    // A part every 1.2 s: the headers are complete at 40 % of headersTimeoutMs, the body at 60 % of
    // requestTimeoutMs (and later than headersTimeoutMs).
    const parts = [head.slice(0, cut), head.slice(cut), resource.slice(0, 20), resource.slice(20)];
    const outcome = await sendSlowly(api.address, parts, 0.4 * HEADERS_TIMEOUT_MS);
    expect(statusOf(outcome.received)).toBe(201);
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
        startFhirApi(loadConfig({ PORT: '0', DATA_DIR: dataDir }), { headersTimeoutMs, requestTimeoutMs }),
      ).rejects.toThrow(/headersTimeoutMs|requestTimeoutMs/);
    },
  );
});
