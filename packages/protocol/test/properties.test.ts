import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  FHIR_R4_RESOURCE_TYPES,
  INTERACTION_PERMISSION,
  PERMISSION_LETTERS,
  authorize,
  formatScope,
  grantScopes,
  parseScope,
  parseScopeList,
  type FhirInteraction,
  type ResourceScope,
} from '../src/index.js';

const resourceType = fc.constantFrom(
  '*',
  'Patient',
  'Observation',
  'Condition',
  'Encounter',
  ...FHIR_R4_RESOURCE_TYPES.slice(0, 20),
);
const letters = fc
  .subarray([...PERMISSION_LETTERS], { minLength: 1 })
  .map((subset) => PERMISSION_LETTERS.filter((l) => subset.includes(l)).join(''));
const v1Action = fc.constantFrom('read', 'write', '*');
const constraint = fc.constantFrom(
  {
    type: 'Observation',
    text: 'category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory',
  },
  { type: 'Observation', text: 'status=final' },
  { type: 'Observation', text: 'date=ge2020-01-01' },
  { type: 'Patient', text: 'gender=female' },
  { type: '*', text: '_lastUpdated=lt2030' },
);

const v2Scope = fc
  .tuple(
    fc.constantFrom('system', 'patient', 'user'),
    resourceType,
    letters,
    fc.option(constraint, { nil: undefined }),
  )
  .map(([context, type, perms, c]) => {
    const withConstraint = c && (c.type === '*' || c.type === type);
    return `${context}/${type}.${perms}${withConstraint ? `?${c.text}` : ''}`;
  });
const v1Scope = fc
  .tuple(fc.constantFrom('system', 'patient', 'user'), resourceType, v1Action)
  .map(([context, type, action]) => `${context}/${type}.${action}`);
const validScope = fc.oneof(v1Scope, v2Scope);
const systemScopeList = fc
  .array(
    fc.oneof(v1Scope, v2Scope).map((s) => s.replace(/^\w+\//, 'system/')),
    { minLength: 1, maxLength: 6 },
  )
  .map((list) => list.join(' '));

/** True when `broad` allows every interaction `narrow` allows, on every resource narrow could match. */
function covered(narrow: ResourceScope, registered: ResourceScope[]): boolean {
  return registered.some(
    (r) =>
      (r.resourceType === '*' || r.resourceType === narrow.resourceType) &&
      narrow.permissions.every((p) => r.permissions.includes(p)) &&
      r.constraints.every((c) => narrow.constraints.some((n) => n.name === c.name && n.value === c.value)),
  );
}

describe('scope engine properties', () => {
  it('format ∘ parse is the identity on valid scopes', () => {
    fc.assert(
      fc.property(validScope, (text) => {
        const result = parseScope(text);
        return result.ok && formatScope(result.scope) === text;
      }),
      { numRuns: 2000 },
    );
  });

  it('whatever is granted is covered by a single registered scope (granted ⊆ registered)', () => {
    fc.assert(
      fc.property(systemScopeList, systemScopeList, (requested, registered) => {
        const grant = grantScopes(requested, registered);
        const registration = parseScopeList(registered).scopes;
        for (const g of grant.granted) {
          // Letters merged from several registered scopes are each covered by one of them.
          for (const letter of g.permissions) {
            if (!covered({ ...g, permissions: [letter] }, registration)) return false;
          }
        }
        // Re-parsing the response scope string gives the same grant.
        const reparsed = grant.scope ? parseScopeList(grant.scope).scopes.map(formatScope) : [];
        return reparsed.join(' ') === grant.scope;
      }),
      { numRuns: 1000 },
    );
  });

  it('a v1 scope and its v2 equivalent authorize exactly the same interactions', () => {
    const v1ToV2 = { read: 'rs', write: 'cud', '*': 'cruds' } as const;
    const interactions = Object.keys(INTERACTION_PERMISSION) as FhirInteraction[];
    fc.assert(
      fc.property(
        resourceType,
        v1Action,
        fc.constantFrom('Patient', 'Observation', 'Encounter', 'Device'),
        (type, action, target) => {
          const v1 = parseScopeList(`system/${type}.${action}`).scopes;
          const v2 = parseScopeList(`system/${type}.${v1ToV2[action]}`).scopes;
          return interactions.every(
            (interaction) =>
              JSON.stringify(authorize(v1, { resourceType: target, interaction })) ===
              JSON.stringify(authorize(v2, { resourceType: target, interaction })),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('the parser never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const result = parseScope(text);
        return typeof result.ok === 'boolean';
      }),
      { numRuns: 2000 },
    );
  });
});

describe('grant example from the properties', () => {
  it('a wildcard request against a type registration stays within it', () => {
    expect(grantScopes('system/*.cruds', 'system/Observation.rs?status=final').scope).toBe(
      'system/Observation.rs?status=final',
    );
  });
});
