// oidc-provider 9 as a reference authorization server, in its own process (its static-client
// handling uses structuredClone, which does not survive Jest's VM realms). Configured per
// TOOLCHAIN.md for SMART-style client_credentials + private_key_jwt with RS384/ES384 client keys
// and RFC 9068 JWT access tokens. Input: one JSON argument { clients, fhirBase, scopes }.
// Output: one JSON line { issuer } on stdout once listening on 127.0.0.1 (free port).
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const { clients, fhirBase, scopes } = JSON.parse(process.argv[2] ?? '{}');

let handler;
const server = createServer((req, res) => {
  if (handler) handler(req, res);
  else res.writeHead(503).end();
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const signing = await generateKeyPair('ES256', { extractable: true });
const signingJwk = {
  ...(await exportJWK(signing.privateKey)),
  alg: 'ES256',
  use: 'sig',
  kid: 'reference-es256',
};

const provider = new Provider(issuer, {
  clients: clients.map((client) => ({
    client_id: client.client_id,
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    jwks: client.jwks,
    scope: client.scope ?? scopes.join(' '),
    id_token_signed_response_alg: 'ES256',
  })),
  clientAuthMethods: ['private_key_jwt'],
  scopes,
  enabledJWA: { clientAuthSigningAlgValues: ['RS384', 'ES384'] },
  jwks: { keys: [signingJwk] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => fhirBase,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: scopes.join(' '),
        audience: fhirBase,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 300,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
handler = provider.callback();

process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
