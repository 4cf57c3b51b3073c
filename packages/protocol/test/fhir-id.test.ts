import { describe, expect, it } from '@jest/globals';
import { isFhirId, parseSearchCriterion } from '../src/index.js';

describe('isFhirId (FHIR R4 id datatype)', () => {
  it.each(['a', 'A-1.b', '123', 'x'.repeat(64), '.a', 'a.', '..a', 'a..b'])('accepts %j', (id) => {
    expect(isFhirId(id)).toBe(true);
  });

  it.each([
    ['', 'empty'],
    ['x'.repeat(65), 'longer than 64'],
    ['a/b', 'a slash'],
    ['a b', 'a space'],
    ['a_b', 'an underscore'],
    ['é', 'a non-ASCII letter'],
    ['.', 'a dot segment'],
    ['..', 'a dot-dot segment'],
    ['...', 'only dots'],
    [undefined, 'absent'],
  ])('refuses %j (%s)', (id: string | undefined, _why: string) => {
    expect(isFhirId(id)).toBe(false);
  });

  it('reference search values name a FHIR id', () => {
    expect(parseSearchCriterion('Observation', 'subject', 'Patient/..').ok).toBe(false);
    expect(parseSearchCriterion('Observation', 'subject', '..').ok).toBe(false);
    expect(parseSearchCriterion('Observation', 'subject', 'Patient/a.b').ok).toBe(true);
  });
});
