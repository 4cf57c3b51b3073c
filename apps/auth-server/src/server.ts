import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { withBoundPort, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { SigningKeyRing, errorSummary } from './signing/signing-keys.js';
import type { ClientStore, KeyStore, ReplayCache } from './store/interfaces.js';
import { openSqliteStores } from './store/sqlite.js';

export interface ServerStores {
  readonly clients: ClientStore;
  readonly replay: ReplayCache;
  readonly keys: KeyStore;
}

export interface RunningServer {
  /** The configuration in effect (PUBLIC_URL resolved to the bound port when it derives from PORT=0). */
  readonly config: Config;
  /** PUBLIC_URL. */
  readonly url: string;
  /** The bound http://host:port. */
  readonly address: string;
  readonly server: http.Server;
  /** Stops accepting, drains in-flight requests (forcing connections closed after `drainMs`), closes the stores. */
  close(drainMs?: number): Promise<void>;
}

/**
 * Opens the stores (SQLite under DATA_DIR unless given), loads or creates the signing key, binds
 * HOST:PORT and serves. Logs `{"msg":"listening","url":…,"address":…}` as its first line.
 */
export async function startServer(
  config: Config,
  options: { logger?: Logger; stores?: ServerStores } = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const stores =
    options.stores ??
    openSqliteStores(config.dataDir, {
      onPruneError: (error) =>
        logger.warn({ event: 'replay_prune', err: errorSummary(error) }, 'replay prune failed'),
    });
  const ownsStores = options.stores === undefined;
  const closeStores = async () => {
    if (ownsStores)
      await Promise.allSettled([stores.clients.close(), stores.replay.close(), stores.keys.close()]);
  };

  let signingKeys: SigningKeyRing;
  try {
    signingKeys = await SigningKeyRing.open(stores.keys, {
      alg: config.accessTokenAlg,
      accessTokenTtlSeconds: config.accessTokenTtlSeconds,
      clockSkewSeconds: config.clockSkewSeconds,
      logger,
    });
  } catch (error) {
    await closeStores();
    throw error;
  }

  const server = http.createServer();
  // Slow clients cannot hold connections for long (ATK-20).
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    signingKeys.close();
    await closeStores();
    throw error;
  }
  const bound = server.address() as AddressInfo;
  const effective = withBoundPort(config, bound.port);
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const address = `http://${host}:${bound.port}`;
  server.on(
    'request',
    createApp(effective, { clients: stores.clients, replay: stores.replay, signingKeys, logger }),
  );

  // The first line on stdout at every LOG_LEVEL: process supervisors and tests wait for it.
  logger.child({}, { level: 'info' }).info({ url: effective.publicUrl, address }, 'listening');
  if (signingKeys.generatedOnOpen) {
    const { kid, alg, reason } = signingKeys.generatedOnOpen;
    logger.info({ event: 'rotate', kid, alg, reason }, 'signing key generated');
  }
  if (config.adminToken === undefined) {
    logger.warn(
      { event: 'config' },
      'ADMIN_TOKEN is not set: /register, /clients and /introspect answer 403',
    );
  }

  let closing: Promise<void> | undefined;
  const close = (drainMs = 8000) =>
    (closing ??= new Promise<void>((resolve) => {
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      const force = setTimeout(() => server.closeAllConnections(), drainMs);
      server.close(() => {
        clearInterval(idle);
        clearTimeout(force);
        signingKeys.close();
        void closeStores().then(() => resolve());
      });
      server.closeIdleConnections();
    }));

  return { config: effective, url: effective.publicUrl, address, server, close };
}
