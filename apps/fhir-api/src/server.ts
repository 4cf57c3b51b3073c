import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import { createJwksTokenVerifier, type TokenVerifier } from './auth/token-verifier.js';
import { resolveAppConfig, type AppConfig, type Config } from './config.js';
import { createTimedHttpServer, type RequestTimeouts } from './http/request-timeouts.js';
import { createLogger } from './logger.js';
import { loadSampleData } from './seed/sample-data.js';
import { looseDirectoryWarning } from './store/private-files.js';
import type { ResourceStore } from './store/resource-store.js';
import { openSqliteResourceStore } from './store/sqlite-resource-store.js';

export interface RunningFhirApi {
  /** The public FHIR base (`PUBLIC_URL/fhir`). */
  readonly url: string;
  /** The bound address, `http://host:port`. */
  readonly address: string;
  readonly config: AppConfig;
  readonly server: Server;
  readonly store: ResourceStore;
  /** Stops accepting connections, lets in-flight requests finish (up to `graceMs`), closes the store. */
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions extends RequestTimeouts {
  readonly logger?: Logger;
  /** Default: the SQLite store under `config.dataDir`. */
  readonly store?: ResourceStore;
  /** Default: `createJwksTokenVerifier` against `config.authUrl`. */
  readonly verifier?: (config: AppConfig) => TokenVerifier;
}

/**
 * Opens the store, loads the sample data when `SEED` is on, listens on HOST:PORT and serves the
 * app. The public URL is settled once the port is bound (PORT=0 → the bound port), then the first
 * log line announces `{"msg":"listening","url":<FHIR base>,"address":…}`.
 */
export async function startFhirApi(config: Config, options: StartOptions = {}): Promise<RunningFhirApi> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const server = createTimedHttpServer(options);
  const store = options.store ?? openSqliteResourceStore({ dataDir: config.dataDir });
  const looseDataDir = options.store ? undefined : looseDirectoryWarning(config.dataDir);
  const seeded = config.seed ? await loadSampleData(store) : undefined;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const appConfig = resolveAppConfig(config, bound.port);
  const verifier =
    options.verifier?.(appConfig) ??
    createJwksTokenVerifier({
      issuer: appConfig.authUrl,
      audience: appConfig.fhirBaseUrl,
      clockSkewSeconds: appConfig.clockSkewSeconds,
    });
  server.on('request', createApp(appConfig, { store, verifier, logger }));

  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const address = `http://${host}:${bound.port}`;
  logger.info({ url: appConfig.fhirBaseUrl, address }, 'listening');
  if (seeded) logger.info(seeded, 'sample data loaded');
  if (looseDataDir) {
    logger.warn(
      looseDataDir,
      `DATA_DIR is open to other users (mode ${looseDataDir.mode}); its files are 0600, but run chmod 700 on it`,
    );
  }

  let closing: Promise<void> | undefined;
  return {
    url: appConfig.fhirBaseUrl,
    address,
    config: appConfig,
    server,
    store,
    close(graceMs = 8000) {
      closing ??= new Promise<void>((resolve) => {
        // Keep-alive connections become idle one by one as their last request finishes: close
        // each as soon as it does, so draining takes as long as the slowest request, not 8 s.
        const idle = setInterval(() => server.closeIdleConnections(), 100);
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.close(() => {
          clearInterval(idle);
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }).then(() => store.close());
      return closing;
    },
  };
}
