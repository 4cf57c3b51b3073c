import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { withBoundPort, type Config } from './config.js';
import { createTimedHttpServer, type RequestTimeouts } from './http/request-timeouts.js';
import { createLogger, type Logger } from './logger.js';
import { NotReadyError, type ReadinessCheck } from './routes/health.js';
import { SigningKeyRing } from './signing/signing-keys.js';
import type { ClientStore, KeyStore, ReplayCache } from './store/interfaces.js';
import { openStores, type StartupWarning } from './store/open.js';

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
 * Opens the stores (unless given: PostgreSQL for DATABASE_URL, Redis for REDIS_URL, SQLite under
 * DATA_DIR for what is unset), loads or creates the signing key, binds HOST:PORT and serves. Logs
 * `{"msg":"listening","url":…,"address":…}` as its first line. Rejects if a store cannot be
 * opened (the message names the service, never a password).
 */
export interface StartOptions extends RequestTimeouts {
  readonly logger?: Logger;
  /** Default: opened from the configuration (see {@link startServer}); given stores are the caller's to close. */
  readonly stores?: ServerStores;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  let stores: ServerStores;
  let readiness: ReadinessCheck[];
  let closeStores: () => Promise<void>;
  let startupLog: { summary?: Readonly<Record<string, unknown>>; warnings: readonly StartupWarning[] };
  if (options.stores) {
    const given = options.stores;
    stores = given;
    readiness = [
      { name: 'clients', check: () => given.clients.ping() },
      { name: 'keys', check: () => given.keys.ping() },
      { name: 'replay', check: () => given.replay.ping() },
    ];
    closeStores = async () => undefined; // the caller's
    startupLog = { warnings: [] };
  } else {
    const opened = await openStores(config, logger);
    stores = opened;
    readiness = [...opened.readiness];
    closeStores = opened.close;
    startupLog = { summary: opened.summary, warnings: opened.warnings };
  }
  // Once shutdown starts, /readyz answers 503 so load balancers stop sending new requests.
  let draining = false;
  readiness.push({
    name: 'server',
    check: async () => {
      if (draining) throw new NotReadyError('draining');
    },
  });

  let signingKeys: SigningKeyRing;
  try {
    signingKeys = await SigningKeyRing.open(stores.keys, {
      alg: config.accessTokenAlg,
      accessTokenTtlSeconds: config.accessTokenTtlSeconds,
      clockSkewSeconds: config.clockSkewSeconds,
      keyActivationDelaySeconds: config.keyActivationDelaySeconds,
      logger,
    });
  } catch (error) {
    await closeStores();
    throw error;
  }

  let server: http.Server;
  try {
    server = createTimedHttpServer(options);
  } catch (error) {
    signingKeys.close();
    await closeStores();
    throw error;
  }
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
    createApp(effective, {
      clients: stores.clients,
      replay: stores.replay,
      signingKeys,
      logger,
      readiness,
    }),
  );

  // The first line on stdout at every LOG_LEVEL: process supervisors and tests wait for it.
  logger.child({}, { level: 'info' }).info({ url: effective.publicUrl, address }, 'listening');
  if (startupLog.summary) logger.info(startupLog.summary, 'stores opened');
  for (const warning of startupLog.warnings) {
    if (warning.level === 'error') logger.error(warning.fields, warning.msg);
    else logger.warn(warning.fields, warning.msg);
  }
  if (signingKeys.generatedOnOpen) {
    const { kid, alg, reason, activatesAt } = signingKeys.generatedOnOpen;
    const activates_at = new Date(activatesAt * 1000).toISOString();
    logger.info({ event: 'rotate', kid, alg, reason, activates_at }, 'signing key generated');
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
      draining = true;
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
