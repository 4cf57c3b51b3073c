import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  FHIR_BASE,
  FHIR_JSON,
  LAB,
  observation,
  patient,
  startTestApi,
  type TestApi,
} from './support/test-api.js';

// DESIGN.md "Scopes"; SCP-02/05/06/08, RS-04/05: each interaction needs its letter
// (read/vread → r, search → s, create → c, update → u, delete → d); query constraints filter every
// search and refuse reads and writes of resources outside them.
let api: TestApi;

const LAB_SCOPE = `system/Observation.rs?category=${LAB}`;

beforeAll(async () => {
  api = await startTestApi();
  await api.store.createIfAbsent([
    { ...patient('One'), id: 'p1' } as never,
    { ...patient('Two'), id: 'p2' } as never,
    { ...observation('laboratory'), id: 'lab-1' } as never,
    { ...observation('laboratory', { subject: { reference: 'Patient/p2' } }), id: 'lab-2' } as never,
    { ...observation('laboratory', { status: 'amended' }), id: 'lab-amended' } as never,
    { ...observation('vital-signs'), id: 'vital-1' } as never,
    { ...observation('vital-signs', { subject: { reference: 'Patient/p2' } }), id: 'vital-2' } as never,
    { resourceType: 'Condition', id: 'cond-1', subject: { reference: 'Patient/p1' } } as never,
  ]);
});
afterAll(async () => {
  await api.close();
});

async function as(scope: string) {
  const token = await api.token(scope);
  const header = { Authorization: `Bearer ${token}` };
  return {
    get: (path: string) => api.http().get(path).set(header),
    post: (path: string, body: object) =>
      api.http().post(path).set(header).set('Content-Type', FHIR_JSON).send(body),
    put: (path: string, body: object) =>
      api.http().put(path).set(header).set('Content-Type', FHIR_JSON).send(body),
    delete: (path: string) => api.http().delete(path).set(header),
  };
}

function ids(bundle: { entry?: Array<{ resource: { id: string } }> }): string[] {
  return (bundle.entry ?? []).map((e) => e.resource.id).sort();
}

function expectInsufficientScope(
  res: {
    status: number;
    headers: Record<string, string>;
    body: { issue: Array<{ code: string; diagnostics: string }> };
  },
  needed: string,
) {
  expect(res.status).toBe(403);
  expect(res.body.issue[0]?.code).toBe('forbidden');
  expect(res.body.issue[0]?.diagnostics).toMatch(/^token\.insufficient_scope: /);
  expect(res.headers['www-authenticate']).toMatch(
    /^Bearer realm="[^"]+", error="insufficient_scope", error_description="token\.insufficient_scope: [^"]+"/,
  );
  expect(res.headers['www-authenticate']).toContain(`scope="${needed}"`);
}

function expectConstraintNotMet(res: {
  status: number;
  headers: Record<string, string>;
  body: { issue: Array<{ diagnostics: string }> };
}) {
  expect(res.status).toBe(403);
  expect(res.body.issue[0]?.diagnostics).toMatch(/^token\.constraint_not_met: /);
  expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
}

describe('permission letters (SMART v1 and v2)', () => {
  it('v1 system/Observation.read = rs: read and search, not create, not other types', async () => {
    const client = await as('system/Observation.read');
    expect((await client.get('/fhir/Observation/lab-1')).status).toBe(200);
    expect((await client.get('/fhir/Observation')).status).toBe(200);
    expectInsufficientScope(
      await client.post('/fhir/Observation', observation('laboratory')),
      'system/Observation.c',
    );
    expectInsufficientScope(await client.get('/fhir/Patient/p1'), 'system/Patient.r');
  });

  it('v2 .r reads but does not search; .s searches but does not read', async () => {
    const reader = await as('system/Observation.r');
    expect((await reader.get('/fhir/Observation/lab-1')).status).toBe(200);
    expect((await reader.get('/fhir/Observation/lab-1/_history/1')).status).toBe(200);
    expectInsufficientScope(await reader.get('/fhir/Observation'), 'system/Observation.s');
    const searcher = await as('system/Observation.s');
    expect((await searcher.get('/fhir/Observation')).status).toBe(200);
    expect((await searcher.post('/fhir/Observation/_search', {})).status).not.toBe(403);
    expectInsufficientScope(await searcher.get('/fhir/Observation/lab-1'), 'system/Observation.r');
  });

  it('v1 .write = cud: create, update and delete, but not read', async () => {
    const writer = await as('system/Basic.write');
    const created = await writer.post('/fhir/Basic', { resourceType: 'Basic' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await writer.put(`/fhir/Basic/${id}`, { resourceType: 'Basic', id })).status).toBe(200);
    expectInsufficientScope(await writer.get(`/fhir/Basic/${id}`), 'system/Basic.r');
    expect((await writer.delete(`/fhir/Basic/${id}`)).status).toBe(204);
  });

  it('each write letter alone allows only its interaction', async () => {
    const creator = await as('system/Basic.c');
    const id = (await creator.post('/fhir/Basic', { resourceType: 'Basic' })).body.id as string;
    expectInsufficientScope(
      await creator.put(`/fhir/Basic/${id}`, { resourceType: 'Basic', id }),
      'system/Basic.u',
    );
    expectInsufficientScope(await creator.delete(`/fhir/Basic/${id}`), 'system/Basic.d');
    const updater = await as('system/Basic.u');
    expect((await updater.put(`/fhir/Basic/${id}`, { resourceType: 'Basic', id })).status).toBe(200);
    expectInsufficientScope(await updater.post('/fhir/Basic', { resourceType: 'Basic' }), 'system/Basic.c');
    const deleter = await as('system/Basic.d');
    expect((await deleter.delete(`/fhir/Basic/${id}`)).status).toBe(204);
  });

  it('wildcard system/*.read covers every type for reading only (SCP-08)', async () => {
    const client = await as('system/*.read');
    expect((await client.get('/fhir/Patient/p1')).status).toBe(200);
    expect((await client.get('/fhir/Condition?patient=p1')).status).toBe(200);
    expect((await client.get('/fhir/DocumentReference')).status).toBe(200);
    expectInsufficientScope(await client.post('/fhir/Patient', patient('X')), 'system/Patient.c');
  });

  it('system/*.cruds allows every interaction on every type', async () => {
    const client = await as('system/*.cruds');
    const created = await client.post('/fhir/Flag', { resourceType: 'Flag', status: 'active' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await client.get(`/fhir/Flag/${id}`)).status).toBe(200);
    expect((await client.get('/fhir/Flag')).body.total).toBeGreaterThanOrEqual(1);
    expect(
      (await client.put(`/fhir/Flag/${id}`, { resourceType: 'Flag', id, status: 'inactive' })).status,
    ).toBe(200);
    expect((await client.delete(`/fhir/Flag/${id}`)).status).toBe(204);
  });

  it('a type-specific scope does not cover other types', async () => {
    const client = await as('system/Patient.cruds');
    expectInsufficientScope(await client.get('/fhir/Observation/lab-1'), 'system/Observation.r');
  });

  it('patient/ and user/ scopes, and non-resource scopes, authorize nothing for a backend token', async () => {
    for (const scope of [
      'patient/Observation.rs',
      'user/Observation.read',
      'launch openid fhirUser',
      'garbage',
    ]) {
      const client = await as(scope);
      expectInsufficientScope(await client.get('/fhir/Observation/lab-1'), 'system/Observation.r');
    }
  });
});

describe(`query-constrained scope ${LAB_SCOPE}`, () => {
  it('searches see only laboratory Observations, and total counts only those', async () => {
    const client = await as(LAB_SCOPE);
    const all = await client.get('/fhir/Observation');
    expect(all.status).toBe(200);
    expect(ids(all.body)).toEqual(['lab-1', 'lab-2', 'lab-amended']);
    expect(all.body.total).toBe(3);
    const vitals = await client.get('/fhir/Observation?category=vital-signs');
    expect(vitals.body.total).toBe(0);
    expect(vitals.body.entry).toBeUndefined();
    const p2 = await client.get('/fhir/Observation?patient=p2');
    expect(ids(p2.body)).toEqual(['lab-2']);
  });

  it('paging counts and pages only what the client may see', async () => {
    const client = await as(LAB_SCOPE);
    const first = await client.get('/fhir/Observation?_count=2');
    expect(first.body.total).toBe(3);
    expect(ids(first.body)).toEqual(['lab-1', 'lab-2']);
    const next = (first.body.link as Array<{ relation: string; url: string }>).find(
      (l) => l.relation === 'next',
    );
    expect(next).toBeDefined();
    const second = await client.get(new URL(next?.url ?? '').pathname + new URL(next?.url ?? '').search);
    expect(ids(second.body)).toEqual(['lab-amended']);
    expect((second.body.link as Array<{ relation: string }>).some((l) => l.relation === 'next')).toBe(false);
  });

  it('cannot read or vread a vital-signs Observation: 403 token.constraint_not_met', async () => {
    const client = await as(LAB_SCOPE);
    expect((await client.get('/fhir/Observation/lab-1')).status).toBe(200);
    expectConstraintNotMet(await client.get('/fhir/Observation/vital-1'));
    expectConstraintNotMet(await client.get('/fhir/Observation/vital-1/_history/1'));
  });

  it('cannot create one (no c letter): 403 token.insufficient_scope', async () => {
    const client = await as(LAB_SCOPE);
    expectInsufficientScope(
      await client.post('/fhir/Observation', observation('vital-signs')),
      'system/Observation.c',
    );
  });

  it('with .cruds: creates laboratory Observations but not vital signs, storing nothing', async () => {
    const client = await as(`system/Observation.cruds?category=${LAB}`);
    const admin = await as('system/*.cruds');
    const before = (await admin.get('/fhir/Observation?_total=accurate')).body.total as number;
    expect(
      (await client.post('/fhir/Observation', observation('laboratory', { id: undefined }))).status,
    ).toBe(201);
    expectConstraintNotMet(await client.post('/fhir/Observation', observation('vital-signs')));
    expect((await admin.get('/fhir/Observation')).body.total).toBe(before + 1);
  });

  it('with .cruds: an update must keep the resource inside, and cannot touch one outside', async () => {
    const admin = await as('system/*.cruds');
    const client = await as(`system/Observation.cruds?category=${LAB}`);
    const lab = (await admin.post('/fhir/Observation', observation('laboratory'))).body.id as string;
    const vital = (await admin.post('/fhir/Observation', observation('vital-signs'))).body.id as string;

    expectConstraintNotMet(
      await client.put(`/fhir/Observation/${lab}`, observation('vital-signs', { id: lab })),
    );
    expect((await admin.get(`/fhir/Observation/${lab}`)).body.meta.versionId).toBe('1');
    expectConstraintNotMet(
      await client.put(`/fhir/Observation/${vital}`, observation('laboratory', { id: vital })),
    );
    expect((await admin.get(`/fhir/Observation/${vital}`)).body.category[0].coding[0].code).toBe(
      'vital-signs',
    );
    const ok = await client.put(
      `/fhir/Observation/${lab}`,
      observation('laboratory', { id: lab, status: 'amended' }),
    );
    expect(ok.status).toBe(200);
    // Update-as-create is judged on the new content too.
    expectConstraintNotMet(
      await client.put('/fhir/Observation/new-vital', observation('vital-signs', { id: 'new-vital' })),
    );
    expect((await admin.get('/fhir/Observation/new-vital')).status).toBe(404);
  });

  it('with .cruds: cannot delete a resource outside; deletes one inside', async () => {
    const admin = await as('system/*.cruds');
    const client = await as(`system/Observation.cruds?category=${LAB}`);
    const lab = (await admin.post('/fhir/Observation', observation('laboratory'))).body.id as string;
    const vital = (await admin.post('/fhir/Observation', observation('vital-signs'))).body.id as string;
    expectConstraintNotMet(await client.delete(`/fhir/Observation/${vital}`));
    expect((await admin.get(`/fhir/Observation/${vital}`)).status).toBe(200);
    expect((await client.delete(`/fhir/Observation/${lab}`)).status).toBe(204);
    expect((await client.get(`/fhir/Observation/${lab}`)).status).toBe(410);
    // A deleted resource is still judged on its last content: outside stays 403, not 410.
    expect((await admin.delete(`/fhir/Observation/${vital}`)).status).toBe(204);
    expectConstraintNotMet(await client.get(`/fhir/Observation/${vital}`));
  });

  it('with .cruds: cannot bring back a deleted resource outside by PUT; its last version counts', async () => {
    const admin = await as('system/*.cruds');
    const client = await as(`system/Observation.cruds?category=${LAB}`);
    const vital = (await admin.post('/fhir/Observation', observation('vital-signs'))).body.id as string;
    expect((await admin.delete(`/fhir/Observation/${vital}`)).status).toBe(204);

    expectConstraintNotMet(
      await client.put(`/fhir/Observation/${vital}`, observation('laboratory', { id: vital })),
    );
    // Nothing was written: the history still ends with the deletion (version 2).
    expect((await admin.get(`/fhir/Observation/${vital}`)).status).toBe(410);
    expect((await admin.get(`/fhir/Observation/${vital}/_history/3`)).status).toBe(404);

    // A deleted resource that was inside may be re-created by the constrained client.
    const lab = (await client.post('/fhir/Observation', observation('laboratory'))).body.id as string;
    expect((await client.delete(`/fhir/Observation/${lab}`)).status).toBe(204);
    const again = await client.put(`/fhir/Observation/${lab}`, observation('laboratory', { id: lab }));
    expect(again.status).toBe(201);
    expect(again.body.meta.versionId).toBe('3');
  });

  it('vread judges the requested version: an older vital-signs version stays hidden', async () => {
    const admin = await as('system/*.cruds');
    const id = (await admin.post('/fhir/Observation', observation('vital-signs'))).body.id as string;
    await admin.put(`/fhir/Observation/${id}`, observation('laboratory', { id }));
    const client = await as(LAB_SCOPE);
    expect((await client.get(`/fhir/Observation/${id}`)).status).toBe(200);
    expect((await client.get(`/fhir/Observation/${id}/_history/2`)).status).toBe(200);
    expectConstraintNotMet(await client.get(`/fhir/Observation/${id}/_history/1`));
  });

  it('does not reach other types', async () => {
    const client = await as(LAB_SCOPE);
    expectInsufficientScope(await client.get('/fhir/Patient'), 'system/Patient.s');
  });
});

describe('combining scopes', () => {
  it('several constrained scopes are OR-ed: labs or heart rates', async () => {
    const client = await as(`${LAB_SCOPE} system/Observation.rs?code=http://loinc.org|8867-4`);
    const res = await client.get('/fhir/Observation?_count=100');
    const categories = new Set(
      (res.body.entry as Array<{ resource: { category: Array<{ coding: Array<{ code: string }> }> } }>).map(
        (e) => e.resource.category[0]?.coding[0]?.code,
      ),
    );
    expect(categories).toEqual(new Set(['laboratory', 'vital-signs']));
    expect((await client.get('/fhir/Observation/vital-1')).status).toBe(200);
  });

  it('constraints within one scope are AND-ed: final laboratory results only', async () => {
    const client = await as(`${LAB_SCOPE}&status=final`);
    const res = await client.get('/fhir/Observation?_id=lab-1,lab-2,lab-amended,vital-1');
    expect(ids(res.body)).toEqual(['lab-1', 'lab-2']);
    expectConstraintNotMet(await client.get('/fhir/Observation/lab-amended'));
  });

  it('an unconstrained scope next to a constrained one leaves the type unrestricted', async () => {
    const client = await as(`${LAB_SCOPE} system/Observation.read`);
    expect((await client.get('/fhir/Observation/vital-1')).status).toBe(200);
  });

  it('a reference constraint limits to one patient', async () => {
    const client = await as('system/Observation.rs?patient=Patient/p2');
    const res = await client.get('/fhir/Observation');
    expect(ids(res.body)).toEqual(['lab-2', 'vital-2']);
    expectConstraintNotMet(await client.get('/fhir/Observation/lab-1'));
  });

  it('a reference constraint is not met by the same Type/id on another server', async () => {
    const client = await as('system/Observation.cruds?patient=Patient/p2');
    const foreign = (reference: string) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference },
    });
    expectConstraintNotMet(
      await client.post('/fhir/Observation', foreign('https://evil.example/fhir/Patient/p2')),
    );
    expect((await client.post('/fhir/Observation', foreign('Patient/p2'))).status).toBe(201);
    expect((await client.post('/fhir/Observation', foreign('Patient/p2/_history/1'))).status).toBe(201);
    // Our own base, written absolutely, is stored relative and so is local.
    const own = await client.post('/fhir/Observation', foreign(`${FHIR_BASE}/Patient/p2`));
    expect(own.status).toBe(201);
    expect(own.body.subject).toEqual({ reference: 'Patient/p2' });
  });

  it('wildcard constraints on common parameters apply to every type', async () => {
    const recent = await as('system/*.rs?_lastUpdated=ge2000-01-01');
    expect((await recent.get('/fhir/Patient/p1')).status).toBe(200);
    const ancient = await as('system/*.rs?_lastUpdated=lt2000-01-01');
    expect((await ancient.get('/fhir/Patient')).body.total).toBe(0);
    expectConstraintNotMet(await ancient.get('/fhir/Patient/p1'));
  });
});
