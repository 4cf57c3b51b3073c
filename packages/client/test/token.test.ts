import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt, importSPKI, jwtVerify } from 'jose';
import { CLIENT_ASSERTION_TYPE } from '@smart-backend/protocol';
import {
  InvalidInputError,
  InvalidResponseError,
  TokenRequestError,
  TransportError,
  generateClientKeys,
  requestAccessToken,
  type GeneratedClientKeys,
} from '../src/index.js';
import {
  formOf,
  sendJson,
  sendText,
  startServer,
  tokenBody,
  type Handler,
  type TestServer,
} from './support/http-server.js';

describe('requestAccessToken', () => {
  let keys: GeneratedClientKeys;
  let server: TestServer | undefined;

  beforeAll(async () => {
    keys = await generateClientKeys({ alg: 'ES384' });
  }, 30_000);

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function serve(handler: Handler): Promise<string> {
    server = await startServer(handler);
    return `${server.url}/token`;
  }

  function request(tokenUrl: string, extra: Record<string, unknown> = {}) {
    return requestAccessToken({
      tokenUrl,
      clientId: 'client-1',
      key: keys.signingKey,
      scope: 'system/Patient.rs system/Observation.rs',
      ...extra,
    });
  }

  it('POSTs the SMART form: grant_type, scope, client_assertion_type, a verifiable client_assertion (TREQ-01/02)', async () => {
    const tokenUrl = await serve((_req, res) => sendJson(res, 200, tokenBody('tok-1')));
    const response = await request(tokenUrl);
    expect(response).toEqual(tokenBody('tok-1'));

    const [sent] = server!.requests;
    expect(sent?.method).toBe('POST');
    expect(sent?.url).toBe('/token');
    expect(sent?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(sent?.headers.accept).toBe('application/json');
    const form = formOf(sent!);
    expect([...form.keys()].sort()).toEqual([
      'client_assertion',
      'client_assertion_type',
      'grant_type',
      'scope',
    ]);
    expect(form.get('grant_type')).toBe('client_credentials');
    expect(form.get('scope')).toBe('system/Patient.rs system/Observation.rs');
    expect(form.get('client_assertion_type')).toBe(CLIENT_ASSERTION_TYPE);
    const publicKey = await importSPKI(keys.publicKeyPem, 'ES384');
    const { payload } = await jwtVerify(form.get('client_assertion')!, publicKey, {
      issuer: 'client-1',
      subject: 'client-1',
      audience: tokenUrl,
    });
    expect(payload.jti).toBeDefined();
  });

  it('accepts token_type in any case (TRESP-02) and keeps extra members', async () => {
    const tokenUrl = await serve((_req, res) =>
      sendJson(res, 200, { ...tokenBody('tok'), token_type: 'Bearer', refresh_hint: 1 }),
    );
    await expect(request(tokenUrl)).resolves.toMatchObject({ token_type: 'Bearer', refresh_hint: 1 });
  });

  it('throws TokenRequestError with error, error_description, the reason code and status (RFC 6749 §5.2)', async () => {
    const tokenUrl = await serve((_req, res) =>
      sendJson(res, 400, {
        error: 'invalid_client',
        error_description:
          'assertion.exp_too_far: exp is 3600 s in the future; at most 300 s (+10 s skew) is allowed',
      }),
    );
    const error = (await request(tokenUrl).catch((e: unknown) => e)) as TokenRequestError;
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.status).toBe(400);
    expect(error.error).toBe('invalid_client');
    expect(error.reason).toBe('assertion.exp_too_far');
    expect(error.errorDescription).toMatch(/^assertion\.exp_too_far: /);
    expect(error.message).toBe(
      'token request refused (HTTP 400 invalid_client): assertion.exp_too_far: exp is 3600 s in the future; at most 300 s (+10 s skew) is allowed',
    );
  });

  it('leaves reason undefined for a description without a known reason code (generic servers)', async () => {
    const tokenUrl = await serve((_req, res) =>
      sendJson(res, 400, { error: 'invalid_scope', error_description: 'nope' }),
    );
    const error = (await request(tokenUrl).catch((e: unknown) => e)) as TokenRequestError;
    expect(error.error).toBe('invalid_scope');
    expect(error.reason).toBeUndefined();
  });

  it.each([
    ['missing access_token', { token_type: 'bearer', expires_in: 300, scope: 's' }, /missing access_token/],
    ['missing several members', { access_token: 'a' }, /missing token_type, expires_in, scope/],
    ['expires_in as a string', { ...tokenBody('a'), expires_in: '300' }, /expires_in: /],
    ['token_type mac', { ...tokenBody('a'), token_type: 'mac' }, /token_type must be "bearer"/],
    ['an array', [1, 2], /expected a JSON object, got an array/],
  ])('names what is wrong with a malformed success: %s', async (_name, body, message) => {
    const tokenUrl = await serve((_req, res) => sendJson(res, 200, body));
    const error = (await request(tokenUrl).catch((e: unknown) => e)) as InvalidResponseError;
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error.message).toMatch(/invalid token response/);
    expect(error.message).toMatch(message);
  });

  it('says so when the server answers non-JSON', async () => {
    const tokenUrl = await serve((_req, res) => sendText(res, 200, '<html>login</html>'));
    await expect(request(tokenUrl)).rejects.toThrow(
      /answered HTTP 200 with a body that is not JSON \(text\/html\)/,
    );
  });

  it('says so when an error answer is not an OAuth error body', async () => {
    const tokenUrl = await serve((_req, res) => sendText(res, 404, 'not found', 'text/plain'));
    const error = await request(tokenUrl).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect((error as Error).message).toMatch(/HTTP 404 with a body that is not JSON/);
  });

  it('retries a 5xx with a brand-new assertion, never resending the old one (TREQ-03)', async () => {
    const tokenUrl = await serve((_req, res, index) =>
      index < 2
        ? sendJson(res, 503, { error: 'temporarily_unavailable' })
        : sendJson(res, 200, tokenBody('tok')),
    );
    await expect(request(tokenUrl)).resolves.toMatchObject({ access_token: 'tok' });
    const jtis = server!.requests.map((r) => decodeJwt(formOf(r).get('client_assertion')!).jti);
    expect(jtis).toHaveLength(3);
    expect(new Set(jtis).size).toBe(3);
  });

  it('gives up after the configured retries and reports the last answer', async () => {
    const tokenUrl = await serve((_req, res) => sendJson(res, 503, { error: 'temporarily_unavailable' }));
    const error = (await request(tokenUrl, { retries: 1 }).catch((e: unknown) => e)) as TokenRequestError;
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error.status).toBe(503);
    expect(server!.requests).toHaveLength(2);
  });

  it('never retries a 4xx', async () => {
    const tokenUrl = await serve((_req, res) => sendJson(res, 400, { error: 'invalid_client' }));
    await expect(request(tokenUrl)).rejects.toBeInstanceOf(TokenRequestError);
    expect(server!.requests).toHaveLength(1);
  });

  it('does not follow redirects (the assertion goes only to the token URL it names)', async () => {
    const other = await startServer((_req, res) => sendJson(res, 200, tokenBody('stolen')));
    try {
      const tokenUrl = await serve((_req, res) => {
        res.writeHead(307, { location: `${other.url}/token` });
        res.end();
      });
      await expect(request(tokenUrl)).rejects.toThrow(
        /HTTP 307 \(redirect to .*\); redirects are not followed/,
      );
      expect(other.requests).toHaveLength(0);
    } finally {
      await other.close();
    }
  });

  it('times out a server that never answers, with a TransportError', async () => {
    const tokenUrl = await serve(() => undefined);
    const error = await request(tokenUrl, { timeoutMs: 200, retries: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as Error).message).toMatch(/timed out after 200 ms/);
  });

  it('reports a refused connection after retrying', async () => {
    const closed = await startServer(() => undefined);
    const tokenUrl = `${closed.url}/token`;
    await closed.close();
    const error = await request(tokenUrl, { retries: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as Error).message).toMatch(/ECONNREFUSED after 2 attempts/);
  });

  it('refuses plain http to a non-loopback host without sending anything (TLS-01)', async () => {
    const error = await request('http://auth.example.test/token').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/refusing plain http/);
  });

  it('refuses an empty scope and non-http(s) URLs', async () => {
    await expect(request('https://auth.example.test/token', { scope: ' ' })).rejects.toThrow(
      /scope is required/,
    );
    await expect(request('file:///etc/passwd')).rejects.toThrow(/http or https/);
  });
});
