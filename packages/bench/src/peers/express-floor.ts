import type { AddressInfo } from 'node:net';
import express from 'express';

/**
 * The framework ceiling: Express 5 with one empty POST handler (no body parsing, no work), in its
 * own process, hit by the same load generator with the same token-request bodies. No real token
 * endpoint built on Express can answer faster than this on the same machine.
 */
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.post('/token', (_req, res) => {
  res.status(200).json({});
});

const server = app.listen(0, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', url })}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
