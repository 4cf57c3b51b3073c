import { SEARCH_PARAMETERS, dateRange, isFhirId } from '@smart-backend/protocol';
import { normalizeText } from './text.js';

/**
 * What each search parameter of protocol `SEARCH_PARAMETERS` reads from a resource. The store keeps
 * these values in a side table at write time, so searches, counts and scope-constraint checks are
 * SQL over that table (FHIR R4 search parameter definitions, http://hl7.org/fhir/R4/searchparameter-registry.html).
 */
export type IndexEntry =
  | { readonly param: string; readonly kind: 'token'; readonly system: string | null; readonly code: string }
  | { readonly param: string; readonly kind: 'string'; readonly text: string; readonly normalized: string }
  | { readonly param: string; readonly kind: 'date'; readonly start: number; readonly end: number }
  | {
      readonly param: string;
      readonly kind: 'reference';
      readonly refType: string | null;
      readonly refId: string;
    };

/** Open ends of a Period, in epoch milliseconds (the limits of a JavaScript Date). */
export const MIN_INSTANT = -8_640_000_000_000_000;
export const MAX_INSTANT = 8_640_000_000_000_000;

const ADMINISTRATIVE_GENDER = 'http://hl7.org/fhir/administrative-gender';
const OBSERVATION_STATUS = 'http://hl7.org/fhir/observation-status';
const ENCOUNTER_STATUS = 'http://hl7.org/fhir/encounter-status';

type Extractor = (resource: object) => Value[];
type Value =
  | { kind: 'token'; system: string | null; code: string }
  | { kind: 'string'; text: string }
  | { kind: 'date'; start: number; end: number }
  | { kind: 'reference'; refType: string | null; refId: string };

/**
 * The indexed parameter behind each searchable name. Aliases search the same index: `patient` is
 * `subject` restricted to Patient references; Condition `status` is `clinical-status` and
 * Encounter `code` is `type` (protocol comments: those elements do not exist in R4).
 */
export const PARAMETER_TARGETS: Record<
  string,
  Record<string, { readonly param: string; readonly referenceType?: string }>
> = {
  Patient: {},
  Observation: { patient: { param: 'subject', referenceType: 'Patient' } },
  Condition: {
    patient: { param: 'subject', referenceType: 'Patient' },
    status: { param: 'clinical-status' },
  },
  Encounter: {
    patient: { param: 'subject', referenceType: 'Patient' },
    code: { param: 'type' },
  },
};

const EXTRACTORS: Record<string, Record<string, Extractor>> = {
  Patient: {
    name: (r) =>
      list(field(r, 'name')).flatMap((name) =>
        strings(
          field(name, 'family'),
          ...list(field(name, 'given')),
          field(name, 'text'),
          ...list(field(name, 'prefix')),
          ...list(field(name, 'suffix')),
        ),
      ),
    family: (r) => list(field(r, 'name')).flatMap((name) => strings(field(name, 'family'))),
    given: (r) => list(field(r, 'name')).flatMap((name) => strings(...list(field(name, 'given')))),
    gender: (r) => codes(field(r, 'gender'), ADMINISTRATIVE_GENDER),
    birthdate: (r) => dates(field(r, 'birthDate')),
    identifier: (r) => list(field(r, 'identifier')).flatMap(identifier),
  },
  Observation: {
    subject: (r) => references(field(r, 'subject')),
    category: (r) => list(field(r, 'category')).flatMap(codeableConcept),
    code: (r) => codeableConcept(field(r, 'code')),
    date: (r) => [
      ...dates(field(r, 'effectiveDateTime')),
      ...dates(field(r, 'effectiveInstant')),
      ...period(field(r, 'effectivePeriod')),
    ],
    status: (r) => codes(field(r, 'status'), OBSERVATION_STATUS),
  },
  Condition: {
    subject: (r) => references(field(r, 'subject')),
    code: (r) => codeableConcept(field(r, 'code')),
    category: (r) => list(field(r, 'category')).flatMap(codeableConcept),
    'clinical-status': (r) => codeableConcept(field(r, 'clinicalStatus')),
  },
  Encounter: {
    subject: (r) => references(field(r, 'subject')),
    type: (r) => list(field(r, 'type')).flatMap(codeableConcept),
    class: (r) => coding(field(r, 'class')),
    status: (r) => codes(field(r, 'status'), ENCOUNTER_STATUS),
    date: (r) => period(field(r, 'period')),
  },
};

/** Every index entry of a resource of `resourceType`. Tolerates any JSON shape: odd values are skipped. */
export function indexEntries(resourceType: string, resource: object): IndexEntry[] {
  const extractors = Object.hasOwn(EXTRACTORS, resourceType) ? EXTRACTORS[resourceType] : undefined;
  if (!extractors) return [];
  const entries: IndexEntry[] = [];
  for (const [param, extract] of Object.entries(extractors)) {
    for (const value of extract(resource)) {
      entries.push(
        value.kind === 'string'
          ? { param, kind: 'string', text: value.text, normalized: normalizeText(value.text) }
          : { param, ...value },
      );
    }
  }
  return entries;
}

/** Names searchable for `resourceType` that have neither an extractor nor an alias (must be none). */
export function unindexedParameters(): string[] {
  return Object.entries(SEARCH_PARAMETERS).flatMap(([type, params]) =>
    Object.keys(params)
      .filter((name) => !EXTRACTORS[type]?.[name] && !PARAMETER_TARGETS[type]?.[name])
      .map((name) => `${type}.${name}`),
  );
}

// ── Element readers (FHIR R4 data types) ───────────────────────────────────────────────────────

function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** An own member only: what is indexed must be what `JSON.stringify` stores. */
function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, name)
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function strings(...values: unknown[]): Value[] {
  return values.flatMap((v) => {
    const t = text(v);
    return t === undefined ? [] : [{ kind: 'string' as const, text: t }];
  });
}

/** A `code` element: its implicit system is the value set's code system. */
function codes(value: unknown, system: string): Value[] {
  const code = text(value);
  return code === undefined ? [] : [{ kind: 'token', system, code }];
}

function coding(value: unknown): Value[] {
  const code = text(field(value, 'code'));
  if (code === undefined) return [];
  return [{ kind: 'token', system: text(field(value, 'system')) ?? null, code }];
}

function codeableConcept(value: unknown): Value[] {
  return list(field(value, 'coding')).flatMap(coding);
}

/** Identifier: token `system|value`. */
function identifier(value: unknown): Value[] {
  const code = text(field(value, 'value'));
  if (code === undefined) return [];
  return [{ kind: 'token', system: text(field(value, 'system')) ?? null, code }];
}

function dates(value: unknown): Value[] {
  const t = text(value);
  const range = t === undefined ? undefined : dateRange(t);
  return range ? [{ kind: 'date', ...range }] : [];
}

/** Period: from the start of `start` to the end of `end`; a missing end is ongoing. */
function period(value: unknown): Value[] {
  const startText = text(field(value, 'start'));
  const endText = text(field(value, 'end'));
  if (startText === undefined && endText === undefined) return [];
  const start = startText === undefined ? undefined : dateRange(startText);
  const end = endText === undefined ? undefined : dateRange(endText);
  if ((startText !== undefined && !start) || (endText !== undefined && !end)) return [];
  return [{ kind: 'date', start: start?.start ?? MIN_INSTANT, end: end?.end ?? MAX_INSTANT }];
}

const REFERENCE = /^([A-Z][A-Za-z]+)\/([^/]+)(?:\/_history\/([^/]+))?$/;

/**
 * Reference: a relative `Type/id` (optionally versioned) names a resource on this server. An
 * absolute URL names a resource on some server — `https://other.example/fhir/Patient/1` is not our
 * Patient/1 — so it is not indexed: it never matches a local reference search, and never satisfies
 * a patient-constrained scope (RS-05).
 */
function references(value: unknown): Value[] {
  const reference = text(field(value, 'reference'));
  if (reference === undefined || reference.startsWith('#')) return [];
  const match = REFERENCE.exec(reference);
  if (!match || !isFhirId(match[2]) || (match[3] !== undefined && !isFhirId(match[3]))) return [];
  return [{ kind: 'reference', refType: match[1] ?? null, refId: match[2] ?? '' }];
}
