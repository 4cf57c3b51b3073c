import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { parseSearchCriterion } from '@smart-backend/protocol';
import Database from 'better-sqlite3';
import { SQLITE_FILE_NAME, openSqliteResourceStore } from '../src/index.js';
import type { FhirResource } from '../src/search/criteria.js';
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

it('a data directory written by schema version 1 has its search index rebuilt from the stored content', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fhir-api-v1-'));
  try {
    const store = openSqliteResourceStore({ dataDir });
    await store.createIfAbsent([
      { resourceType: 'Patient', id: 'ancient', birthDate: '0050-06-01' },
      { ...observation('laboratory'), id: 'lab-deleted' } as unknown as FhirResource,
    ]);
    expect((await store.delete('Observation', 'lab-deleted', { access: null })).kind).toBe('deleted');
    await store.close();

    // What version 1 left behind: a stale index (the year read as 1950, the category lost).
    const db = new Database(join(dataDir, SQLITE_FILE_NAME));
    db.exec('DELETE FROM search_index');
    db.prepare(
      "INSERT INTO search_index (resource_pk, type, param, date_start, date_end) SELECT pk, 'Patient', 'birthdate', ?, ? FROM resources WHERE id = 'ancient'",
    ).run(Date.UTC(1950, 5, 1), Date.UTC(1950, 5, 2));
    db.pragma('user_version = 1');
    db.close();

    const reopened = openSqliteResourceStore({ dataDir });
    try {
      const search = async (name: string, value: string) => {
        const parsed = parseSearchCriterion('Patient', name, value);
        if (!parsed.ok) throw new Error(parsed.message);
        const result = await reopened.search('Patient', {
          criteria: [parsed.criterion],
          access: null,
          count: 10,
          offset: 0,
          total: true,
        });
        return result.resources.map((r) => r.id);
      };
      expect(await search('birthdate', '1950')).toEqual([]);
      expect(await search('birthdate', '0050')).toEqual(['ancient']);
      // A deleted resource is judged by its last content again: a lab-only caller sees 410, not 403.
      const lab = parseSearchCriterion('Observation', 'category', LAB);
      if (!lab.ok) throw new Error(lab.message);
      expect((await reopened.read('Observation', 'lab-deleted', [[lab.criterion]])).kind).toBe('deleted');
    } finally {
      await reopened.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
