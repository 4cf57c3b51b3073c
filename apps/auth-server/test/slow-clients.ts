import net from 'node:net';

/**
 * Clients that send a request slowly, over a raw TCP connection, and report what they saw and
 * when (in milliseconds since their first byte), so tests can check how long a server lets a
 * slow request hold a connection.
 */

export interface Outcome {
  /** From the first byte sent until the server ended the connection. */
  readonly ms: number;
  /** Everything the server sent. */
  readonly received: string;
  /** How the connection ended: the server closed it (FIN) or reset it. */
  readonly ended: 'closed' | 'reset';
}

async function connect(address: string): Promise<net.Socket> {
  const url = new URL(address);
  const socket = net.connect(Number(url.port), url.hostname);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** Resolves when the connection has ended. */
function watch(socket: net.Socket, started: () => number): Promise<Outcome> {
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  return new Promise((resolve) => {
    let ended: Outcome['ended'] = 'closed';
    socket.on('error', () => (ended = 'reset'));
    socket.on('close', () => resolve({ ms: Date.now() - started(), received, ended }));
  });
}

/**
 * Sends `head`, then `drip` every `everyMs` until the server ends the connection: a client that
 * never finishes its request. Resolves with when that happened and what the server sent.
 */
export async function trickle(
  address: string,
  request: { head: string; drip: string; everyMs: number },
): Promise<Outcome> {
  const socket = await connect(address);
  const first = Date.now();
  const outcome = watch(socket, () => first);
  socket.write(request.head);
  const timer = setInterval(() => {
    if (socket.writable) socket.write(request.drip);
  }, request.everyMs);
  socket.on('end', () => clearInterval(timer));
  socket.on('close', () => clearInterval(timer));
  return outcome;
}

/** Sends `head` and then nothing more, until the server ends the connection. */
export async function sendAndStall(address: string, head: string): Promise<Outcome> {
  const socket = await connect(address);
  const first = Date.now();
  const outcome = watch(socket, () => first);
  socket.write(head);
  return outcome;
}

/**
 * Sends `parts` one by one, `gapMs` apart (the request is complete with the last one): a slow
 * client that stays within the timeouts. The request should carry `Connection: close`, so the
 * server ends the connection once it has answered. Resolves with the time the last part was sent
 * and what the server answered.
 */
export async function sendSlowly(
  address: string,
  parts: readonly string[],
  gapMs: number,
): Promise<Outcome & { readonly completedAtMs: number }> {
  const socket = await connect(address);
  const first = Date.now();
  const outcome = watch(socket, () => first);
  let completedAtMs = 0;
  for (const [index, part] of parts.entries()) {
    if (index > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    socket.write(part);
    completedAtMs = Date.now() - first;
  }
  return { ...(await outcome), completedAtMs };
}

/** The status code of the first response in `received`, or undefined. */
export function statusOf(received: string): number | undefined {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(received);
  return match ? Number(match[1]) : undefined;
}
