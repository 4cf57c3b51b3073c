import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MAX_BODY_BYTES } from '../src/index.js';
import { FHIR_JSON, patient, startTestApi, type TestApi } from './support/test-api.js';

// Issue 5 "Bad input": an OperationOutcome (application/fhir+json) and nothing stored (ATK-20 for sizes).
let api: TestApi;
let token: string;

beforeAll(async () => {
  api = await startTestApi();
  token = await api.token('system/*.cruds');
});
afterAll(async () => {
  await api.close();
});

async function patientCount(): Promise<number> {
  const res = await api.http().get('/fhir/Patient?_count=0').set('Authorization', `Bearer ${token}`);
  return res.body.total as number;
}

/** POSTs raw bytes with node:http (superagent would re-serialize a Buffer as JSON). */
function rawPost(
  path: string,
  headers: Record<string, string>,
  chunks: Buffer[],
): Promise<{
  status: number;
  body: { resourceType: string; issue: Array<{ code: string; diagnostics: string }> };
  headers: Record<string, string>;
}> {
  const url = new URL(api.address);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path,
        headers: { Authorization: `Bearer ${token}`, ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(text),
            headers: res.headers as Record<string, string>,
          }),
        );
      },
    );
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

function post(body: string | Buffer, contentType: string | undefined = FHIR_JSON, path = '/fhir/Patient') {
  const req = api.http().post(path).set('Authorization', `Bearer ${token}`);
  if (contentType !== undefined) req.set('Content-Type', contentType);
  return req.send(body);
}

async function expectRefused(
  res: {
    status: number;
    headers: Record<string, string>;
    body: { resourceType: string; issue: Array<{ code: string; diagnostics: string }> };
  },
  status: number,
  reason: string,
  code: string,
) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0]?.code).toBe(code);
  expect(res.body.issue[0]?.diagnostics).toMatch(new RegExp(`^${reason.replace('.', '\\.')}: `));
}

describe('bodies that are not a resource of the URL type', () => {
  it.each([
    ['broken JSON', '{"resourceType": "Patient",', 'fhir.invalid_json', 'structure'],
    ['an empty body', '', 'fhir.invalid_json', 'structure'],
    ['a JSON array', '[{"resourceType":"Patient"}]', 'fhir.invalid_resource', 'structure'],
    ['a JSON string', '"Patient"', 'fhir.invalid_resource', 'structure'],
    ['JSON null', 'null', 'fhir.invalid_resource', 'structure'],
    ['no resourceType', '{"name":[{"family":"X"}]}', 'fhir.invalid_resource', 'structure'],
    ['a resourceType that is not a string', '{"resourceType":42}', 'fhir.invalid_resource', 'structure'],
    ['an id that is not a string', '{"resourceType":"Patient","id":7}', 'fhir.invalid_resource', 'structure'],
    [
      'another resourceType than the URL',
      '{"resourceType":"Observation","status":"final"}',
      'fhir.resource_type_mismatch',
      'invalid',
    ],
  ])('%s: 400 and nothing stored', async (_label, body, reason, code) => {
    const before = await patientCount();
    await expectRefused(await post(body), 400, reason, code);
    expect(await patientCount()).toBe(before);
  });

  it('an update whose body names another type: 400 fhir.resource_type_mismatch, nothing stored', async () => {
    const res = await api
      .http()
      .put('/fhir/Patient/put-target')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Observation', id: 'put-target' });
    await expectRefused(res, 400, 'fhir.resource_type_mismatch', 'invalid');
    expect(
      (await api.http().get('/fhir/Patient/put-target').set('Authorization', `Bearer ${token}`)).status,
    ).toBe(404);
  });

  it('bytes that are not UTF-8: 400 fhir.invalid_json', async () => {
    const body = Buffer.concat([
      Buffer.from('{"resourceType":"Patient","name":[{"family":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}]}'),
    ]);
    const before = await patientCount();
    await expectRefused(
      await rawPost('/fhir/Patient', { 'Content-Type': FHIR_JSON }, [body]),
      400,
      'fhir.invalid_json',
      'structure',
    );
    expect(await patientCount()).toBe(before);
  });

  it('hostile nesting: 400 fhir.invalid_resource', async () => {
    const body = `{"resourceType":"Patient","extension":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    await expectRefused(await post(body), 400, 'fhir.invalid_resource', 'structure');
  });
});

describe('media types', () => {
  it.each([
    ['text/plain'],
    ['application/xml'],
    ['application/fhir+xml'],
    ['application/x-www-form-urlencoded'],
    ['application/fhir+json; charset=iso-8859-1'],
  ])('%s: 415 fhir.unsupported_media_type, nothing stored', async (type) => {
    const before = await patientCount();
    await expectRefused(
      await post(JSON.stringify(patient('Media')), type),
      415,
      'fhir.unsupported_media_type',
      'not-supported',
    );
    expect(await patientCount()).toBe(before);
  });

  it('no Content-Type: 415', async () => {
    const res = await rawPost('/fhir/Patient', {}, [Buffer.from(JSON.stringify(patient('NoType')))]);
    await expectRefused(res, 415, 'fhir.unsupported_media_type', 'not-supported');
  });

  it.each([
    ['application/fhir+json'],
    ['application/json'],
    ['application/fhir+json; charset=UTF-8'],
    ['application/fhir+json;fhirVersion=4.0'],
  ])('%s is accepted', async (type) => {
    expect((await post(JSON.stringify(patient('Accepted')), type)).status).toBe(201);
  });
});

describe('sizes (ATK-20)', () => {
  const big = () =>
    JSON.stringify(patient('Big', { text: { status: 'generated', div: 'x'.repeat(MAX_BODY_BYTES) } }));

  it('a body over 1 MB with Content-Length: 413 fhir.body_too_large, nothing stored', async () => {
    const before = await patientCount();
    await expectRefused(await post(big()), 413, 'fhir.body_too_large', 'too-long');
    expect(await patientCount()).toBe(before);
  });

  it('a chunked body over 1 MB: 413, and the server keeps serving', async () => {
    const payload = Buffer.from(big());
    const chunks: Buffer[] = [];
    for (let i = 0; i < payload.length; i += 64 * 1024) chunks.push(payload.subarray(i, i + 64 * 1024));
    const res = await rawPost(
      '/fhir/Patient',
      { 'Content-Type': FHIR_JSON, 'Transfer-Encoding': 'chunked' },
      chunks,
    );
    await expectRefused(res, 413, 'fhir.body_too_large', 'too-long');
    expect((await api.http().get('/fhir/metadata')).status).toBe(200);
  });

  it('a chunked body under the cap is read whole', async () => {
    const payload = Buffer.from(JSON.stringify(patient('Chunked')));
    const res = await rawPost(
      '/fhir/Patient',
      { 'Content-Type': FHIR_JSON, 'Transfer-Encoding': 'chunked' },
      [payload.subarray(0, 10), payload.subarray(10)],
    );
    expect(res.status).toBe(201);
  });

  it('a body just under the cap is accepted', async () => {
    const body = JSON.stringify(
      patient('AlmostBig', { text: { status: 'generated', div: 'x'.repeat(MAX_BODY_BYTES - 200) } }),
    );
    expect((await post(body)).status).toBe(201);
  });
});

describe('the order of checks: authentication, then authorization, then the body', () => {
  it('a bad body without a token is 401', async () => {
    const res = await api.http().post('/fhir/Patient').set('Content-Type', 'text/plain').send('junk');
    expect(res.status).toBe(401);
  });

  it('a bad body without the create letter is 403', async () => {
    const reader = await api.token('system/Patient.rs');
    const res = await api
      .http()
      .post('/fhir/Patient')
      .set('Authorization', `Bearer ${reader}`)
      .set('Content-Type', 'text/plain')
      .send('junk');
    expect(res.status).toBe(403);
  });
});
