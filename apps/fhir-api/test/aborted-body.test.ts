import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { capturedLogger, connect, waitFor, type LogLine } from './support/sockets.js';
import { FHIR_JSON, startTestApi, type TestApi } from './support/test-api.js';

// A client that closes its connection halfway through a body made a bad request; the server did
// nothing wrong. Every route that reads a body answers it as a client error: nothing at level
// error (50), one `request` line with `aborted: true`.
let api: TestApi;
let token: string;
let lines: LogLine[];

beforeAll(async () => {
  const captured = capturedLogger();
  lines = captured.lines;
  api = await startTestApi({ logger: captured.logger });
  token = await api.token('system/*.cruds');
});
afterAll(async () => {
  await api.close();
});

describe('a request body the client aborts midway', () => {
  it.each([
    ['create', 'POST', '/fhir/Patient', FHIR_JSON],
    ['update', 'PUT', '/fhir/Patient/p1', FHIR_JSON],
    ['search', 'POST', '/fhir/Patient/_search', 'application/x-www-form-urlencoded'],
  ])('%s: is logged as an aborted request, not as an unexpected error', async (_, method, path, type) => {
    const from = lines.length;
    const before = api.requestsReceived;
    const socket = await connect(api.address);
    socket.on('error', () => undefined);
    socket.write(
      `${method} ${path} HTTP/1.1\r\nHost: fhir.test\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: ${type}\r\nContent-Length: 1000\r\n\r\n{"resourceType":"Pat`,
    );
    await waitFor(() => api.requestsReceived > before);
    socket.destroy();
    await api.whenSettled();

    const logged = lines.slice(from);
    expect(logged.filter((line) => line.level >= 50)).toEqual([]);
    expect(logged).toContainEqual(
      expect.objectContaining({ level: 30, msg: 'request', method, path, aborted: true }),
    );
    expect(logged.some((line) => line.status !== undefined)).toBe(false);
  });
});
