// The public surface of @smart-backend/protocol: everything both sides of the wire agree on.

export * from './constants.js';
export { FHIR_R4_RESOURCE_TYPES, isFhirResourceType, type FhirResourceType } from './fhir-resource-types.js';
export { FHIR_ID_PATTERN, isFhirId } from './fhir-id.js';

export {
  REASONS,
  REASON_CODES,
  isReasonCode,
  type ReasonCode,
  type ReasonEntry,
  type WireErrorCode,
} from './reasons.js';
export {
  OAuthError,
  isOAuthError,
  formatErrorDescription,
  reasonFromErrorDescription,
} from './oauth-error.js';

export {
  SCOPE_CONTEXTS,
  PERMISSION_LETTERS,
  V1_ACTIONS,
  INTERACTION_PERMISSION,
  type ScopeContext,
  type PermissionLetter,
  type V1Action,
  type ScopeSyntax,
  type ScopeConstraint,
  type ResourceScope,
  type FhirInteraction,
} from './scopes/model.js';
export {
  parseScope,
  parseScopeList,
  NON_RESOURCE_SCOPES,
  type ScopeParseResult,
  type ScopeListParse,
} from './scopes/parse.js';
export { formatScope, formatScopes, v1ActionFor } from './scopes/format.js';
export { grantScopes, type ScopeGrant, type DroppedScope } from './scopes/grant.js';
export { authorize, type AuthorizationRequest, type AuthorizationDecision } from './scopes/authorize.js';

export {
  COMMON_SEARCH_PARAMETERS,
  SEARCH_PARAMETERS,
  RESULT_PARAMETERS,
  searchParameterType,
  searchParameterNames,
  type SearchParameterType,
} from './search/parameters.js';
export {
  parseSearchCriterion,
  parseDateValue,
  dateRange,
  DATE_PREFIXES,
  type SearchCriterion,
  type CriterionResult,
  type TokenValue,
  type DateValue,
  type DatePrefix,
  type ReferenceValue,
} from './search/criteria.js';

export { problemFromZodError, reasonParam, type Problem, type Checked } from './schemas/problem.js';
export {
  NumericDateSchema,
  ClientAssertionHeaderSchema,
  ClientAssertionClaimsSchema,
  parseClientAssertionHeader,
  parseClientAssertionClaims,
  type ClientAssertionHeader,
  type ClientAssertionClaims,
} from './schemas/assertion.js';
export {
  TokenRequestSchema,
  TokenResponseSchema,
  OAuthErrorBodySchema,
  type TokenRequest,
  type TokenResponse,
  type OAuthErrorBody,
} from './schemas/token.js';
export { SmartConfigurationSchema, type SmartConfiguration } from './schemas/discovery.js';
export {
  IntrospectionRequestSchema,
  IntrospectionResponseSchema,
  ActiveIntrospectionSchema,
  InactiveIntrospectionSchema,
  type IntrospectionRequest,
  type IntrospectionResponse,
} from './schemas/introspection.js';
export {
  PublicJwksSchema,
  checkPublicJwks,
  checkPublicJwk,
  algorithmForKey,
  keyAllowsAlgorithm,
  type PublicJwk,
  type PublicJwks,
} from './schemas/jwks.js';
export {
  RegistrationRequestSchema,
  RegistrationResponseSchema,
  checkJwksUri,
  checkRegisteredScope,
  isLoopbackHost,
  type RegistrationRequest,
  type RegistrationResponse,
} from './schemas/registration.js';
export {
  AccessTokenHeaderSchema,
  AccessTokenClaimsSchema,
  type AccessTokenHeader,
  type AccessTokenClaims,
} from './schemas/access-token.js';
export { decodeBase64url } from './base64url.js';
export {
  PROTOTYPE_MEMBER_NAMES,
  isPrototypeMemberName,
  findPrototypeMember,
  type PrototypeMember,
} from './json-members.js';
export { typMatches, typMediaType } from './jose-typ.js';
export { checkResourceIndicator } from './resource-indicator.js';
export {
  challengeText,
  formatBearerChallenge,
  parseBearerChallenge,
  type BearerChallenge,
} from './bearer-challenge.js';
