import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseSearchCriterion } from '@smart-backend/protocol';
import type { FhirResource } from '../src/search/criteria.js';
import { FHIR_JSON, observation, patient, startTestApi, type TestApi } from './support/test-api.js';

/**
 * What is indexed and checked is exactly what is stored, whatever the JSON member names.
 *
 * Copying client JSON member by member into `{}` (`out[key] = value`) turns a `"__proto__"` member
 * into the object's prototype: a reader then sees its content as inherited members, while
 * `JSON.stringify` writes only own members. Before the fix, a client limited to laboratory
 * Observations stored a vital-signs Observation by hiding a laboratory category under `__proto__`,
 * and searches matched content that was never stored.
 *
 * `__proto__` is never a FHIR element name (FHIR R4 JSON §2.6.2: names are element names, which
 * start with a letter), so a body carrying it anywhere is refused. `constructor` and `prototype`
 * are ordinary members: stored as sent and, not being elements, never indexed.
 *
 * Each case is a field the search index and the scope constraints read, with decoy content placed
 * under the hostile name at a different depth. The bodies are written as JSON text, since an
 * object literal cannot produce an own `__proto__` member.
 */

const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const LAB_CODING = `{"system":"${CATEGORY}","code":"laboratory"}`;
const VITAL_CATEGORY = `{"coding":[{"system":"${CATEGORY}","code":"vital-signs"}]}`;
const HOSTILE_NAMES = ['__proto__', 'constructor', 'prototype'] as const;

interface Case {
  readonly what: string;
  readonly type: 'Observation' | 'Patient';
  /** The resource body as JSON text; `$` is replaced by the hostile member name. */
  readonly body: string;
  /** A search that matches only the decoy content. */
  readonly decoySearch: string;
  /** A search that matches what is stored. */
  readonly storedSearch: string;
}

const observationText = (members: string) =>
  `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},${members}}`;

const CASES: readonly Case[] = [
  {
    what: 'a category element',
    type: 'Observation',
    body: observationText(
      `"subject":{"reference":"Patient/p1"},"category":[{"$":{"coding":[${LAB_CODING}]}},${VITAL_CATEGORY}]`,
    ),
    decoySearch: 'category=laboratory',
    storedSearch: 'category=vital-signs',
  },
  {
    what: 'a coding inside a category',
    type: 'Observation',
    body: observationText(
      `"subject":{"reference":"Patient/p1"},"category":[{"coding":[{"$":${LAB_CODING},"system":"${CATEGORY}","code":"vital-signs"}]}]`,
    ),
    decoySearch: 'category=laboratory',
    storedSearch: 'category=vital-signs',
  },
  {
    what: 'the resource root (category)',
    type: 'Observation',
    body: observationText(
      `"subject":{"reference":"Patient/p1"},"$":{"category":[{"coding":[${LAB_CODING}]}]},"category":[${VITAL_CATEGORY}]`,
    ),
    decoySearch: 'category=laboratory',
    storedSearch: 'category=vital-signs',
  },
  {
    what: 'the subject reference',
    type: 'Observation',
    body: observationText(`"category":[${VITAL_CATEGORY}],"subject":{"$":{"reference":"Patient/p2"}}`),
    decoySearch: 'subject=Patient/p2',
    storedSearch: 'category=vital-signs',
  },
  {
    what: 'an effective date',
    type: 'Observation',
    body: observationText(
      `"category":[${VITAL_CATEGORY}],"subject":{"reference":"Patient/p1"},"effectivePeriod":{"$":{"start":"1901-01-01"}}`,
    ),
    decoySearch: 'date=1901',
    storedSearch: 'category=vital-signs',
  },
  {
    what: 'a name',
    type: 'Patient',
    body: `{"resourceType":"Patient","name":[{"$":{"family":"Decoyfamily"},"family":"Storedfamily"}]}`,
    decoySearch: 'family=Decoyfamily',
    storedSearch: 'family=Storedfamily',
  },
  {
    what: 'an identifier',
    type: 'Patient',
    body: `{"resourceType":"Patient","identifier":[{"$":{"system":"urn:decoy","value":"d-1"}}],"name":[{"family":"Withidentifier"}]}`,
    decoySearch: 'identifier=urn:decoy|d-1',
    storedSearch: 'family=Withidentifier',
  },
  {
    what: 'a hostile member inside another',
    type: 'Observation',
    body: observationText(
      `"subject":{"reference":"Patient/p1"},"category":[{"$":{"$":{"coding":[${LAB_CODING}]}}},${VITAL_CATEGORY}]`,
    ),
    decoySearch: 'category=laboratory',
    storedSearch: 'category=vital-signs',
  },
];

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
  await api.store.createIfAbsent([
    { ...patient('One'), id: 'p1' } as never,
    { ...patient('Two'), id: 'p2' } as never,
  ]);
});
afterAll(async () => {
  await api.close();
});

function send(method: 'post' | 'put', path: string, token: string, text: string) {
  const http = api.http();
  return (method === 'post' ? http.post(path) : http.put(path))
    .set('Authorization', `Bearer ${token}`)
    .set('Content-Type', FHIR_JSON)
    .send(text);
}

async function searchIds(token: string, type: string, query: string): Promise<string[]> {
  const res = await api.http().get(`/fhir/${type}?${query}`).set('Authorization', `Bearer ${token}`);
  expect(res.status).toBe(200);
  return ((res.body as { entry?: Array<{ resource: { id: string } }> }).entry ?? []).map(
    (e) => e.resource.id,
  );
}

describe.each(HOSTILE_NAMES)('a "%s" member in a FHIR body', (name) => {
  it.each(CASES)('hidden in $what: never indexed, never satisfies a constraint', async (c) => {
    const body = c.body.replaceAll('"$"', JSON.stringify(name));
    const all = await api.token('system/*.cruds');
    const created = await send('post', `/fhir/${c.type}`, all, body);
    if (name === '__proto__') {
      expect(created.status).toBe(400);
      expect(created.body.issue[0].diagnostics).toMatch(/^fhir\.invalid_resource: .*__proto__/);
      expect(await searchIds(all, c.type, c.decoySearch)).toEqual([]);
      return;
    }
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    // Stored exactly as sent: the member is there, as an own member with its content.
    const stored = await api.http().get(`/fhir/${c.type}/${id}`).set('Authorization', `Bearer ${all}`);
    expect(stored.text).toContain(`${JSON.stringify(name)}:`);
    // Indexed exactly as stored: the real content is found, the decoy is not.
    expect(await searchIds(all, c.type, c.storedSearch)).toContain(id);
    expect(await searchIds(all, c.type, c.decoySearch)).not.toContain(id);
  });

  it('cannot make a laboratory-only client store a vital-signs Observation (create and update)', async () => {
    const body = CASES[0]!.body.replaceAll('"$"', JSON.stringify(name));
    const lab = await api.token(`system/Observation.cruds?category=${CATEGORY}|laboratory`);
    const created = await send('post', '/fhir/Observation', lab, body);
    expect(created.status).toBe(name === '__proto__' ? 400 : 403);

    const labBody = JSON.stringify(observation('laboratory'));
    const own = await send('post', '/fhir/Observation', lab, labBody);
    expect(own.status).toBe(201);
    const id = own.body.id as string;
    const update = body.replace(
      '{"resourceType":"Observation",',
      `{"resourceType":"Observation","id":"${id}",`,
    );
    expect((await send('put', `/fhir/Observation/${id}`, lab, update)).status).toBe(
      name === '__proto__' ? 400 : 403,
    );
  });

  it('cannot make a Patient/p1-only client store an Observation about Patient/p2', async () => {
    const body = CASES[3]!.body.replaceAll('"$"', JSON.stringify(name));
    const p1 = await api.token('system/Observation.cruds?subject=Patient/p1');
    const created = await send('post', '/fhir/Observation', p1, body);
    expect(created.status).toBe(name === '__proto__' ? 400 : 403);
  });
});

describe('the store indexes the text it stores', () => {
  it('content reachable only through a prototype is neither stored, indexed nor checked', async () => {
    const parsed = parseSearchCriterion('Observation', 'category', `${CATEGORY}|laboratory`);
    if (!parsed.ok) throw new Error(parsed.message);
    const labOnly = [[parsed.criterion]];
    const hidden: object = Object.create({ coding: [{ system: CATEGORY, code: 'laboratory' }] });
    const resource = {
      ...observation('vital-signs'),
      category: [hidden, { coding: [{ system: CATEGORY, code: 'vital-signs' }] }],
    } as unknown as FhirResource;

    expect(await api.store.create('Observation', resource, labOnly)).toEqual({
      kind: 'forbidden',
      which: 'new',
    });
    const created = await api.store.create('Observation', resource, null);
    if (created.kind !== 'created') throw new Error(created.kind);
    expect(created.resource.json).not.toContain('laboratory');
    const found = await api.store.search('Observation', {
      criteria: labOnly[0]!,
      access: null,
      count: 100,
      offset: 0,
      total: true,
    });
    expect(found.resources.map((r) => r.id)).not.toContain(created.resource.id);
  });
});
