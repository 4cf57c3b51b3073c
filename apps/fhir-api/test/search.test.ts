import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { COMMON_SEARCH_PARAMETERS, SEARCH_PARAMETERS } from '@smart-backend/protocol';
import { SEARCH_LIMITS } from '../src/index.js';
import { unindexedParameters } from '../src/search/index-entries.js';
import { FHIR_BASE, startTestApi, type TestApi } from './support/test-api.js';

// FHIR R4 search (http://hl7.org/fhir/R4/search.html) for exactly the parameters in protocol
// SEARCH_PARAMETERS + COMMON_SEARCH_PARAMETERS.
let api: TestApi;
let token: string;

const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

const fixtures = [
  {
    resourceType: 'Patient',
    id: 'pa',
    name: [{ family: 'Müller', given: ['Anna', 'Maria'], prefix: ['Dr.'], text: 'Dr. Anna Maria Müller' }],
    gender: 'female',
    birthDate: '1980-05-12',
    identifier: [
      { system: 'urn:mrn', value: '001' },
      { system: 'urn:ssn', value: '999' },
    ],
  },
  {
    resourceType: 'Patient',
    id: 'pb',
    name: [{ family: 'Smith', given: ['John'] }],
    gender: 'male',
    birthDate: '1975',
    identifier: [{ value: '002' }],
  },
  {
    resourceType: 'Patient',
    id: 'pc',
    name: [{ family: 'Smithson', given: ['Jane'], suffix: ['Jr'] }],
    gender: 'female',
    birthDate: '2001-02',
    identifier: [{ system: 'urn:mrn', value: '003' }],
  },
  {
    resourceType: 'Observation',
    id: 'o1',
    status: 'final',
    category: [{ coding: [{ system: CATEGORY, code: 'laboratory' }] }],
    code: { coding: [{ system: LOINC, code: '2345-7' }] },
    subject: { reference: 'Patient/pa' },
    effectiveDateTime: '2024-01-15T10:00:00Z',
  },
  {
    resourceType: 'Observation',
    id: 'o2',
    status: 'preliminary',
    category: [{ coding: [{ system: CATEGORY, code: 'vital-signs' }] }],
    code: { coding: [{ system: LOINC, code: '8867-4' }] },
    subject: { reference: 'Patient/pa' },
    effectivePeriod: { start: '2024-02-01', end: '2024-02-03' },
  },
  {
    resourceType: 'Observation',
    id: 'o3',
    status: 'final',
    category: [{ coding: [{ system: CATEGORY, code: 'laboratory' }] }],
    code: {
      coding: [
        { system: LOINC, code: '718-7' },
        { system: 'urn:local', code: 'HGB' },
      ],
    },
    subject: { reference: 'Patient/pb' },
    effectiveDateTime: '2023-12-31',
  },
  {
    resourceType: 'Observation',
    id: 'o4',
    status: 'final',
    category: [{ coding: [{ system: CATEGORY, code: 'laboratory' }] }],
    code: { coding: [{ system: LOINC, code: '2160-0' }] },
    subject: { reference: 'Group/g1' },
    effectiveDateTime: '2024-06',
  },
  {
    resourceType: 'Condition',
    id: 'c1',
    clinicalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
    },
    category: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' },
        ],
      },
    ],
    code: { coding: [{ system: SNOMED, code: '44054006' }] },
    subject: { reference: 'Patient/pa' },
  },
  {
    resourceType: 'Condition',
    id: 'c2',
    clinicalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'resolved' }],
    },
    code: { coding: [{ system: SNOMED, code: '38341003' }] },
    subject: { reference: 'Patient/pb/_history/1' },
  },
  {
    resourceType: 'Encounter',
    id: 'e1',
    status: 'finished',
    class: { system: ACT, code: 'AMB' },
    type: [{ coding: [{ system: SNOMED, code: '185349003' }] }],
    subject: { reference: 'Patient/pa' },
    period: { start: '2024-01-15T09:00:00Z', end: '2024-01-15T10:00:00Z' },
  },
  {
    resourceType: 'Encounter',
    id: 'e2',
    status: 'in-progress',
    class: { system: ACT, code: 'EMER' },
    type: [{ coding: [{ system: SNOMED, code: '50849002' }] }],
    subject: { reference: 'Patient/pb' },
    period: { start: '2024-03-01T08:00:00Z' },
  },
];

beforeAll(async () => {
  api = await startTestApi();
  token = await api.token('system/*.cruds');
  await api.store.createIfAbsent(fixtures as never);
});
afterAll(async () => {
  await api.close();
});

const get = (path: string) => api.http().get(path).set('Authorization', `Bearer ${token}`);

async function idsOf(path: string): Promise<string[]> {
  const res = await get(path);
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return ((res.body.entry ?? []) as Array<{ resource: { id: string } }>).map((e) => e.resource.id).sort();
}

it('every protocol search parameter is indexed (or an alias of one)', () => {
  expect(unindexedParameters()).toEqual([]);
  expect(Object.keys(COMMON_SEARCH_PARAMETERS)).toEqual(['_id', '_lastUpdated']);
});

const cases: Array<[query: string, expected: string[]]> = [
  // Patient string parameters: case- and accent-insensitive starts-with on any name part.
  ['/fhir/Patient?name=mull', ['pa']],
  ['/fhir/Patient?name=MÜLL', ['pa']],
  ['/fhir/Patient?name=anna', ['pa']],
  ['/fhir/Patient?name=maria', ['pa']],
  ['/fhir/Patient?name=dr', ['pa']],
  ['/fhir/Patient?name=Dr.%20Anna', ['pa']],
  ['/fhir/Patient?name=jr', ['pc']],
  ['/fhir/Patient?name=smith', ['pb', 'pc']],
  ['/fhir/Patient?name=ith', []],
  ['/fhir/Patient?name:exact=Smith', ['pb']],
  ['/fhir/Patient?name:exact=smith', []],
  ['/fhir/Patient?name:contains=ith', ['pb', 'pc']],
  ['/fhir/Patient?name=smith,anna', ['pa', 'pb', 'pc']],
  ['/fhir/Patient?name=smith&name=jane', ['pc']],
  ['/fhir/Patient?family=smith', ['pb', 'pc']],
  ['/fhir/Patient?family=anna', []],
  ['/fhir/Patient?given=jo', ['pb']],
  ['/fhir/Patient?given=ja', ['pc']],
  // Patient tokens.
  ['/fhir/Patient?gender=female', ['pa', 'pc']],
  ['/fhir/Patient?gender=http://hl7.org/fhir/administrative-gender|male', ['pb']],
  ['/fhir/Patient?gender=other', []],
  ['/fhir/Patient?identifier=001', ['pa']],
  ['/fhir/Patient?identifier=urn:mrn|003', ['pc']],
  ['/fhir/Patient?identifier=urn:mrn|', ['pa', 'pc']],
  ['/fhir/Patient?identifier=|002', ['pb']],
  ['/fhir/Patient?identifier=|001', []],
  ['/fhir/Patient?identifier=urn:ssn|001', []],
  ['/fhir/Patient?identifier=urn:ssn|999', ['pa']],
  // Patient birthdate: every prefix (search §3.1.1.5.7: the resource range against the value's range).
  ['/fhir/Patient?birthdate=1980', ['pa']],
  ['/fhir/Patient?birthdate=1980-05', ['pa']],
  ['/fhir/Patient?birthdate=1980-05-12', ['pa']],
  ['/fhir/Patient?birthdate=eq1980-05-13', []],
  ['/fhir/Patient?birthdate=ne1980-05-12', ['pb', 'pc']],
  ['/fhir/Patient?birthdate=lt1980', ['pb']],
  ['/fhir/Patient?birthdate=gt2000', ['pc']],
  ['/fhir/Patient?birthdate=ge1980-05-12', ['pa', 'pc']],
  ['/fhir/Patient?birthdate=le1980-05-12', ['pa', 'pb']],
  ['/fhir/Patient?birthdate=sa1990', ['pc']],
  ['/fhir/Patient?birthdate=eb1976', ['pb']],
  // ap: overlap after widening by 10 % of the distance from now (so 2002-01-01 reaches February 2001).
  ['/fhir/Patient?birthdate=ap2002-01-01', ['pc']],
  ['/fhir/Patient?birthdate=eq2002-01-01', []],
  ['/fhir/Patient?birthdate=ge1970&birthdate=lt1990', ['pa', 'pb']],
  ['/fhir/Patient?birthdate=1975,2001', ['pb', 'pc']],
  // Common parameters.
  ['/fhir/Patient?_id=pa,pb', ['pa', 'pb']],
  ['/fhir/Patient?_id=nope', []],
  ['/fhir/Patient?_lastUpdated=ge2000-01-01', ['pa', 'pb', 'pc']],
  ['/fhir/Patient?_lastUpdated=lt2000-01-01', []],
  ['/fhir/Patient?_lastUpdated=gt2999-01-01T00:00:00Z', []],
  ['/fhir/Observation?_id=o1&status=final', ['o1']],
  // Observation references: Patient/123 or 123; patient = subject restricted to Patient.
  ['/fhir/Observation?subject=Patient/pa', ['o1', 'o2']],
  ['/fhir/Observation?subject=pa', ['o1', 'o2']],
  ['/fhir/Observation?patient=pb', ['o3']],
  ['/fhir/Observation?patient=Patient/pb', ['o3']],
  ['/fhir/Observation?patient=g1', []],
  ['/fhir/Observation?subject=Group/g1', ['o4']],
  ['/fhir/Observation?subject=g1', ['o4']],
  ['/fhir/Observation?subject=Patient/g1', []],
  // Observation tokens: code, system|code, |code, system|.
  ['/fhir/Observation?category=laboratory', ['o1', 'o3', 'o4']],
  [`/fhir/Observation?category=${CATEGORY}|vital-signs`, ['o2']],
  [`/fhir/Observation?code=${LOINC}|718-7`, ['o3']],
  ['/fhir/Observation?code=HGB', ['o3']],
  ['/fhir/Observation?code=urn:local|HGB', ['o3']],
  [`/fhir/Observation?code=${LOINC}|HGB`, []],
  [`/fhir/Observation?code=${LOINC}|`, ['o1', 'o2', 'o3', 'o4']],
  ['/fhir/Observation?code=|2345-7', []],
  ['/fhir/Observation?code=2345-7,8867-4', ['o1', 'o2']],
  ['/fhir/Observation?status=final', ['o1', 'o3', 'o4']],
  ['/fhir/Observation?status=preliminary', ['o2']],
  // Observation date = effective[x].
  ['/fhir/Observation?date=2024-01-15', ['o1']],
  ['/fhir/Observation?date=2024-01-15T10:00:00Z', ['o1']],
  ['/fhir/Observation?date=2024-02', ['o2']],
  ['/fhir/Observation?date=2024-02-02', []],
  ['/fhir/Observation?date=ge2024-02-02', ['o2', 'o4']],
  ['/fhir/Observation?date=lt2024', ['o3']],
  ['/fhir/Observation?date=le2023-12-31', ['o3']],
  ['/fhir/Observation?date=sa2024-01-31', ['o2', 'o4']],
  ['/fhir/Observation?date=eb2024-01-01', ['o3']],
  ['/fhir/Observation?date=2023', ['o3']],
  ['/fhir/Observation?date=gt2024-01-15T09:59:00%2B01:00', ['o1', 'o2', 'o4']],
  ['/fhir/Observation?patient=pa&category=laboratory&date=2024', ['o1']],
  // Condition: status is an alias of clinical-status.
  ['/fhir/Condition?code=44054006', ['c1']],
  [`/fhir/Condition?code=${SNOMED}|38341003`, ['c2']],
  ['/fhir/Condition?patient=pa', ['c1']],
  ['/fhir/Condition?subject=Patient/pb', ['c2']],
  ['/fhir/Condition?clinical-status=active', ['c1']],
  ['/fhir/Condition?status=resolved', ['c2']],
  ['/fhir/Condition?category=problem-list-item', ['c1']],
  // Encounter: code is an alias of type; date = period (an open end is ongoing).
  ['/fhir/Encounter?type=185349003', ['e1']],
  ['/fhir/Encounter?code=50849002', ['e2']],
  ['/fhir/Encounter?class=AMB', ['e1']],
  [`/fhir/Encounter?class=${ACT}|EMER`, ['e2']],
  ['/fhir/Encounter?status=in-progress', ['e2']],
  ['/fhir/Encounter?date=2024-01-15', ['e1']],
  ['/fhir/Encounter?date=ge2025', ['e2']],
  ['/fhir/Encounter?date=2024-03', []],
  ['/fhir/Encounter?patient=pb', ['e2']],
  ['/fhir/Encounter?subject=Patient/pa', ['e1']],
];

describe('search parameters', () => {
  it.each(cases)('%s', async (query, expected) => {
    expect(await idsOf(query)).toEqual(expected);
  });

  it('covers every parameter of every type in the protocol table', () => {
    const used = new Set(
      cases.flatMap(([query]) => {
        const url = new URL(query, 'http://x');
        const type = url.pathname.split('/')[2] ?? '';
        return [...url.searchParams.keys()].map((name) => `${type}.${name.split(':')[0]}`);
      }),
    );
    const all = Object.entries(SEARCH_PARAMETERS).flatMap(([type, params]) =>
      [...Object.keys(params), ...Object.keys(COMMON_SEARCH_PARAMETERS)].map((name) => `${type}.${name}`),
    );
    const missing = all.filter(
      (p) =>
        !used.has(p) &&
        ![
          'Condition._lastUpdated',
          'Encounter._lastUpdated',
          'Condition._id',
          'Encounter._id',
          'Observation._lastUpdated',
        ].includes(p),
    );
    expect(missing).toEqual([]);
  });

  it('POST [type]/_search with a form body and GET [type]/_search search the same way', async () => {
    const posted = await api
      .http()
      .post('/fhir/Patient/_search')
      .set('Authorization', `Bearer ${token}`)
      .type('form')
      .send('name=smith');
    expect(posted.status).toBe(200);
    expect(posted.body.total).toBe(2);
    expect(await idsOf('/fhir/Patient/_search?name=smith')).toEqual(['pb', 'pc']);
    const combined = await api
      .http()
      .post('/fhir/Patient/_search?gender=female')
      .set('Authorization', `Bearer ${token}`)
      .type('form')
      .send('name=smith');
    expect(combined.body.total).toBe(1);
    const wrongType = await api
      .http()
      .post('/fhir/Patient/_search')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/json')
      .send('{"name":"smith"}');
    expect(wrongType.status).toBe(415);
  });
});

describe('search limits: every accepted search runs; larger ones are 400 too-costly', () => {
  const expectTooComplex = (
    res: { status: number; body: { issue: Array<{ code: string; diagnostics: string }> } },
    limit: number,
  ) => {
    expect(res.status).toBe(400);
    expect(res.body.issue[0]?.code).toBe('too-costly');
    expect(res.body.issue[0]?.diagnostics).toMatch(/^fhir\.search_too_complex: /);
    expect(res.body.issue[0]?.diagnostics).toContain(String(limit));
  };
  const repeat = (n: number, make: (i: number) => string) =>
    Array.from({ length: n }, (_, i) => make(i)).join('&');

  it('1,000 criteria (once an SQLite "Expression tree is too large" 500)', async () => {
    expectTooComplex(await get(`/fhir/Patient?${repeat(1000, () => '_id=a')}`), SEARCH_LIMITS.parameters);
  });

  it(`${SEARCH_LIMITS.parameters} parameters with ${SEARCH_LIMITS.values} values, under a constrained scope, run`, async () => {
    const values = (n: number, make: (i: number) => string) =>
      Array.from({ length: n }, (_, i) => make(i)).join(',');
    const perParameter = Math.floor(SEARCH_LIMITS.values / SEARCH_LIMITS.parameters);
    const rest = SEARCH_LIMITS.values - perParameter * (SEARCH_LIMITS.parameters - 1);
    const query = [
      ...Array.from(
        { length: SEARCH_LIMITS.parameters - 1 },
        () => `date=${values(perParameter, (i) => `ap2024-01-${String((i % 28) + 1).padStart(2, '0')}`)}`,
      ),
      `code=${values(rest - 1, (i) => `${LOINC}|x${i}`)},${LOINC}|2345-7`,
    ].join('&');
    expect(query.length).toBeLessThanOrEqual(SEARCH_LIMITS.queryLength);
    const constrained = await api.token(`system/Observation.rs?category=${CATEGORY}|laboratory&status=final`);
    const res = await api
      .http()
      .get(`/fhir/Observation?${query}`)
      .set('Authorization', `Bearer ${constrained}`);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(1);
  });

  it(`${SEARCH_LIMITS.parameters + 1} parameters, or ${SEARCH_LIMITS.values + 1} values`, async () => {
    expectTooComplex(
      await get(`/fhir/Patient?${repeat(SEARCH_LIMITS.parameters + 1, () => 'gender=female')}`),
      SEARCH_LIMITS.parameters,
    );
    const tooMany = Array.from({ length: SEARCH_LIMITS.values + 1 }, (_, i) => String(i)).join(',');
    expectTooComplex(await get(`/fhir/Patient?identifier=${tooMany}`), SEARCH_LIMITS.values);
    // Result parameters count as parameters too, and lenient handling does not lift the limit.
    const lenient = await get(
      `/fhir/Patient?${repeat(SEARCH_LIMITS.parameters + 1, (i) => `unknown${i}=x`)}`,
    ).set('Prefer', 'handling=lenient');
    expectTooComplex(lenient, SEARCH_LIMITS.parameters);
  });

  it(`a query (or query plus _search form) longer than ${SEARCH_LIMITS.queryLength} characters`, async () => {
    const long = `family=${'a'.repeat(SEARCH_LIMITS.queryLength - 'family='.length + 1)}`;
    expectTooComplex(await get(`/fhir/Patient?${long}`), SEARCH_LIMITS.queryLength);
    const half = `family=${'a'.repeat(SEARCH_LIMITS.queryLength / 2)}`;
    const form = await api
      .http()
      .post(`/fhir/Patient/_search?${half}`)
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send(half);
    expectTooComplex(form, SEARCH_LIMITS.queryLength);
  });
});

describe('dates in the first century', () => {
  it('years 0001-0099 are read as written, both stored and searched (not as 1901-1999)', async () => {
    const put = await api
      .http()
      .put('/fhir/Patient/ancient')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Patient', id: 'ancient', birthDate: '0050-06-01' });
    expect(put.status).toBe(201);
    try {
      expect(await idsOf('/fhir/Patient?_id=ancient&birthdate=1950')).toEqual([]);
      expect(await idsOf('/fhir/Patient?_id=ancient&birthdate=1950-06-01')).toEqual([]);
      expect(await idsOf('/fhir/Patient?_id=ancient&birthdate=0050')).toEqual(['ancient']);
      expect(await idsOf('/fhir/Patient?_id=ancient&birthdate=lt0051')).toEqual(['ancient']);
      expect(await idsOf('/fhir/Patient?_id=ancient&birthdate=gt1000')).toEqual([]);
      const zero = await get('/fhir/Patient?birthdate=0000');
      expect(zero.status).toBe(400);
      expect(zero.body.issue[0].diagnostics).toMatch(/^fhir\.invalid_search_value: /);
    } finally {
      await api.http().delete('/fhir/Patient/ancient').set('Authorization', `Bearer ${token}`);
    }
  });
});

describe('search parameters the server does not support, and bad values', () => {
  it.each([
    '/fhir/Patient?nickname=x',
    '/fhir/Patient?name:text=x',
    '/fhir/Observation?code:in=http://vs',
    '/fhir/Observation?patient.name=x',
    '/fhir/Patient?_sort=name',
    '/fhir/Basic?name=x',
  ])('%s: 400 fhir.unsupported_search_parameter', async (query) => {
    const res = await get(query);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(res.body.issue[0]).toMatchObject({ code: 'not-supported' });
    expect(res.body.issue[0].diagnostics).toMatch(/^fhir\.unsupported_search_parameter: /);
  });

  it('Prefer: handling=lenient ignores them, and the self link leaves them out', async () => {
    const res = await get('/fhir/Patient?nickname=x&gender=male').set('Prefer', 'handling=lenient');
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(1);
    const self = (res.body.link as Array<{ relation: string; url: string }>).find(
      (l) => l.relation === 'self',
    );
    expect(self?.url).toBe(`${FHIR_BASE}/Patient?gender=male&_count=20`);
  });

  it.each([
    '/fhir/Patient?birthdate=yesterday',
    '/fhir/Patient?birthdate=2024-13-01',
    '/fhir/Patient?birthdate=xx2024',
    '/fhir/Observation?patient=Patient/%24%24',
    '/fhir/Observation?subject=a/b/c/d%20e',
    '/fhir/Patient?name=a,,b',
    '/fhir/Patient?_count=-1',
    '/fhir/Patient?_count=abc',
    '/fhir/Patient?_count=5&_count=6',
    '/fhir/Patient?_offset=x',
    '/fhir/Patient?_total=maybe',
    `/fhir/Patient?name=${'x'.repeat(1100)}`,
  ])('%s: 400 fhir.invalid_search_value', async (query) => {
    const res = await get(query);
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/^fhir\.invalid_search_value: /);
  });

  it('even lenient handling refuses bad values', async () => {
    const res = await get('/fhir/Patient?birthdate=yesterday').set('Prefer', 'handling=lenient');
    expect(res.status).toBe(400);
  });

  it('tolerates _format and _pretty, and ignores empty parameters', async () => {
    expect(await idsOf('/fhir/Patient?_format=json&_pretty=true&gender=male')).toEqual(['pb']);
    expect(await idsOf('/fhir/Patient?name=&gender=male')).toEqual(['pb']);
  });
});

describe('searchset Bundle and paging', () => {
  beforeAll(async () => {
    await api.store.createIfAbsent(
      Array.from({ length: 7 }, (_, i) => ({
        resourceType: 'Practitioner',
        id: `pr-${i + 1}`,
        name: [{ family: i % 2 ? 'Pager' : 'Pagerson' }],
      })) as never,
    );
  });

  type Link = { relation: string; url: string };
  const link = (body: { link: Link[] }, relation: string) =>
    body.link.find((l) => l.relation === relation)?.url;
  const follow = (url: string) => get(url.slice(FHIR_BASE.length - '/fhir'.length));

  it('has type searchset, total, fullUrl and search.mode match', async () => {
    const res = await get('/fhir/Practitioner?_count=3');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 7 });
    expect(res.body.entry).toHaveLength(3);
    expect(res.body.entry[0]).toEqual({
      fullUrl: `${FHIR_BASE}/Practitioner/pr-1`,
      resource: expect.objectContaining({ resourceType: 'Practitioner', id: 'pr-1' }),
      search: { mode: 'match' },
    });
  });

  it('self / next / previous links carry the query and an offset, and walk all pages', async () => {
    const first = await get('/fhir/Practitioner?_lastUpdated=ge2000-01-01&_count=3');
    expect(first.body.total).toBe(7);
    expect(link(first.body, 'self')).toBe(`${FHIR_BASE}/Practitioner?_lastUpdated=ge2000-01-01&_count=3`);
    expect(link(first.body, 'next')).toBe(
      `${FHIR_BASE}/Practitioner?_lastUpdated=ge2000-01-01&_count=3&_offset=3`,
    );
    expect(link(first.body, 'previous')).toBeUndefined();

    const second = await follow(link(first.body, 'next') ?? '');
    expect(second.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([
      'pr-4',
      'pr-5',
      'pr-6',
    ]);
    expect(link(second.body, 'previous')).toBe(
      `${FHIR_BASE}/Practitioner?_lastUpdated=ge2000-01-01&_count=3`,
    );
    const third = await follow(link(second.body, 'next') ?? '');
    expect(third.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual(['pr-7']);
    expect(link(third.body, 'next')).toBeUndefined();
    expect(link(third.body, 'previous')).toBe(
      `${FHIR_BASE}/Practitioner?_lastUpdated=ge2000-01-01&_count=3&_offset=3`,
    );
  });

  it('defaults to 20 per page and caps _count at 500', async () => {
    expect(link((await get('/fhir/Practitioner')).body, 'self')).toBe(`${FHIR_BASE}/Practitioner?_count=20`);
    expect(link((await get('/fhir/Practitioner?_count=100000')).body, 'self')).toBe(
      `${FHIR_BASE}/Practitioner?_count=500`,
    );
  });

  it('_count=0 answers the total only; _total=none answers without a total', async () => {
    const count = await get('/fhir/Practitioner?_count=0');
    expect(count.body.total).toBe(7);
    expect(count.body.entry).toBeUndefined();
    // No next link: it would be this very page again, and a pager would loop forever.
    expect(link(count.body, 'next')).toBeUndefined();
    const none = await get('/fhir/Practitioner?_count=3&_total=none');
    expect(none.body.total).toBeUndefined();
    expect(link(none.body, 'next')).toBe(`${FHIR_BASE}/Practitioner?_total=none&_count=3&_offset=3`);
  });

  it('a page past the end is empty, with a previous link', async () => {
    const res = await get('/fhir/Practitioner?_count=3&_offset=30');
    expect(res.body.total).toBe(7);
    expect(res.body.entry).toBeUndefined();
    expect(link(res.body, 'previous')).toBeDefined();
  });
});
