// The public surface of @smart-backend/auth-server: what the e2e tests, the benchmarks and the
// scale-out work build on.

export { createApp, type AppDeps, type AuthServerApp } from './app.js';
export {
  loadConfig,
  withBoundPort,
  ConfigError,
  MIN_ADMIN_TOKEN_LENGTH,
  DEFAULT_REDIS_KEY_PREFIX,
  DEFAULT_KEY_ACTIVATION_DELAY_SECONDS,
  redactUrl,
  type Config,
  type LogLevel,
} from './config.js';
export { startServer, type RunningServer, type ServerStores, type StartOptions } from './server.js';
export {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type RequestTimeouts,
} from './http/request-timeouts.js';
export { createLogger, type Logger } from './logger.js';
export { discoveryDocument, SCOPES_SUPPORTED } from './discovery.js';

export type {
  ClientRecord,
  ClientStore,
  ReplayCache,
  SigningKeyRecord,
  KeyStore,
} from './store/interfaces.js';
export { DuplicateClientError } from './store/interfaces.js';
export {
  SqliteClientStore,
  SqliteReplayCache,
  SqliteKeyStore,
  openSqliteStores,
  SQLITE_FILES,
  type SqliteStores,
  type SqliteReplayCacheOptions,
} from './store/sqlite.js';
export {
  PostgresClientStore,
  PostgresKeyStore,
  openPostgresStores,
  createPostgresPool,
  migratePostgres,
  postgresSchemaVersion,
  POSTGRES_MIGRATIONS,
  POSTGRES_SCHEMA_VERSION,
  SchemaVersionError,
  type Migration,
  type PostgresOptions,
  type PostgresStores,
} from './store/postgres.js';
export {
  RedisReplayCache,
  ReplayCacheUnavailableError,
  type RedisReplayCacheOptions,
  type RedisCacheEvent,
} from './store/redis.js';
export {
  openStores,
  dataLossQuarantineSeconds,
  StoreOpenError,
  type OpenedStores,
  type StoreConfig,
  type Backend,
} from './store/open.js';
export { NotReadyError, READINESS_TIMEOUT_MS, type ReadinessCheck } from './routes/health.js';

export {
  SigningKeyRing,
  generateSigningKey,
  rotateSigningKey,
  retireAfterFor,
  activationTime,
  isPublishedAt,
  selectSigningKey,
  signingKeyStatuses,
  KEY_REFRESH_INTERVAL_SECONDS,
  type KeyTimings,
  type SigningKeyStatus,
  type SigningKeyRingOptions,
  type LoadedSigningKey,
  type RotationResult,
} from './signing/signing-keys.js';
export { DEFAULT_CLIENT_KEY_OPTIONS, type ClientKeyResolverOptions } from './token/client-keys.js';
export { BODY_LIMIT_BYTES } from './http/body.js';
