import { describe, expect, it } from '@jest/globals';
import { checkResourceIndicator, type ReasonCode } from '../src/index.js';

const BASE = 'https://fhir.example:8443/r4/fhir';

describe('resource indicators (RFC 8707 §2)', () => {
  it.each([
    [BASE],
    [`${BASE}/`],
    ['HTTPS://FHIR.EXAMPLE:8443/r4/fhir'],
    ['https://Fhir.Example:8443/r4/fhir/'],
    ['https://fhir%2Eexample:8443/r4/fhir'],
    ['https://%66hir.example:8443/r4/fhir'],
    ['https://fhir.example:8443/r4/%66hir'],
    ['https://fhir.example:8443/r4/fhi%72'],
    ['https://fhir.example:8443/r4/./fhir'],
    ['https://fhir.example:8443/r4/x/../fhir'],
  ])('%s names this server', (value) => {
    expect(checkResourceIndicator(value, BASE)).toBeUndefined();
  });

  it('a default port written out is the same origin', () => {
    expect(
      checkResourceIndicator('https://fhir.example:443/fhir', 'https://fhir.example/fhir'),
    ).toBeUndefined();
    expect(checkResourceIndicator('http://fhir.test:80/fhir/', 'http://fhir.test/fhir')).toBeUndefined();
  });

  const refused: Array<[value: string, reason: ReasonCode]> = [
    // Not an absolute URI (RFC 3986 §4.3), or one with a fragment.
    ['/r4/fhir', 'resource.invalid'],
    ['fhir.example/r4/fhir', 'resource.invalid'],
    ['//fhir.example:8443/r4/fhir', 'resource.invalid'],
    [`${BASE}#x`, 'resource.invalid'],
    [`${BASE}#`, 'resource.invalid'],
    [`${BASE} `, 'resource.invalid'],
    [` ${BASE}`, 'resource.invalid'],
    ['https://fhir.example:8443/r4/f hir', 'resource.invalid'],
    ['https://fhir.example:8443/r4/fh\tir', 'resource.invalid'],
    ['https://fhir.example:8443/r4/fh\nir', 'resource.invalid'],
    ['https://fhir.example:8443\\r4\\fhir', 'resource.invalid'],
    ['https://fhir.example:8443/r4/fhír', 'resource.invalid'],
    ['https://fhir.example:8443/r4/fhir%', 'resource.invalid'],
    ['https://fhir.example:8443/r4/fhir%zz', 'resource.invalid'],
    ['https://fhir.example:99999/r4/fhir', 'resource.invalid'],
    ['1https://fhir.example', 'resource.invalid'],
    ['', 'resource.invalid'],
    // Absolute URIs that name something else.
    ['https://other.example:8443/r4/fhir', 'resource.unknown'],
    ['https://fhir.example/r4/fhir', 'resource.unknown'],
    ['http://fhir.example:8443/r4/fhir', 'resource.unknown'],
    ['https://fhir.example:8443/r4/FHIR', 'resource.unknown'],
    ['https://fhir.example:8443/r4', 'resource.unknown'],
    ['https://fhir.example:8443/r4/fhir/Patient', 'resource.unknown'],
    ['https://fhir.example:8443/r4/fhir//', 'resource.unknown'],
    ['https://fhir.example:8443/r4/fhir%2F', 'resource.unknown'],
    ['https://fhir.example:8443/r4/fhir?', 'resource.unknown'],
    ['https://fhir.example:8443/r4/fhir?x=1', 'resource.unknown'],
    ['https://user@fhir.example:8443/r4/fhir', 'resource.unknown'],
    ['https://fhir.example:8443@evil.example/r4/fhir', 'resource.unknown'],
    ['https:fhir.example:8443/r4/fhir', 'resource.unknown'],
    ['https:///fhir.example:8443/r4/fhir', 'resource.unknown'],
    ['urn:example:fhir', 'resource.unknown'],
    ['foo://fhir.example:8443/r4/fhir', 'resource.unknown'],
  ];
  it.each(refused)('%j is refused: %s', (value, reason) => {
    expect(checkResourceIndicator(value, BASE)?.reason).toBe(reason);
  });

  it('quotes a long value only in part', () => {
    const found = checkResourceIndicator(`https://other.example/${'x'.repeat(10_000)}`, BASE);
    expect(found?.message.length).toBeLessThan(300);
  });
});
