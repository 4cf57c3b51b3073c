import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, base64url, type CryptoKey, type JWK } from 'jose';

/**
 * Stands in for the auth server (DESIGN.md contract): serves `/.well-known/jwks.json` and
 * `/.well-known/smart-configuration` on 127.0.0.1:0 and mints RFC 9068 access tokens with jose.
 * Keys are generated at run time with a timeout (TOOLCHAIN.md: Node 20 key-generation hang).
 */
export interface SigningKey {
  readonly alg: string;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export interface MintOptions {
  readonly scope?: string;
  /** Claims to set or override; `undefined` removes a default claim. */
  readonly claims?: Record<string, unknown>;
  /** Header members to set or override (alg is the key's unless given). */
  readonly header?: Record<string, unknown>;
  readonly key?: SigningKey;
}

export interface FakeAuthServer {
  readonly url: string;
  /** The key tokens are signed with by default (published). */
  readonly key: SigningKey;
  /** How many times the JWKS was fetched. */
  readonly jwksFetches: number;
  /** Keys currently published at the JWKS endpoint. */
  published: SigningKey[];
  /** What `/.well-known/smart-configuration` answers; `'unavailable'` → 500. */
  smartConfiguration: Record<string, unknown> | 'unavailable';
  /** `'unavailable'` makes the JWKS endpoint answer 500. */
  jwksMode: 'ok' | 'unavailable';
  mint(audience: string, options?: MintOptions): Promise<string>;
  close(): Promise<void>;
}

export async function newSigningKey(alg = 'ES256', timeoutMs = 15_000): Promise<SigningKey> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`generateKeyPair(${alg}) hung for ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const { privateKey, publicKey } = await Promise.race([
      generateKeyPair(alg, { extractable: true }),
      timeout,
    ]);
    const kid = randomUUID();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    return { alg, kid, privateKey, publicJwk };
  } finally {
    clearTimeout(timer);
  }
}

export async function startFakeAuthServer(): Promise<FakeAuthServer> {
  const key = await newSigningKey('ES256');
  let jwksFetches = 0;
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      jwksFetches++;
      if (state.jwksMode === 'unavailable') {
        res.writeHead(500).end();
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: state.published.map((k) => k.publicJwk) }));
      return;
    }
    if (req.url === '/.well-known/smart-configuration') {
      if (state.smartConfiguration === 'unavailable') {
        res.writeHead(500).end();
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(state.smartConfiguration));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const state: FakeAuthServer = {
    url,
    key,
    get jwksFetches() {
      return jwksFetches;
    },
    published: [key],
    jwksMode: 'ok',
    smartConfiguration: {
      issuer: url,
      token_endpoint: `${url}/token`,
      jwks_uri: `${url}/.well-known/jwks.json`,
      registration_endpoint: `${url}/register`,
      introspection_endpoint: `${url}/introspect`,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: ['client_credentials'],
      scopes_supported: ['system/*.read', 'system/*.cruds'],
      code_challenge_methods_supported: ['S256'],
      capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'],
    },
    async mint(audience, options = {}) {
      const signer = options.key ?? key;
      const now = Math.floor(Date.now() / 1000);
      const claims: Record<string, unknown> = {
        iss: url,
        sub: 'client-1',
        aud: audience,
        client_id: 'client-1',
        scope: options.scope ?? 'system/*.cruds',
        iat: now,
        exp: now + 300,
        jti: randomUUID(),
        ...options.claims,
      };
      for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
      const header = { alg: signer.alg, typ: 'at+jwt', kid: signer.kid, ...options.header };
      return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(signer.privateKey);
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return state;
}

/** An unsigned token (`alg: none`, RFC 7519 §6): header.payload. with an empty signature. */
export function unsignedToken(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
  return `${encode(header)}.${encode(claims)}.`;
}

/**
 * Signs header.payload with an ES256 key straight through WebCrypto (raw r||s, RFC 7518 §3.4), for
 * headers jose itself refuses to produce (e.g. an unknown `crit`).
 */
export async function signRawEs256(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: SigningKey,
): Promise<string> {
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
  const input = `${encode(header)}.${encode(claims)}`;
  const signature = await crypto.subtle.sign(
    { name: 'ECDSA', hash: 'SHA-256' },
    key.privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64url.encode(new Uint8Array(signature))}`;
}
