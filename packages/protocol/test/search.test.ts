import { describe, expect, it } from '@jest/globals';
import { dateRange, parseSearchCriterion, searchParameterNames, searchParameterType } from '../src/index.js';

describe('search parameter table', () => {
  it('knows the common parameters for every type', () => {
    expect(searchParameterType('Device', '_id')).toBe('token');
    expect(searchParameterType('*', '_lastUpdated')).toBe('date');
    expect(searchParameterType('Patient', 'category')).toBeUndefined();
    expect(searchParameterType('Observation', 'constructor')).toBeUndefined();
    expect(searchParameterNames('Observation')).toEqual(
      expect.arrayContaining([
        '_id',
        '_lastUpdated',
        'subject',
        'patient',
        'category',
        'code',
        'date',
        'status',
      ]),
    );
  });
});

describe('parseSearchCriterion', () => {
  it('token: system|code, code, system| and |code', () => {
    const result = parseSearchCriterion(
      'Observation',
      'code',
      'http://loinc.org|718-7,8867-4,http://snomed.info/sct|,|abc',
    );
    expect(result).toEqual({
      ok: true,
      criterion: {
        name: 'code',
        type: 'token',
        values: [
          { system: 'http://loinc.org', code: '718-7' },
          { system: undefined, code: '8867-4' },
          { system: 'http://snomed.info/sct', code: undefined },
          { system: '', code: 'abc' },
        ],
      },
    });
  });

  it('token: escaped separators are literal', () => {
    const result = parseSearchCriterion('Patient', 'identifier', 'urn:sys|a\\,b\\|c');
    expect(result.ok && result.criterion.type === 'token' && result.criterion.values).toEqual([
      { system: 'urn:sys', code: 'a,b|c' },
    ]);
  });

  it('string with :exact and :contains', () => {
    expect(parseSearchCriterion('Patient', 'name:exact', 'Smith')).toMatchObject({
      ok: true,
      criterion: { type: 'string', modifier: 'exact', values: ['Smith'] },
    });
    expect(parseSearchCriterion('Patient', 'family:contains', 'mi,jo')).toMatchObject({
      ok: true,
      criterion: { modifier: 'contains', values: ['mi', 'jo'] },
    });
  });

  it('reference: Type/id, id, and absolute URLs', () => {
    const result = parseSearchCriterion(
      'Observation',
      'subject',
      'Patient/pat-1,pat-2,https://fhir.example/fhir/Patient/pat-3',
    );
    expect(result.ok && result.criterion.type === 'reference' && result.criterion.values).toEqual([
      { resourceType: 'Patient', id: 'pat-1' },
      { resourceType: undefined, id: 'pat-2' },
      { resourceType: 'Patient', id: 'pat-3' },
    ]);
  });

  it('date with prefixes and implicit ranges', () => {
    const result = parseSearchCriterion('Observation', 'date', 'ge2024-02,lt2024-03-01T10:00Z');
    expect(result.ok && result.criterion.type === 'date' && result.criterion.values).toEqual([
      { prefix: 'ge', start: Date.UTC(2024, 1, 1), end: Date.UTC(2024, 2, 1) },
      { prefix: 'lt', start: Date.UTC(2024, 2, 1, 10), end: Date.UTC(2024, 2, 1, 10, 1) },
    ]);
  });

  it.each([
    ['an unknown parameter', 'Patient', 'shoe-size', '42', 'unsupported_parameter'],
    ['a token modifier', 'Observation', 'code:text', 'glucose', 'unsupported_modifier'],
    ['chained modifiers', 'Patient', 'name:exact:contains', 'x', 'unsupported_modifier'],
    ['an empty value', 'Patient', 'gender', '', 'invalid_value'],
    ['an empty alternative', 'Patient', 'gender', 'male,', 'invalid_value'],
    ['a bad date', 'Patient', 'birthdate', '2024-13-01', 'invalid_value'],
    ['Feb 30', 'Patient', 'birthdate', '2023-02-30', 'invalid_value'],
    ['a bad reference id', 'Observation', 'patient', 'Patient/$$$', 'invalid_value'],
    ['an oversized value', 'Patient', 'name', 'x'.repeat(2000), 'invalid_value'],
  ])('refuses %s', (_t, type, name, value, problem) => {
    expect(parseSearchCriterion(type, name, value)).toMatchObject({ ok: false, problem });
  });
});

describe('dateRange: the implicit range of a FHIR date', () => {
  it.each([
    ['2024', Date.UTC(2024, 0, 1), Date.UTC(2025, 0, 1)],
    ['2024-02', Date.UTC(2024, 1, 1), Date.UTC(2024, 2, 1)],
    ['2024-02-29', Date.UTC(2024, 1, 29), Date.UTC(2024, 2, 1)],
    ['2024-02-29T10:30', Date.UTC(2024, 1, 29, 10, 30), Date.UTC(2024, 1, 29, 10, 31)],
    ['2024-02-29T10:30:15Z', Date.UTC(2024, 1, 29, 10, 30, 15), Date.UTC(2024, 1, 29, 10, 30, 16)],
    [
      '2024-02-29T10:30:15.250+02:00',
      Date.UTC(2024, 1, 29, 8, 30, 15, 250),
      Date.UTC(2024, 1, 29, 8, 30, 15, 251),
    ],
  ])('%s', (text, start, end) => {
    expect(dateRange(text)).toEqual({ start, end });
  });
  // Expected values from ISO 8601 parsing, which reads four-digit years as written.
  const iso = (text: string) => Date.parse(text);
  it.each([
    ['0001', iso('0001-01-01T00:00:00Z'), iso('0002-01-01T00:00:00Z')],
    ['0050-06-01', iso('0050-06-01T00:00:00Z'), iso('0050-06-02T00:00:00Z')],
    ['0099-12', iso('0099-12-01T00:00:00Z'), iso('0100-01-01T00:00:00Z')],
    ['0004-02-29', iso('0004-02-29T00:00:00Z'), iso('0004-03-01T00:00:00Z')],
    ['0050-06-01T12:00:00.5+01:00', iso('0050-06-01T11:00:00.500Z'), iso('0050-06-01T11:00:00.501Z')],
    ['9999-12-31', iso('9999-12-31T00:00:00Z'), iso('+010000-01-01T00:00:00Z')],
  ])('reads year %s as written, not as 19xx', (text, start, end) => {
    expect(dateRange(text)).toEqual({ start, end });
  });
  it.each([
    '24',
    '2024-1',
    '2024-02-29T25:00',
    'yesterday',
    '2024-02-29T10:30+15:00',
    '0000',
    '0000-06-01',
    '0100-02-29',
    '1900-02-29',
    '0001-02-29',
  ])('refuses %s', (text) => {
    expect(dateRange(text)).toBeUndefined();
  });
});
