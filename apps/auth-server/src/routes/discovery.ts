import { Router, type RequestHandler } from 'express';
import type { Config } from '../config.js';
import { discoveryDocument } from '../discovery.js';
import { methodNotAllowed } from '../http/errors.js';
import type { SigningKeyRing } from '../signing/signing-keys.js';

/** JWKS max-age: short, so resource servers see rotations quickly (they also refetch on an unknown kid). */
export const JWKS_MAX_AGE_SECONDS = 60;

/** Discovery (SMART Conformance, RFC 8414) and the public keys that verify access tokens. */
export function discoveryRoutes(config: Pick<Config, 'publicUrl'>, signingKeys: SigningKeyRing): Router {
  const router = Router();
  const document = JSON.stringify(discoveryDocument(config));
  const sendDocument: RequestHandler = (_req, res) => {
    // DISC-02: always application/json, whatever Accept says.
    res.status(200).type('application/json').set('Cache-Control', 'public, max-age=300').send(document);
  };
  router.get('/.well-known/smart-configuration', sendDocument);
  router.get('/.well-known/oauth-authorization-server', sendDocument);
  router.all(
    ['/.well-known/smart-configuration', '/.well-known/oauth-authorization-server'],
    methodNotAllowed('GET'),
  );

  router.get('/.well-known/jwks.json', async (_req, res) => {
    // Re-read the key store first: a key added by `smart-auth keys rotate` is published at once.
    await signingKeys.refresh();
    res
      .status(200)
      .type('application/json')
      .set('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
      .send(JSON.stringify(signingKeys.publicJwks()));
  });
  router.all('/.well-known/jwks.json', methodNotAllowed('GET'));
  return router;
}
