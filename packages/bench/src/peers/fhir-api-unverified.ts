import { parseScope, type ResourceScope } from '@smart-backend/protocol';
import { ConfigError, loadConfig, startFhirApi, type TokenVerifier } from '@smart-backend/fhir-api';
import { pino } from 'pino';

/**
 * BENCH ONLY — never deploy. The FHIR API exactly as `node dist/main.js` starts it (same
 * environment variables, store, seed, logging, routes, scope enforcement), except that the bearer
 * token is not verified: a pass-through TokenVerifier grants `system/*.cruds` to any token. It is
 * the "token verification switched off" reference the authorized figures are compared with, and
 * exists only here, through the public `startFhirApi(config, { verifier })` seam: the product has
 * no switch to turn verification off.
 */
const GRANTED = 'system/*.cruds';
const parsed = parseScope(GRANTED);
if (!parsed.ok) throw new Error(`cannot parse ${GRANTED}`);
const scopes: readonly ResourceScope[] = [parsed.scope];

const passThrough: TokenVerifier = {
  async verify() {
    return {
      clientId: 'bench-unverified',
      subject: 'bench-unverified',
      jti: 'bench-unverified',
      expiresAt: Math.floor(Date.now() / 1000) + 300,
      scope: GRANTED,
      scopes,
    };
  },
};

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`fhir-api-unverified: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
const logger = pino({ level: config.logLevel });
const api = await startFhirApi(config, { logger, verifier: () => passThrough });
process.on('SIGTERM', () => {
  void api.close(8000).then(() => process.exit(0));
});
