import { describe, expect, it } from '@jest/globals';
import { authorize, parseScopeList, type FhirInteraction } from '../src/index.js';

const granted = (text: string) => parseScopeList(text).scopes;

describe('authorize maps each interaction to its letter (SCP-03)', () => {
  const table: Array<[FhirInteraction, string]> = [
    ['read', 'r'],
    ['vread', 'r'],
    ['history', 'r'],
    ['history-instance', 'r'],
    ['history-type', 's'],
    ['search', 's'],
    ['create', 'c'],
    ['update', 'u'],
    ['patch', 'u'],
    ['delete', 'd'],
  ];
  it.each(table)('%s needs %s', (interaction, letter) => {
    expect(authorize(granted(`system/Patient.${letter}`), { resourceType: 'Patient', interaction })).toEqual({
      allowed: true,
      constraints: null,
    });
    const others = 'cruds'.replace(letter, '');
    expect(authorize(granted(`system/Patient.${others}`), { resourceType: 'Patient', interaction })).toEqual({
      allowed: false,
      reason: 'token.insufficient_scope',
      needed: `system/Patient.${letter}`,
    });
  });
});

describe('authorize', () => {
  it('a wildcard scope covers every type (SCP-08)', () => {
    expect(
      authorize(granted('system/*.read'), { resourceType: 'Observation', interaction: 'search' }).allowed,
    ).toBe(true);
  });

  it('a scope for another type does not help', () => {
    expect(
      authorize(granted('system/Patient.cruds'), { resourceType: 'Observation', interaction: 'read' })
        .allowed,
    ).toBe(false);
  });

  it('patient/ and user/ scopes never authorize a backend request', () => {
    const scopes = granted('patient/*.cruds user/*.cruds');
    expect(authorize(scopes, { resourceType: 'Patient', interaction: 'read' }).allowed).toBe(false);
  });

  it('returns the constraint sets of every constrained scope that applies (any-of)', () => {
    const decision = authorize(
      granted(
        'system/Observation.rs?category=laboratory system/Observation.rs?category=vital-signs&status=final',
      ),
      { resourceType: 'Observation', interaction: 'search' },
    );
    expect(decision).toEqual({
      allowed: true,
      constraints: [
        [{ name: 'category', value: 'laboratory' }],
        [
          { name: 'category', value: 'vital-signs' },
          { name: 'status', value: 'final' },
        ],
      ],
    });
  });

  it('an unconstrained scope lifts every constraint', () => {
    const decision = authorize(granted('system/Observation.rs?category=laboratory system/*.read'), {
      resourceType: 'Observation',
      interaction: 'read',
    });
    expect(decision).toEqual({ allowed: true, constraints: null });
  });

  it('constraints of scopes that do not grant the letter do not apply', () => {
    const decision = authorize(granted('system/Observation.s?category=laboratory system/Observation.r'), {
      resourceType: 'Observation',
      interaction: 'read',
    });
    expect(decision).toEqual({ allowed: true, constraints: null });
  });
});
