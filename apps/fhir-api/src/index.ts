// The public surface of @smart-backend/fhir-api.

export { createApp, type AppDeps } from './app.js';
export {
  loadConfig,
  resolveAppConfig,
  ConfigError,
  type Config,
  type AppConfig,
  type LogLevel,
} from './config.js';
export { startFhirApi, type RunningFhirApi, type StartOptions } from './server.js';
export { createLogger } from './logger.js';
export {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type RequestTimeouts,
} from './http/request-timeouts.js';

export type {
  ResourceStore,
  StoredResource,
  ReadOutcome,
  WriteOutcome,
  DeleteOutcome,
  WriteOptions,
  SearchQuery,
  SearchResult,
} from './store/resource-store.js';
export {
  SqliteResourceStore,
  openSqliteResourceStore,
  SQLITE_FILE_NAME,
  type SqliteResourceStoreOptions,
} from './store/sqlite-resource-store.js';
export type { AccessFilter, Criteria, FhirResource } from './search/criteria.js';

export {
  createJwksTokenVerifier,
  scopesFromClaim,
  MAX_ACCESS_TOKEN_LENGTH,
  type TokenVerifier,
  type VerifiedToken,
  type JwksTokenVerifierOptions,
} from './auth/token-verifier.js';
export {
  remoteSmartConfiguration,
  type SmartConfigurationSource,
  type RemoteSmartConfigurationOptions,
} from './discovery/smart-configuration-source.js';

export {
  generateSampleData,
  loadSampleData,
  SAMPLE_PATIENT_COUNT,
  SAMPLE_MRN_SYSTEM,
  OBSERVATION_CATEGORY_SYSTEM,
  type SampleDataOptions,
} from './seed/sample-data.js';
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, SEARCH_LIMITS } from './fhir/search-request.js';
export { MAX_BODY_BYTES } from './http/resource-body.js';
