import { OAuthError } from '@smart-backend/protocol';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { AppConfig } from '../config.js';
import type { SmartConfigurationSource } from '../discovery/smart-configuration-source.js';
import { sendFhirJson } from '../http/fhir-response.js';
import { capabilityStatement, oauthUrisFrom } from './capability-statement.js';

interface DiscoveryContext {
  readonly config: AppConfig;
  readonly smartConfiguration: SmartConfigurationSource;
  readonly logger: Logger;
}

/**
 * `GET [base]/.well-known/smart-configuration` (SMART "Conformance", DISC-01/02): the auth
 * server's document, republished here so clients discover the token endpoint from the FHIR base.
 * Always application/json; no authentication; 503 when the auth server is unreachable and no copy
 * is cached.
 */
export function smartConfigurationDocument({ smartConfiguration }: DiscoveryContext) {
  return async (_req: Request, res: Response): Promise<void> => {
    let document;
    try {
      document = await smartConfiguration.get();
    } catch (error) {
      throw new OAuthError(
        'server.unavailable',
        `the authorization server's discovery document could not be fetched: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    res
      .status(200)
      .set('Access-Control-Allow-Origin', '*')
      .set('Cache-Control', 'public, max-age=300')
      .type('application/json; charset=utf-8')
      .send(JSON.stringify(document));
  };
}

/**
 * `GET [base]/metadata`: the CapabilityStatement, without authentication. The OAuth endpoints come
 * from the auth server's discovery document; if it cannot be fetched, `{AUTH_URL}/token` stands in
 * so the statement is always available.
 */
export function metadataDocument({ config, smartConfiguration, logger }: DiscoveryContext) {
  const date = new Date().toISOString();
  return async (_req: Request, res: Response): Promise<void> => {
    let document;
    try {
      document = await smartConfiguration.get();
    } catch (error) {
      logger.warn({ err: error }, 'smart-configuration unavailable; metadata falls back to AUTH_URL/token');
    }
    const statement = capabilityStatement({
      fhirBaseUrl: config.fhirBaseUrl,
      oauth: oauthUrisFrom(document, config.authUrl),
      date,
    });
    res.set('Access-Control-Allow-Origin', '*');
    sendFhirJson(res, 200, JSON.stringify(statement));
  };
}
