import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { FHIR_JSON, LAB, observation, patient, startTestApi, type TestApi } from './support/test-api.js';

// "Nothing lost on restart": resources, versions, deletions and the search index live in
// DATA_DIR and survive rebuilding the app on the same directory.
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
});

it('resources, versions, deletions and search survive a restart', async () => {
  const token = await api.token('system/*.cruds');
  const h = { Authorization: `Bearer ${token}` };
  const created = await api
    .http()
    .post('/fhir/Patient')
    .set(h)
    .set('Content-Type', FHIR_JSON)
    .send(patient('Durable'));
  const id = created.body.id as string;
  await api
    .http()
    .put(`/fhir/Patient/${id}`)
    .set(h)
    .set('Content-Type', FHIR_JSON)
    .send(patient('Durable', { id, gender: 'other' }));
  const obs = await api
    .http()
    .post('/fhir/Observation')
    .set(h)
    .set('Content-Type', FHIR_JSON)
    .send(observation('laboratory'));
  const gone = await api
    .http()
    .post('/fhir/Patient')
    .set(h)
    .set('Content-Type', FHIR_JSON)
    .send(patient('Ephemeral'));
  await api.http().delete(`/fhir/Patient/${gone.body.id}`).set(h);

  await api.restart();
  const again = { Authorization: `Bearer ${await api.token('system/*.cruds')}` };

  const read = await api.http().get(`/fhir/Patient/${id}`).set(again);
  expect(read.status).toBe(200);
  expect(read.body).toMatchObject({ gender: 'other', meta: { versionId: '2' } });
  expect((await api.http().get(`/fhir/Patient/${id}/_history/1`).set(again)).body.gender).toBe('unknown');
  expect((await api.http().get(`/fhir/Patient/${gone.body.id}`).set(again)).status).toBe(410);
  expect((await api.http().get('/fhir/Patient?family=durable').set(again)).body.total).toBe(1);
  const labOnly = await api.token(`system/Observation.rs?category=${LAB}`);
  const lab = await api
    .http()
    .get(`/fhir/Observation/${obs.body.id}`)
    .set('Authorization', `Bearer ${labOnly}`);
  expect(lab.status).toBe(200);

  const next = await api
    .http()
    .put(`/fhir/Patient/${id}`)
    .set(again)
    .set('Content-Type', FHIR_JSON)
    .send(patient('Durable', { id }));
  expect(next.body.meta.versionId).toBe('3');
});
