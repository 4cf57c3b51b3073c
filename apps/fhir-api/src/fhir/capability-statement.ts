import { createRequire } from 'node:module';
import {
  FHIR_R4_RESOURCE_TYPES,
  FHIR_VERSION,
  OAUTH_URIS_EXTENSION_URL,
  SMART_SECURITY_SERVICE_CODING,
  searchParameterNames,
  searchParameterType,
  type SmartConfiguration,
} from '@smart-backend/protocol';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** The OAuth endpoints announced in the SMART `oauth-uris` extension. */
export interface OAuthUris {
  readonly token: string;
  readonly register?: string | undefined;
  readonly introspect?: string | undefined;
}

/** The endpoints of the auth server's discovery document (or the token URL alone when it is unreachable). */
export function oauthUrisFrom(configuration: SmartConfiguration | undefined, authUrl: string): OAuthUris {
  if (!configuration) return { token: `${authUrl}/token` };
  return {
    token: configuration.token_endpoint,
    register: configuration.registration_endpoint,
    introspect: configuration.introspection_endpoint,
  };
}

const INTERACTIONS = ['read', 'vread', 'update', 'delete', 'create', 'search-type'] as const;

/**
 * `GET [base]/metadata` (FHIR R4 http §3.1.0.13): what this server does, and where to get a token
 * (SMART App Launch "Conformance": the restful-security-service coding and the `oauth-uris` extension).
 */
export function capabilityStatement(options: {
  fhirBaseUrl: string;
  oauth: OAuthUris;
  date: string;
}): Record<string, unknown> {
  const oauthExtensions = (['token', 'register', 'introspect'] as const).flatMap((name) => {
    const uri = options.oauth[name];
    return uri ? [{ url: name, valueUri: uri }] : [];
  });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: options.date,
    publisher: 'smart-backend',
    kind: 'instance',
    software: { name: 'smart-backend fhir-api', version },
    implementation: {
      description: 'FHIR R4 resource server protected by SMART Backend Services (system/ scopes)',
      url: options.fhirBaseUrl,
    },
    fhirVersion: FHIR_VERSION,
    format: ['json', 'application/fhir+json'],
    rest: [
      {
        mode: 'server',
        security: {
          cors: true,
          service: [{ coding: [SMART_SECURITY_SERVICE_CODING], text: 'OAuth2 using SMART-on-FHIR profile' }],
          extension: [{ url: OAUTH_URIS_EXTENSION_URL, extension: oauthExtensions }],
          description:
            'Every interaction needs an RFC 9068 access token from the authorization server (Bearer). ' +
            'SMART system/ scopes (v1 and v2, with query constraints) decide what a client may read, ' +
            'search, create, update and delete.',
        },
        resource: FHIR_R4_RESOURCE_TYPES.map((type) => ({
          type,
          interaction: INTERACTIONS.map((code) => ({ code })),
          versioning: 'versioned',
          readHistory: true,
          updateCreate: true,
          conditionalCreate: false,
          conditionalRead: 'not-supported',
          conditionalUpdate: false,
          conditionalDelete: 'not-supported',
          searchParam: searchParameterNames(type).map((name) => ({
            name,
            type: searchParameterType(type, name),
          })),
        })),
      },
    ],
  };
}
