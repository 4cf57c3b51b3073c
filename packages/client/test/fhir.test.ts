import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { ServerResponse } from 'node:http';
import {
  BackendServicesClient,
  FhirRequestError,
  ForeignUrlError,
  InvalidInputError,
  InvalidResponseError,
  TransportError,
  generateClientKeys,
  type Bundle,
  type FhirResource,
  type GeneratedClientKeys,
} from '../src/index.js';
import {
  sendJson,
  sendText,
  startServer,
  tokenBody,
  type RecordedRequest,
  type TestServer,
} from './support/http-server.js';

type FhirHandler = (request: RecordedRequest, res: ServerResponse, index: number, base: string) => void;

const OUTCOME = {
  resourceType: 'OperationOutcome',
  issue: [
    {
      severity: 'error',
      code: 'forbidden',
      diagnostics: 'token.insufficient_scope: system/Patient.c is needed',
    },
  ],
};

describe('BackendServicesClient FHIR calls', () => {
  let keys: GeneratedClientKeys;
  let server: TestServer | undefined;
  /** Every server a test started (a test may start more than one): all closed after it. */
  const started: TestServer[] = [];
  let tokensIssued: number;
  let fhirRequests: RecordedRequest[];

  beforeAll(async () => {
    keys = await generateClientKeys({ alg: 'ES384' });
  }, 30_000);

  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.close()));
    server = undefined;
  });

  /** One loopback server: `/token` issues tok-1, tok-2, …; everything under `/fhir` goes to `fhir`. */
  async function clientWith(
    fhir: FhirHandler,
    options: Record<string, unknown> = {},
  ): Promise<BackendServicesClient> {
    tokensIssued = 0;
    fhirRequests = [];
    server = await startServer((req, res) => {
      if (req.url === '/token') {
        tokensIssued++;
        return sendJson(res, 200, tokenBody(`tok-${tokensIssued}`));
      }
      const index = fhirRequests.push(req) - 1;
      fhir(req, res, index, `${server!.url}/fhir`);
    });
    started.push(server);
    return new BackendServicesClient({
      fhirBaseUrl: `${server.url}/fhir`,
      tokenUrl: `${server.url}/token`,
      clientId: 'client-1',
      privateKey: keys.signingKey,
      scope: 'system/*.cruds',
      ...options,
    });
  }

  const fhirJson = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => sendJson(res, status, body, { 'content-type': 'application/fhir+json', ...headers });

  describe('request basics', () => {
    it('reads a resource with Authorization: Bearer and Accept: application/fhir+json (RS-01)', async () => {
      const client = await clientWith((_req, res) =>
        fhirJson(res, 200, { resourceType: 'Patient', id: 'p1' }),
      );
      await expect(client.read('Patient', 'p1')).resolves.toEqual({ resourceType: 'Patient', id: 'p1' });
      expect(fhirRequests[0]).toMatchObject({ method: 'GET', url: '/fhir/Patient/p1' });
      expect(fhirRequests[0]?.headers.authorization).toBe('Bearer tok-1');
      expect(fhirRequests[0]?.headers.accept).toBe('application/fhir+json');
    });

    it('creates with POST and Prefer: return=representation, updates with PUT, deletes with DELETE', async () => {
      const client = await clientWith((req, res) => {
        if (req.method === 'POST')
          return fhirJson(
            res,
            201,
            { ...JSON.parse(req.body), id: 'new' },
            { location: '/fhir/Patient/new/_history/1' },
          );
        if (req.method === 'PUT')
          return fhirJson(res, 200, { ...JSON.parse(req.body), meta: { versionId: '2' } });
        res.writeHead(204).end();
      });
      const created = await client.create<FhirResource>({
        resourceType: 'Patient',
        name: [{ family: 'Doe' }],
      });
      expect(created).toMatchObject({ resourceType: 'Patient', id: 'new' });
      const updated = await client.update({ ...created, active: true });
      expect(updated.meta?.versionId).toBe('2');
      await expect(client.delete('Patient', 'new')).resolves.toBeUndefined();

      expect(fhirRequests.map((r) => `${r.method} ${r.url}`)).toEqual([
        'POST /fhir/Patient',
        'PUT /fhir/Patient/new',
        'DELETE /fhir/Patient/new',
      ]);
      expect(fhirRequests[0]?.headers['content-type']).toBe('application/fhir+json');
      expect(fhirRequests[0]?.headers.prefer).toBe('return=representation');
      expect(JSON.parse(fhirRequests[0]!.body)).toEqual({
        resourceType: 'Patient',
        name: [{ family: 'Doe' }],
      });
      expect(tokensIssued).toBe(1);
    });

    it('reads the Location when a create answers without a body', async () => {
      const client = await clientWith((req, res) => {
        if (req.method === 'POST') {
          res.writeHead(201, { location: '/fhir/Patient/p9/_history/1' }).end();
          return;
        }
        fhirJson(res, 200, { resourceType: 'Patient', id: 'p9' });
      });
      await expect(client.create({ resourceType: 'Patient' })).resolves.toEqual({
        resourceType: 'Patient',
        id: 'p9',
      });
      expect(fhirRequests[1]?.url).toBe('/fhir/Patient/p9/_history/1');
    });

    it('surfaces a FHIR error as FhirRequestError with status, OperationOutcome and WWW-Authenticate details', async () => {
      const client = await clientWith((_req, res) =>
        fhirJson(res, 403, OUTCOME, {
          'www-authenticate':
            'Bearer realm="fhir", error="insufficient_scope", error_description="token.insufficient_scope: system/Patient.c is needed"',
        }),
      );
      const error = (await client
        .create({ resourceType: 'Patient' })
        .catch((e: unknown) => e)) as FhirRequestError;
      expect(error).toBeInstanceOf(FhirRequestError);
      expect(error.status).toBe(403);
      expect(error.operationOutcome).toEqual(OUTCOME);
      expect(error.error).toBe('insufficient_scope');
      expect(error.reason).toBe('token.insufficient_scope');
      expect(error.message).toMatch(
        /^FHIR POST http:\/\/127\.0\.0\.1:\d+\/fhir\/Patient failed \(HTTP 403 insufficient_scope\): token\.insufficient_scope/,
      );
    });

    it('takes the reason from the OperationOutcome when there is no challenge (404)', async () => {
      const client = await clientWith((_req, res) =>
        fhirJson(res, 404, {
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'not-found', diagnostics: 'fhir.not_found: no Patient/x' }],
        }),
      );
      const error = (await client.read('Patient', 'x').catch((e: unknown) => e)) as FhirRequestError;
      expect(error.status).toBe(404);
      expect(error.reason).toBe('fhir.not_found');
      expect(error.error).toBeUndefined();
    });

    it('throws InvalidResponseError for a non-JSON success', async () => {
      const client = await clientWith((_req, res) => sendText(res, 200, '<html/>'));
      await expect(client.read('Patient', 'p1')).rejects.toBeInstanceOf(InvalidResponseError);
    });

    it('cuts off a response larger than maxResponseBytes instead of buffering it', async () => {
      const huge = { resourceType: 'Patient', id: 'p1', text: { div: 'x'.repeat(64 * 1024) } };
      const client = await clientWith((_req, res) => fhirJson(res, 200, huge), { maxResponseBytes: 4096 });
      const error = await client.read('Patient', 'p1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidResponseError);
      expect((error as InvalidResponseError).message).toMatch(/more than 4096 bytes/);
      const roomy = await clientWith((_req, res) => fhirJson(res, 200, huge), {
        maxResponseBytes: 1024 * 1024,
      });
      await expect(roomy.read('Patient', 'p1')).resolves.toMatchObject({ id: 'p1' });
    });

    it('refuses ids and types that are not FHIR names before sending (no path injection)', async () => {
      const client = await clientWith((_req, res) => fhirJson(res, 200, {}));
      await expect(client.read('Patient', '../../token')).rejects.toBeInstanceOf(InvalidInputError);
      await expect(client.read('Patient', 'a/b')).rejects.toBeInstanceOf(InvalidInputError);
      await expect(client.read('../admin', '1')).rejects.toBeInstanceOf(InvalidInputError);
      await expect(client.delete('Patient', '')).rejects.toBeInstanceOf(InvalidInputError);
      // Dot segments (RFC 3986 §5.2.4): `Patient/..` would be resolved to the FHIR base itself.
      await expect(client.read('Patient', '..')).rejects.toBeInstanceOf(InvalidInputError);
      await expect(client.delete('Patient', '.')).rejects.toBeInstanceOf(InvalidInputError);
      await expect(client.update({ resourceType: 'Patient' })).rejects.toThrow(/needs a resource with an id/);
      expect(fhirRequests).toHaveLength(0);
      expect(tokensIssued).toBe(0);
    });
  });

  // RS-08: the token never leaves the FHIR base.
  describe('never sends the token outside the FHIR base', () => {
    it.each([
      ['another origin', () => 'https://evil.example.test/fhir/Patient'],
      [
        'the same host, another port',
        (base: string) => base.replace(/:(\d+)/, (_m, p: string) => `:${Number(p) + 1}`) + '/Patient',
      ],
      ['the same origin outside the base path', (base: string) => base.replace('/fhir', '/admin')],
      ['a sibling path sharing the prefix', (base: string) => `${base}-evil/Patient`],
      ['a dot-segment escape', () => '../token'],
      ['an encoded dot-segment escape', () => '%2e%2e/token'],
      ['credentials in the URL', (base: string) => base.replace('http://', 'http://user:pw@') + '/Patient'],
    ])('refuses a request to %s', async (_name, target) => {
      const client = await clientWith((_req, res) => fhirJson(res, 200, {}));
      const error = await client.request(target(client.fhirBaseUrl)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ForeignUrlError);
      expect(fhirRequests).toHaveLength(0);
    });

    it('accepts absolute URLs inside the base', async () => {
      const client = await clientWith((_req, res) =>
        fhirJson(res, 200, { resourceType: 'Patient', id: 'p1' }),
      );
      const response = await client.request(`${client.fhirBaseUrl}/Patient/p1`);
      expect(response.body).toEqual({ resourceType: 'Patient', id: 'p1' });
    });
  });

  describe('search and paging', () => {
    function pagedServer(pages: number, nextFor: (base: string, page: number) => string) {
      return (req: RecordedRequest, res: ServerResponse, _index: number, base: string) => {
        const url = new URL(req.url, 'http://x');
        const page = Number(url.searchParams.get('page') ?? '1');
        const bundle: Bundle = {
          resourceType: 'Bundle',
          type: 'searchset',
          total: pages * 2,
          link: [
            { relation: 'self', url: `${base}${req.url.replace('/fhir', '')}` },
            ...(page < pages ? [{ relation: 'next', url: nextFor(base, page + 1) }] : []),
          ],
          entry: [1, 2].map((n) => ({
            fullUrl: `${base}/Observation/o${page}-${n}`,
            resource: { resourceType: 'Observation', id: `o${page}-${n}` },
            search: { mode: 'match' as const },
          })),
        };
        fhirJson(res, 200, bundle);
      };
    }

    it('follows next links across pages and yields every resource in order', async () => {
      const client = await clientWith(
        pagedServer(3, (base, page) => `${base}/Observation?code=x&page=${page}`),
      );
      const ids: string[] = [];
      for await (const resource of client.search('Observation', {
        code: 'x',
        status: ['final', 'amended'],
      })) {
        ids.push(resource.id!);
      }
      expect(ids).toEqual(['o1-1', 'o1-2', 'o2-1', 'o2-2', 'o3-1', 'o3-2']);
      expect(fhirRequests[0]?.url).toBe('/fhir/Observation?code=x&status=final&status=amended');
      expect(fhirRequests.map((r) => r.headers.authorization)).toEqual([
        'Bearer tok-1',
        'Bearer tok-1',
        'Bearer tok-1',
      ]);
      expect(tokensIssued).toBe(1);
    });

    it('searchAll collects all pages; searchPages yields the Bundles', async () => {
      const client = await clientWith(pagedServer(2, (base, page) => `${base}/Observation?page=${page}`));
      expect(await client.searchAll('Observation')).toHaveLength(4);
      const bundles: Bundle[] = [];
      for await (const bundle of client.searchPages('Observation')) bundles.push(bundle);
      expect(bundles).toHaveLength(2);
      expect(bundles[0]?.total).toBe(4);
    });

    it('resolves a relative next link against the page URL', async () => {
      const client = await clientWith(pagedServer(2, (_base, page) => `Observation?page=${page}`));
      expect(await client.searchAll('Observation')).toHaveLength(4);
      expect(fhirRequests[1]?.url).toBe('/fhir/Observation?page=2');
    });

    it('refuses a next link to another server and never contacts it (RS-08)', async () => {
      const foreign = await startServer((_req, res) =>
        fhirJson(res, 200, { resourceType: 'Bundle', type: 'searchset' }),
      );
      try {
        const client = await clientWith(pagedServer(2, () => `${foreign.url}/fhir/Observation?page=2`));
        const seen: string[] = [];
        const error = await (async () => {
          for await (const resource of client.search('Observation')) seen.push(resource.id!);
        })().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ForeignUrlError);
        expect((error as Error).message).toMatch(
          /refusing to send the access token to paging next link http:\/\/127\.0\.0\.1:\d+\/fhir\/Observation\?page=2: it is outside the FHIR base/,
        );
        expect(seen).toEqual(['o1-1', 'o1-2']);
        expect(foreign.requests).toHaveLength(0);
      } finally {
        await foreign.close();
      }
    });

    it('stops a paging loop (a next link already visited) with an error', async () => {
      const client = await clientWith(pagedServer(5, (base) => `${base}/Observation?page=2`));
      await expect(client.searchAll('Observation')).rejects.toThrow(/paging loop/);
      expect(fhirRequests).toHaveLength(2);
    });

    it('says so when a search does not answer with a Bundle', async () => {
      const client = await clientWith((_req, res) => fhirJson(res, 200, { resourceType: 'Patient' }));
      await expect(client.searchAll('Patient')).rejects.toThrow(/did not answer with a Bundle/);
    });
  });

  describe('401 → fresh token, retried once', () => {
    it('drops the cached token on a 401 and retries once with a new one', async () => {
      const client = await clientWith((req, res) =>
        req.headers.authorization === 'Bearer tok-1'
          ? fhirJson(res, 401, OUTCOME, {
              'www-authenticate': 'Bearer error="invalid_token", error_description="token.expired: expired"',
            })
          : fhirJson(res, 200, { resourceType: 'Patient', id: 'p1' }),
      );
      await expect(client.read('Patient', 'p1')).resolves.toMatchObject({ id: 'p1' });
      expect(fhirRequests.map((r) => r.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2']);
      expect(tokensIssued).toBe(2);
    });

    it('gives up after the second 401 with FhirRequestError (no loop)', async () => {
      const client = await clientWith((_req, res) =>
        fhirJson(res, 401, OUTCOME, {
          'www-authenticate': 'Bearer error="invalid_token", error_description="token.wrong_audience: aud"',
        }),
      );
      const error = (await client.read('Patient', 'p1').catch((e: unknown) => e)) as FhirRequestError;
      expect(error).toBeInstanceOf(FhirRequestError);
      expect(error.status).toBe(401);
      expect(error.error).toBe('invalid_token');
      expect(error.reason).toBe('token.wrong_audience');
      expect(fhirRequests).toHaveLength(2);
      expect(tokensIssued).toBe(2);
    });

    it('also retries a POST once after a 401 (the server refused it before processing)', async () => {
      const client = await clientWith((req, res) =>
        req.headers.authorization === 'Bearer tok-1'
          ? fhirJson(res, 401, OUTCOME)
          : fhirJson(res, 201, { resourceType: 'Patient', id: 'n' }),
      );
      await expect(client.create({ resourceType: 'Patient' })).resolves.toMatchObject({ id: 'n' });
      expect(fhirRequests).toHaveLength(2);
    });
  });

  describe('retry rules: idempotent requests only, on 5xx and connection errors, never on 4xx', () => {
    const failing =
      (status: number, times: number) => (req: RecordedRequest, res: ServerResponse, index: number) =>
        index < times
          ? fhirJson(res, status, OUTCOME)
          : fhirJson(res, req.method === 'POST' ? 201 : 200, { resourceType: 'Patient', id: 'p1' });

    it.each(['GET', 'PUT', 'DELETE'] as const)('retries a %s after 5xx answers', async (method) => {
      const client = await clientWith(failing(503, 2));
      const response = await client.request('Patient/p1', {
        method,
        ...(method === 'PUT' && { body: { resourceType: 'Patient', id: 'p1' } }),
      });
      expect(response.status).toBe(200);
      expect(fhirRequests).toHaveLength(3);
      expect(fhirRequests.every((r) => r.method === method)).toBe(true);
    });

    it('retries a GET whose connection was reset', async () => {
      const reset = (req: RecordedRequest, res: ServerResponse, index: number) =>
        index === 0 ? res.socket?.destroy() : fhirJson(res, 200, { resourceType: 'Patient', id: 'p1' });
      const client = await clientWith(reset);
      await expect(client.read('Patient', 'p1')).resolves.toMatchObject({ id: 'p1' });
      expect(fhirRequests).toHaveLength(2);
    });

    it('never retries a POST whose connection was reset', async () => {
      const client = await clientWith((_req, res) => res.socket?.destroy());
      await expect(client.create({ resourceType: 'Patient' })).rejects.toBeInstanceOf(TransportError);
      expect(fhirRequests).toHaveLength(1);
    });

    it('never retries a POST, even on 5xx', async () => {
      const client = await clientWith(failing(502, 1));
      const error = (await client
        .create({ resourceType: 'Patient' })
        .catch((e: unknown) => e)) as FhirRequestError;
      expect(error).toBeInstanceOf(FhirRequestError);
      expect(error.status).toBe(502);
      expect(fhirRequests).toHaveLength(1);
    });

    it.each([400, 403, 404, 409, 412, 422, 429])('never retries a GET answered %i', async (status) => {
      const client = await clientWith(failing(status, 1));
      await expect(client.read('Patient', 'p1')).rejects.toBeInstanceOf(FhirRequestError);
      expect(fhirRequests).toHaveLength(1);
    });

    it('gives up after the configured number of retries', async () => {
      const client = await clientWith(failing(500, 100), { retries: 1 });
      const error = (await client.read('Patient', 'p1').catch((e: unknown) => e)) as FhirRequestError;
      expect(error.status).toBe(500);
      expect(fhirRequests).toHaveLength(2);
    });

    it('times out a FHIR server that never answers', async () => {
      const client = await clientWith(() => undefined, { timeoutMs: 200, retries: 0 });
      await expect(client.read('Patient', 'p1')).rejects.toBeInstanceOf(TransportError);
    });
  });
  describe('malformed server JSON is a clear error or nothing, never a TypeError', () => {
    it.each([
      ['issue is an object', '{"resourceType":"OperationOutcome","issue":{"diagnostics":"x"}}'],
      ['issue is a string', '{"resourceType":"OperationOutcome","issue":"token.expired: x"}'],
      [
        'an issue is null',
        '{"resourceType":"OperationOutcome","issue":[null,{"diagnostics":"token.expired: x"}]}',
      ],
      ['an issue is a number', '{"resourceType":"OperationOutcome","issue":[1]}'],
    ])('a 403 OperationOutcome in which %s is a FhirRequestError', async (_, text) => {
      const client = await clientWith((_req, res) => sendText(res, 403, text, 'application/fhir+json'));
      const error = (await client.read('Patient', 'p1').catch((e: unknown) => e)) as FhirRequestError;
      expect(error).toBeInstanceOf(FhirRequestError);
      expect(error.status).toBe(403);
      expect(error.operationOutcome).toEqual(JSON.parse(text));
      expect(error.reason).toBe(text.includes('[null,') ? 'token.expired' : undefined);
    });

    it.each([
      ['entry is an object', '{"resourceType":"Bundle","entry":{"resource":{"resourceType":"Patient"}}}'],
      ['entry is a string', '{"resourceType":"Bundle","entry":"Patient"}'],
      ['an entry is null', '{"resourceType":"Bundle","entry":[null]}'],
      ['an entry is an array', '{"resourceType":"Bundle","entry":[[{"resourceType":"Patient"}]]}'],
    ])('a search Bundle in which %s is an InvalidResponseError', async (_, text) => {
      const client = await clientWith((_req, res) => sendText(res, 200, text, 'application/fhir+json'));
      const error = await client.searchAll('Patient').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidResponseError);
      expect((error as Error).message).toMatch(/answered a Bundle whose entry is not an array of objects/);
    });

    it('entries whose resource is not an object are skipped by search', async () => {
      const client = await clientWith((_req, res) =>
        sendText(
          res,
          200,
          '{"resourceType":"Bundle","entry":[{"resource":"Patient/p0"},{"resource":{"resourceType":"Patient","id":"p1"}},{}]}',
          'application/fhir+json',
        ),
      );
      expect((await client.searchAll('Patient')).map((r) => r.id)).toEqual(['p1']);
    });
  });
});
