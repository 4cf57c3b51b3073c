import { describe, expect, it } from '@jest/globals';
import { grantScopes } from '../src/index.js';

// SCP-08/09/10/11, BDT "Handles V1/V2 scopes", "Supports mixed v1 and v2 scopes", reference §2.6.
describe('grantScopes never grants more than registered', () => {
  const cases: Array<[title: string, requested: string, registered: string, granted: string]> = [
    ['exact match', 'system/Patient.rs', 'system/Patient.rs', 'system/Patient.rs'],
    [
      'a wildcard registration covers a specific request',
      'system/Patient.read',
      'system/*.rs',
      'system/Patient.read',
    ],
    [
      'a wildcard request is narrowed to what is registered',
      'system/*.rs',
      'system/Patient.rs system/Observation.r',
      'system/Patient.rs system/Observation.r',
    ],
    ['fewer letters than asked', 'system/Patient.cruds', 'system/*.rs', 'system/Patient.rs'],
    ['v1 answered in v1', 'system/*.read', 'system/*.cruds', 'system/*.read'],
    ['v1 * answered in v1', 'system/Patient.*', 'system/*.*', 'system/Patient.*'],
    ['v1 write narrowed to what v1 can say', 'system/*.*', 'system/*.rs', 'system/*.read'],
    [
      'v1 falls back to v2 when v1 cannot express the grant',
      'system/Patient.read',
      'system/Patient.r',
      'system/Patient.r',
    ],
    [
      'mixed v1 and v2 requests get both',
      'system/Patient.read system/Observation.rs',
      'system/*.cruds',
      'system/Patient.read system/Observation.rs',
    ],
    [
      'registered constraints travel with the grant',
      'system/Observation.rs',
      'system/Observation.rs?category=laboratory',
      'system/Observation.rs?category=laboratory',
    ],
    [
      'a v1 request against a constrained registration is answered in v2',
      'system/Observation.read',
      'system/Observation.rs?category=laboratory',
      'system/Observation.rs?category=laboratory',
    ],
    [
      'requested constraints are kept on an unconstrained registration',
      'system/Observation.rs?category=laboratory',
      'system/*.rs',
      'system/Observation.rs?category=laboratory',
    ],
    [
      'requested and registered constraints are combined (AND)',
      'system/Observation.rs?status=final',
      'system/Observation.rs?category=laboratory',
      'system/Observation.rs?status=final&category=laboratory',
    ],
    [
      'letters from two registrations are merged',
      'system/Patient.rs',
      'system/*.r system/Patient.s',
      'system/Patient.rs',
    ],
    [
      'a grant already covered by a broader one is not repeated',
      'system/*.rs',
      'system/*.rs system/Patient.r',
      'system/*.rs',
    ],
    [
      'duplicates are granted once',
      'system/Patient.rs system/Patient.rs',
      'system/*.rs',
      'system/Patient.rs',
    ],
    [
      'unconstrained and constrained registrations both apply',
      'system/Observation.rs',
      'system/Observation.rs?category=laboratory system/Observation.r',
      'system/Observation.rs?category=laboratory system/Observation.r',
    ],
  ];
  it.each(cases)('%s', (_title, requested, registered, granted) => {
    const result = grantScopes(requested, registered);
    expect(result.scope).toBe(granted);
    expect(result.dropped).toEqual([]);
  });
});

describe('grantScopes reports every dropped scope with its reason', () => {
  it('drops what is not registered', () => {
    const result = grantScopes('system/Patient.rs system/Encounter.rs', 'system/Patient.rs');
    expect(result.scope).toBe('system/Patient.rs');
    expect(result.dropped).toEqual([
      expect.objectContaining({
        scope: 'system/Encounter.rs',
        reason: 'scope.not_registered',
        malformed: false,
      }),
    ]);
  });

  it('drops write letters a read-only client asked for (BDT "Rejects explicit mutation scopes")', () => {
    for (const letters of ['c', 'cu', 'cd', 'cud', 'ud', 'd', 'u']) {
      const result = grantScopes(`system/Patient.${letters}`, 'system/*.rs');
      expect(result.granted).toEqual([]);
      expect(result.dropped[0]?.reason).toBe('scope.not_registered');
    }
    expect(grantScopes('system/Patient.write', 'system/*.read').granted).toEqual([]);
  });

  it('drops patient/ and user/ scopes: backend services have no launch context', () => {
    const result = grantScopes(
      'patient/Patient.rs user/Observation.read system/Patient.rs',
      'system/*.cruds',
    );
    expect(result.scope).toBe('system/Patient.rs');
    expect(result.dropped.map((d) => [d.scope, d.reason])).toEqual([
      ['patient/Patient.rs', 'scope.context_not_allowed'],
      ['user/Observation.read', 'scope.context_not_allowed'],
    ]);
  });

  it('drops launch and identity scopes (BDT "Validates scopes": launch fhirUser)', () => {
    const result = grantScopes('launch fhirUser', 'system/*.cruds');
    expect(result.granted).toEqual([]);
    expect(result.dropped.map((d) => d.reason)).toEqual(['scope.not_for_backend', 'scope.not_for_backend']);
    expect(result.dropped.every((d) => !d.malformed)).toBe(true);
  });

  it('marks syntax errors as malformed so the request can be refused as a whole', () => {
    const result = grantScopes(
      'system/Patient.rs system/UnknownResource.read system/Patient.xyz',
      'system/*.cruds',
    );
    expect(result.scope).toBe('system/Patient.rs');
    expect(result.dropped.map((d) => [d.reason, d.malformed])).toEqual([
      ['scope.unknown_resource_type', true],
      ['scope.unknown_permission', true],
    ]);
  });

  it('BDT "invalid test value": three unknown words are malformed', () => {
    const result = grantScopes('invalid test value', 'system/*.cruds');
    expect(result.granted).toEqual([]);
    expect(result.dropped).toHaveLength(3);
    expect(result.dropped.every((d) => d.reason === 'scope.malformed' && d.malformed)).toBe(true);
  });

  it('ignores registered scopes outside system/', () => {
    expect(grantScopes('system/Patient.rs', 'patient/*.cruds').granted).toEqual([]);
  });

  it.each([
    ['missing', undefined, 'scope.missing'],
    ['empty (BDT "Rejects empty scope")', '', 'scope.missing'],
  ] as const)('throws invalid_scope for a %s scope', (_t, requested, reason) => {
    expect(() => grantScopes(requested, 'system/*.rs')).toThrow(
      expect.objectContaining({ reason, error: 'invalid_scope' }),
    );
  });
});
