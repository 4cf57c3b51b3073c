// The public surface of @smart-backend/client.

export {
  generateClientKeys,
  loadPrivateKey,
  readPrivateKeyFile,
  publicJwksFor,
  GENERATED_KEY_ALGORITHMS,
  DEFAULT_GENERATED_KEY_ALGORITHM,
  RSA_MODULUS_LENGTHS,
  DEFAULT_RSA_MODULUS_LENGTH,
  type ClientSigningKey,
  type GeneratedClientKeys,
  type GeneratedKeyAlgorithm,
  type LoadKeyOptions,
  type PrivateKeyInput,
} from './keys.js';
export {
  createClientAssertion,
  decodeClientAssertion,
  DEFAULT_ASSERTION_LIFETIME_SECONDS,
  type ClientAssertionOptions,
  type DecodedAssertion,
} from './assertion.js';
export { discover } from './discovery.js';
export { requestAccessToken, type TokenRequestOptions } from './token.js';
export { registerClient, type RegisterClientOptions } from './registration.js';
export {
  BackendServicesClient,
  parseWwwAuthenticate,
  type BackendServicesClientOptions,
  type AccessToken,
  type FhirRequestOptions,
  type FhirResponse,
} from './client.js';
export { DEFAULT_TIMEOUT_MS, DEFAULT_RETRIES, type TransportOptions } from './http.js';
export type { FhirResource, Bundle, BundleEntry, BundleLink, SearchParams } from './fhir-types.js';
export {
  SmartClientError,
  InvalidInputError,
  KeyError,
  TransportError,
  InvalidResponseError,
  DiscoveryError,
  TokenRequestError,
  RegistrationError,
  FhirRequestError,
  ForeignUrlError,
  type OAuthRefusal,
  type OperationOutcome,
} from './errors.js';
