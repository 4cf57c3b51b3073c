import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FHIR_BASE, FHIR_JSON, patient, startTestApi, type TestApi } from './support/test-api.js';

// DESIGN.md fhir-api endpoints; FHIR R4 RESTful API (http://hl7.org/fhir/R4/http.html).
let api: TestApi;
let token: string;

beforeAll(async () => {
  api = await startTestApi();
  token = await api.token('system/*.cruds');
});
afterAll(async () => {
  await api.close();
});

const auth = () => ({ Authorization: `Bearer ${token}` });

/** A request with node:http, which sends the path exactly as written. */
function rawRequest(
  method: string,
  path: string,
  body: string,
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const url = new URL(api.address);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { ...auth(), 'Content-Type': FHIR_JSON },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(method === 'GET' || method === 'DELETE' ? undefined : body);
  });
}

describe('create', () => {
  it('answers 201 with Location, ETag W/"1", a server-assigned id and meta', async () => {
    const res = await api
      .http()
      .post('/fhir/Patient')
      .set(auth())
      .set('Content-Type', FHIR_JSON)
      .send(patient('Create'));
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    const body = res.body as { id: string; meta: { versionId: string; lastUpdated: string } };
    expect(body.id).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
    expect(body.meta.versionId).toBe('1');
    expect(Number.isNaN(Date.parse(body.meta.lastUpdated))).toBe(false);
    expect(res.headers.location).toBe(`${FHIR_BASE}/Patient/${body.id}/_history/1`);
    expect(res.headers.etag).toBe('W/"1"');
    expect(res.headers['last-modified']).toBeDefined();
  });

  it('ignores an id in the body and keeps the client meta other than versionId and lastUpdated', async () => {
    const res = await api
      .http()
      .post('/fhir/Patient')
      .set(auth())
      .set('Content-Type', FHIR_JSON)
      .send(patient('Ids', { id: 'chosen-by-client', meta: { versionId: '9', tag: [{ code: 'x' }] } }));
    expect(res.status).toBe(201);
    expect(res.body.id).not.toBe('chosen-by-client');
    expect(res.body.meta).toMatchObject({ versionId: '1', tag: [{ code: 'x' }] });
  });

  it('gives every created resource its own id', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const res = await api
        .http()
        .post('/fhir/Basic')
        .set(auth())
        .set('Content-Type', FHIR_JSON)
        .send({ resourceType: 'Basic' });
      ids.add(res.body.id as string);
    }
    expect(ids.size).toBe(5);
  });

  it('stores any FHIR R4 resource type', async () => {
    const res = await api
      .http()
      .post('/fhir/MedicationRequest')
      .set(auth())
      .set('Content-Type', 'application/json')
      .send({ resourceType: 'MedicationRequest', status: 'active', intent: 'order' });
    expect(res.status).toBe(201);
    const read = await api.http().get(`/fhir/MedicationRequest/${res.body.id}`).set(auth());
    expect(read.status).toBe(200);
    expect(read.body.intent).toBe('order');
  });

  it('honours Prefer: return=minimal with an empty body', async () => {
    const res = await api
      .http()
      .post('/fhir/Patient')
      .set(auth())
      .set('Content-Type', FHIR_JSON)
      .set('Prefer', 'return=minimal')
      .send(patient('Minimal'));
    expect(res.status).toBe(201);
    expect(res.text).toBe('');
    expect(res.headers.location).toMatch(/\/Patient\/[^/]+\/_history\/1$/);
  });
});

describe('read, update, versions, delete', () => {
  let id: string;

  beforeAll(async () => {
    const res = await api
      .http()
      .post('/fhir/Patient')
      .set(auth())
      .set('Content-Type', FHIR_JSON)
      .send(patient('Lifecycle'));
    id = res.body.id as string;
  });

  it('reads the resource with its ETag', async () => {
    const res = await api.http().get(`/fhir/Patient/${id}`).set(auth());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ resourceType: 'Patient', id, name: [{ family: 'Lifecycle' }] });
    expect(res.headers.etag).toBe('W/"1"');
  });

  it('update makes version 2 with a new lastUpdated and Location, and keeps version 1 for vread', async () => {
    const before = await api.http().get(`/fhir/Patient/${id}`).set(auth());
    const res = await api
      .http()
      .put(`/fhir/Patient/${id}`)
      .set(auth())
      .set('Content-Type', FHIR_JSON)
      .send(patient('Lifecycle', { id, gender: 'female' }));
    expect(res.status).toBe(200);
    expect(res.body.meta.versionId).toBe('2');
    expect(res.body.gender).toBe('female');
    expect(res.headers.etag).toBe('W/"2"');
    expect(res.headers.location).toBe(`${FHIR_BASE}/Patient/${id}/_history/2`);
    expect(Date.parse(res.body.meta.lastUpdated)).toBeGreaterThanOrEqual(
      Date.parse(before.body.meta.lastUpdated),
    );

    const v1 = await api.http().get(`/fhir/Patient/${id}/_history/1`).set(auth());
    expect(v1.status).toBe(200);
    expect(v1.body.gender).toBe('unknown');
    expect(v1.body.meta.versionId).toBe('1');
    const v2 = await api.http().get(`/fhir/Patient/${id}/_history/2`).set(auth());
    expect(v2.body.gender).toBe('female');
    const v3 = await api.http().get(`/fhir/Patient/${id}/_history/3`).set(auth());
    expect(v3.status).toBe(404);
    const bad = await api.http().get(`/fhir/Patient/${id}/_history/x`).set(auth());
    expect(bad.status).toBe(404);
  });

  it('refuses an update whose body id differs from the URL, or has none (fhir.id_mismatch), storing nothing', async () => {
    for (const body of [patient('Other', { id: 'someone-else' }), patient('Other')]) {
      const res = await api
        .http()
        .put(`/fhir/Patient/${id}`)
        .set(auth())
        .set('Content-Type', FHIR_JSON)
        .send(body);
      expect(res.status).toBe(400);
      expect(res.body.issue[0].diagnostics).toMatch(/^fhir\.id_mismatch: /);
    }
    const read = await api.http().get(`/fhir/Patient/${id}`).set(auth());
    expect(read.body.meta.versionId).toBe('2');
    expect(read.body.name[0].family).toBe('Lifecycle');
  });

  it('If-Match: a stale version is refused with 412, the current one accepted', async () => {
    const stale = await api
      .http()
      .put(`/fhir/Patient/${id}`)
      .set(auth())
      .set('If-Match', 'W/"1"')
      .set('Content-Type', FHIR_JSON)
      .send(patient('Lifecycle', { id }));
    expect(stale.status).toBe(412);
    expect(stale.body.issue[0].diagnostics).toMatch(/^fhir\.version_conflict: .*version 2/);
    const current = await api
      .http()
      .put(`/fhir/Patient/${id}`)
      .set(auth())
      .set('If-Match', 'W/"2"')
      .set('Content-Type', FHIR_JSON)
      .send(patient('Lifecycle', { id }));
    expect(current.status).toBe(200);
    expect(current.body.meta.versionId).toBe('3');
  });

  it('delete answers 204, then read is 410 Gone; deleting again is 204; the deleted version is 410 for vread', async () => {
    const res = await api.http().delete(`/fhir/Patient/${id}`).set(auth());
    expect(res.status).toBe(204);
    const gone = await api.http().get(`/fhir/Patient/${id}`).set(auth());
    expect(gone.status).toBe(410);
    expect(gone.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(gone.body.resourceType).toBe('OperationOutcome');
    expect(gone.body.issue[0]).toMatchObject({ severity: 'error', code: 'deleted' });
    expect(gone.body.issue[0].diagnostics).toMatch(/^fhir\.gone: /);
    expect((await api.http().delete(`/fhir/Patient/${id}`).set(auth())).status).toBe(204);
    expect((await api.http().get(`/fhir/Patient/${id}/_history/4`).set(auth())).status).toBe(410);
    expect((await api.http().get(`/fhir/Patient/${id}/_history/3`).set(auth())).status).toBe(200);
  });

  it('a deleted resource is no longer found by search', async () => {
    const res = await api.http().get(`/fhir/Patient?_id=${id}`).set(auth());
    expect(res.body.total).toBe(0);
  });

  it('update of a deleted resource brings it back as a new version (201)', async () => {
    const res = await api
      .http()
      .put(`/fhir/Patient/${id}`)
      .set(auth())
      .set('Content-Type', FHIR_JSON)
      .send(patient('Back', { id }));
    expect(res.status).toBe(201);
    expect(res.body.meta.versionId).toBe('5');
    expect((await api.http().get(`/fhir/Patient/${id}`).set(auth())).status).toBe(200);
  });
});

describe('ids that do not exist', () => {
  it('read of an unknown id is 404 fhir.not_found', async () => {
    const res = await api.http().get('/fhir/Patient/does-not-exist').set(auth());
    expect(res.status).toBe(404);
    expect(res.body.issue[0].code).toBe('not-found');
    expect(res.body.issue[0].diagnostics).toMatch(/^fhir\.not_found: /);
  });

  it('update of an unknown id creates it with that id (update-as-create, SCP-03): 201, version 1', async () => {
    const res = await api
      .http()
      .put('/fhir/Patient/client-chosen-1')
      .set(auth())
      .set('Content-Type', FHIR_JSON)
      .send(patient('Chosen', { id: 'client-chosen-1' }));
    expect(res.status).toBe(201);
    expect(res.body.meta.versionId).toBe('1');
    expect(res.headers.location).toBe(`${FHIR_BASE}/Patient/client-chosen-1/_history/1`);
  });

  it('If-Match on an id that does not exist is 412', async () => {
    const res = await api
      .http()
      .put('/fhir/Patient/never-there')
      .set(auth())
      .set('If-Match', 'W/"1"')
      .set('Content-Type', FHIR_JSON)
      .send(patient('Never', { id: 'never-there' }));
    expect(res.status).toBe(412);
    expect((await api.http().get('/fhir/Patient/never-there').set(auth())).status).toBe(404);
  });

  it('delete of an unknown id is 204 (FHIR delete is idempotent)', async () => {
    expect((await api.http().delete('/fhir/Patient/not-here').set(auth())).status).toBe(204);
  });

  it('an id outside the FHIR id charset is 400 fhir.invalid_id', async () => {
    const res = await api
      .http()
      .get(`/fhir/Patient/${'x'.repeat(65)}`)
      .set(auth());
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/^fhir\.invalid_id: /);
  });

  it('ids made only of dots are refused on every interaction (URL dot segments, RFC 3986 §5.2.4)', async () => {
    for (const id of ['.', '..', '...', '%2E%2E', '.%2E']) {
      for (const method of ['GET', 'PUT', 'DELETE'] as const) {
        // node:http sends the path as written; a URL library would resolve the dot segments.
        const res = await rawRequest(method, `/fhir/Patient/${id}`, JSON.stringify(patient('Dots', { id })));
        expect({ id, method, status: res.status }).toEqual({ id, method, status: 400 });
        expect(res.body).toMatch(/fhir\.invalid_id: /);
        expect(res.headers.location).toBeUndefined();
      }
    }
    expect((await api.http().get('/fhir/Patient?_id=..').set(auth())).body.total).toBe(0);
  });

  it('a reference to an id made only of dots is stored but names nothing: never indexed', async () => {
    const created = await api
      .http()
      .post('/fhir/Observation')
      .set(auth())
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Observation', status: 'final', subject: { reference: 'Patient/..' } });
    expect(created.status).toBe(201);
    const search = await api.http().get('/fhir/Observation?subject=Patient/..').set(auth());
    expect(search.status).toBe(400);
    expect(search.body.issue[0].diagnostics).toMatch(/^fhir\.invalid_search_value: /);
  });
});

describe('URLs and methods', () => {
  it('an unknown resource type is 404 fhir.unknown_resource_type', async () => {
    for (const path of ['/fhir/Spaceship', '/fhir/Spaceship/1', '/fhir/patient']) {
      const res = await api.http().get(path).set(auth());
      expect(res.status).toBe(404);
      expect(res.body.issue[0].diagnostics).toMatch(/^fhir\.unknown_resource_type: /);
    }
    const post = await api
      .http()
      .post('/fhir/Spaceship')
      .set(auth())
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Spaceship' });
    expect(post.status).toBe(404);
  });

  it('methods an endpoint does not support are 405 with Allow', async () => {
    const patch = await api.http().patch('/fhir/Patient/x').set(auth()).send({});
    expect(patch.status).toBe(405);
    expect(patch.headers.allow).toContain('PUT');
    expect(patch.body.issue[0].diagnostics).toMatch(/^fhir\.method_not_allowed: /);
    const putType = await api.http().put('/fhir/Patient').set(auth()).send({});
    expect(putType.status).toBe(405);
    const postMeta = await api.http().post('/fhir/metadata').send({});
    expect(postMeta.status).toBe(405);
    const batch = await api.http().post('/fhir').set(auth()).send({});
    expect(batch.status).toBe(405);
    expect(batch.headers.allow).toBe(''); // RFC 9110: present even when nothing is allowed
    const history = await api.http().get('/fhir/Patient/x/_history').set(auth());
    expect(history.status).toBe(405);
    expect(history.body.issue[0].diagnostics).toContain('vread');
  });

  it('paths that are not FHIR endpoints are 404 OperationOutcomes', async () => {
    const inside = await api.http().get('/fhir/Patient/1/something/else').set(auth());
    expect(inside.status).toBe(404);
    expect(inside.body.resourceType).toBe('OperationOutcome');
    const outside = await api.http().get('/nothing-here');
    expect(outside.status).toBe(404);
    expect(outside.body.issue[0].diagnostics).toMatch(/^request\.not_found: /);
  });

  it('a path that is not valid percent-encoding is a 404 OperationOutcome, not a server error', async () => {
    for (const path of ['/fhir/Patient/%E0%A4%A', '/fhir/%E0%A4%A', '/fhir/Patient/1/_history/%ZZ']) {
      const res = await api.http().get(path).set(auth());
      expect(res.status).toBe(404);
      expect(res.body.issue[0].diagnostics).toMatch(/^request\.not_found: /);
    }
  });

  it('conditional read: If-None-Match with the current ETag is 304; HEAD answers headers only', async () => {
    const created = await api
      .http()
      .post('/fhir/Patient')
      .set(auth())
      .set('Content-Type', FHIR_JSON)
      .send(patient('Etag'));
    const path = `/fhir/Patient/${created.body.id}`;
    expect((await api.http().get(path).set(auth()).set('If-None-Match', 'W/"1"')).status).toBe(304);
    expect((await api.http().get(path).set(auth()).set('If-None-Match', 'W/"0"')).status).toBe(200);
    const head = await api.http().head(path).set(auth());
    expect(head.status).toBe(200);
    expect(head.headers.etag).toBe('W/"1"');
  });

  it('GET /healthz answers without a token', async () => {
    const res = await api.http().get('/healthz');
    expect(res.status).toBe(200);
  });
});
