import { describe, expect, it } from '@jest/globals';
import { formatScope, parseScope, parseScopeList, type ReasonCode } from '../src/index.js';

// Reference §2.6 (BDT), §2.1 (Inferno), SCP-02/05/06/14 and ATK-24: every case is a row here.
const valid: Array<
  [scope: string, expected: { type: string; letters: string; syntax: 'v1' | 'v2'; constraints?: number }]
> = [
  ['system/*.read', { type: '*', letters: 'rs', syntax: 'v1' }],
  ['system/*.*', { type: '*', letters: 'cruds', syntax: 'v1' }],
  ['system/*.write', { type: '*', letters: 'cud', syntax: 'v1' }],
  ['system/Patient.*', { type: 'Patient', letters: 'cruds', syntax: 'v1' }],
  ['system/Patient.read', { type: 'Patient', letters: 'rs', syntax: 'v1' }],
  ['system/Patient.write', { type: 'Patient', letters: 'cud', syntax: 'v1' }],
  ['system/*.cruds', { type: '*', letters: 'cruds', syntax: 'v2' }],
  ['system/*.rs', { type: '*', letters: 'rs', syntax: 'v2' }],
  ['system/Patient.cruds', { type: 'Patient', letters: 'cruds', syntax: 'v2' }],
  ['system/Patient.rs', { type: 'Patient', letters: 'rs', syntax: 'v2' }],
  ['system/Patient.c', { type: 'Patient', letters: 'c', syntax: 'v2' }],
  ['system/Patient.cu', { type: 'Patient', letters: 'cu', syntax: 'v2' }],
  ['system/Patient.cd', { type: 'Patient', letters: 'cd', syntax: 'v2' }],
  ['system/Patient.cud', { type: 'Patient', letters: 'cud', syntax: 'v2' }],
  ['system/Patient.ud', { type: 'Patient', letters: 'ud', syntax: 'v2' }],
  ['system/Patient.d', { type: 'Patient', letters: 'd', syntax: 'v2' }],
  ['system/Patient.u', { type: 'Patient', letters: 'u', syntax: 'v2' }],
  ['system/Observation.s', { type: 'Observation', letters: 's', syntax: 'v2' }],
  ['patient/Observation.rs', { type: 'Observation', letters: 'rs', syntax: 'v2' }],
  ['user/Encounter.read', { type: 'Encounter', letters: 'rs', syntax: 'v1' }],
  [
    'system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory',
    { type: 'Observation', letters: 'rs', syntax: 'v2', constraints: 1 },
  ],
  [
    'system/Observation.rs?category=laboratory&status=final',
    { type: 'Observation', letters: 'rs', syntax: 'v2', constraints: 2 },
  ],
  [
    'system/Condition.rs?clinical-status=active',
    { type: 'Condition', letters: 'rs', syntax: 'v2', constraints: 1 },
  ],
  ['system/*.rs?_lastUpdated=ge2024-01-01', { type: '*', letters: 'rs', syntax: 'v2', constraints: 1 }],
];

describe('parseScope accepts SMART v1 and v2 scopes', () => {
  it.each(valid)('%s', (text, expected) => {
    const result = parseScope(text);
    if (!result.ok) throw new Error(`${text} refused: ${result.reason} ${result.message}`);
    expect(result.scope.resourceType).toBe(expected.type);
    expect(result.scope.permissions.join('')).toBe(expected.letters);
    expect(result.scope.syntax).toBe(expected.syntax);
    expect(result.scope.constraints).toHaveLength(expected.constraints ?? 0);
    expect(formatScope(result.scope)).toBe(text);
  });
});

const invalid: Array<[scope: string, reason: ReasonCode]> = [
  // BDT "Rejects unknown action scopes" / "…in V2 scopes"
  ['system/Patient.unknownAction', 'scope.unknown_permission'],
  ['system/Patient.xyz', 'scope.unknown_permission'],
  // BDT "Rejects unknown resource scopes"
  ['system/UnknownResource.read', 'scope.unknown_resource_type'],
  ['system/UnknownResource.r', 'scope.unknown_resource_type'],
  ['system/patient.read', 'scope.unknown_resource_type'],
  ['system/DomainResource.read', 'scope.unknown_resource_type'],
  // SCP-02: letters in cruds order, each once (ATK-24)
  ['system/Patient.sr', 'scope.permission_order'],
  ['system/Patient.dus', 'scope.permission_order'],
  ['system/Patient.rr', 'scope.repeated_permission'],
  ['system/Patient.rsr', 'scope.repeated_permission'],
  ['system/Patient.', 'scope.empty_permissions'],
  ['system/Patient.READ', 'scope.unknown_permission'],
  ['system/Patient.Read', 'scope.unknown_permission'],
  // SCP-06 constraints: only documented parameters, no modifiers or chaining (ATK-24)
  ['system/Patient.rs?a=b', 'scope.constraint_parameter_not_allowed'],
  ['system/Observation.rs?code:in=http://example.org/vs', 'scope.constraint_parameter_not_allowed'],
  ['system/Observation.rs?patient.birthdate=2000', 'scope.constraint_parameter_not_allowed'],
  ['system/Observation.rs?_filter=code+eq+x', 'scope.constraint_parameter_not_allowed'],
  ['system/Observation.rs?_count=10', 'scope.constraint_parameter_not_allowed'],
  ['system/*.rs?category=laboratory', 'scope.constraint_parameter_not_allowed'],
  ['system/Observation.rs?', 'scope.constraint_malformed'],
  ['system/Observation.rs?category', 'scope.constraint_malformed'],
  ['system/Observation.rs?category=', 'scope.constraint_malformed'],
  ['system/Observation.rs?=laboratory', 'scope.constraint_malformed'],
  ['system/Observation.rs?date=yesterday', 'scope.constraint_value_invalid'],
  ['system/Observation.read?category=laboratory', 'scope.v1_constraint'],
  // RFC 6749 §3.3 charset: no control characters, quotes or backslashes (ATK-24)
  ['system/Patient.read"', 'scope.invalid_characters'],
  ['system/Patient.r\\s', 'scope.invalid_characters'],
  ['system/Patient.rs\u0000', 'scope.invalid_characters'],
  ['system/Patient.rs\t', 'scope.invalid_characters'],
  ['system/Patiënt.rs', 'scope.invalid_characters'],
  // Grammar
  ['Patient.read', 'scope.malformed'],
  ['system/Patient', 'scope.malformed'],
  ['admin/Patient.read', 'scope.malformed'],
  ['invalid', 'scope.malformed'],
  ['system/.rs', 'scope.malformed'],
  // BDT "Validates scopes": launch / identity scopes are not for backend services
  ['launch', 'scope.not_for_backend'],
  ['fhirUser', 'scope.not_for_backend'],
  ['openid', 'scope.not_for_backend'],
  ['offline_access', 'scope.not_for_backend'],
  ['launch/patient', 'scope.not_for_backend'],
  // Oversized single scope (ATK-20/24)
  [`system/Observation.rs?code=${'x'.repeat(600)}`, 'scope.too_long'],
];

describe('parseScope refuses, with a reason', () => {
  it.each(
    invalid.map(
      ([text, reason]) =>
        [text.length > 80 ? `${text.slice(0, 40)}…(${text.length} chars)` : text, reason, text] as const,
    ),
  )('%j → %s', (_label, reason, text) => {
    const result = parseScope(text);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toBe(reason);
      expect(result.message.length).toBeGreaterThan(0);
    }
  });
});

describe('parseScopeList', () => {
  it('splits on spaces and parses every token', () => {
    const { scopes, rejected } = parseScopeList('system/Patient.read  system/Observation.rs launch');
    expect(scopes.map(formatScope)).toEqual(['system/Patient.read', 'system/Observation.rs']);
    expect(rejected.map((r) => r.reason)).toEqual(['scope.not_for_backend']);
  });

  it.each([
    ['absent', undefined, 'scope.missing'],
    ['empty', '', 'scope.missing'],
    ['blank', '   ', 'scope.missing'],
    ['over 4096 characters', 'system/Patient.rs '.repeat(300), 'scope.too_long'],
    ['65 scopes', Array.from({ length: 65 }, () => 'system/Patient.rs').join(' '), 'scope.too_many'],
  ] as const)('refuses a scope string that is %s', (_label, text, reason) => {
    expect(() => parseScopeList(text)).toThrow(
      expect.objectContaining({ reason, error: 'invalid_scope', status: 400 }),
    );
  });
});
