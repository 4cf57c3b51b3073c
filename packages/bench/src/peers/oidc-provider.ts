import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

/**
 * The reference authorization server: oidc-provider 9.13.3 in its own process, configured for
 * exactly our flow (TOOLCHAIN.md "Real third-party peers"): client_credentials with
 * private_key_jwt, RS384 and ES384 client assertions, RFC 9068 JWT access tokens signed ES256 (our
 * ACCESS_TOKEN_ALG default) for one resource (the FHIR base), 300 s lifetime. Everything else is
 * oidc-provider's default — including its in-memory storage (an LRU of 1000 entries, also used
 * for jti replay detection), which is cheaper than our persisted SQLite replay store.
 *
 * Input: one JSON argument { clients: [{ client_id, jwks }], fhirBase, scope }.
 * Output: first line `{"msg":"listening","url":<issuer>}`. Nothing is logged per request (the
 * provider has no request log); our server's per-request audit line is kept (production default).
 */
interface PeerInput {
  clients: { client_id: string; jwks: { keys: unknown[] } }[];
  fhirBase: string;
  scope: string;
}

const input = JSON.parse(process.argv[2] ?? '{}') as PeerInput;
const scopes = input.scope.split(' ');

// The issuer names the bound port, so the provider is created after listen().
const app: { handler?: (req: IncomingMessage, res: ServerResponse) => void } = {};
const server = createServer((req, res) => {
  if (app.handler) app.handler(req, res);
  else res.writeHead(503).end();
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const signing = await generateKeyPair('ES256', { extractable: true });
const signingJwk = { ...(await exportJWK(signing.privateKey)), alg: 'ES256', use: 'sig', kid: 'peer-es256' };

const provider = new Provider(issuer, {
  clients: input.clients.map((client) => ({
    client_id: client.client_id,
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    jwks: client.jwks,
    scope: input.scope,
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
      defaultResource: () => input.fhirBase,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: input.scope,
        audience: input.fhirBase,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 300,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
app.handler = provider.callback();

process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
process.stdout.write(`${JSON.stringify({ msg: 'listening', url: issuer })}\n`);
