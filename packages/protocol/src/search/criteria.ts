import { isFhirId } from '../fhir-id.js';
import { searchParameterType, type SearchParameterType } from './parameters.js';

/**
 * Parsed FHIR search criteria (http://hl7.org/fhir/R4/search.html). A criterion is one
 * `name[:modifier]=value` pair; its values are alternatives (comma = OR). Several criteria on one
 * request are combined with AND. The same parser reads client searches and scope constraints.
 */
export interface TokenValue {
  /** undefined: any system; '': no system (`|code`); otherwise the system URI. */
  readonly system: string | undefined;
  /** undefined: any code in the system (`system|`). */
  readonly code: string | undefined;
}

export const DATE_PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
export type DatePrefix = (typeof DATE_PREFIXES)[number];

export interface DateValue {
  readonly prefix: DatePrefix;
  /** The implicit range of the value, in epoch milliseconds: [start, end). */
  readonly start: number;
  readonly end: number;
}

export interface ReferenceValue {
  /** The resource type, when the value names it (`Patient/123`). */
  readonly resourceType: string | undefined;
  readonly id: string;
}

export type SearchCriterion =
  | { readonly name: string; readonly type: 'token'; readonly values: readonly TokenValue[] }
  | {
      readonly name: string;
      readonly type: 'string';
      readonly modifier: 'exact' | 'contains' | undefined;
      readonly values: readonly string[];
    }
  | { readonly name: string; readonly type: 'date'; readonly values: readonly DateValue[] }
  | { readonly name: string; readonly type: 'reference'; readonly values: readonly ReferenceValue[] };

export type CriterionResult =
  | { readonly ok: true; readonly criterion: SearchCriterion }
  | {
      readonly ok: false;
      readonly problem: 'unsupported_parameter' | 'unsupported_modifier' | 'invalid_value';
      readonly message: string;
    };

const MAX_VALUE_LENGTH = 1024;

/** Parses one `name[:modifier]=value` search pair for `resourceType`. */
export function parseSearchCriterion(
  resourceType: string,
  rawName: string,
  rawValue: string,
): CriterionResult {
  const [name = '', modifier, ...rest] = rawName.split(':');
  const type = searchParameterType(resourceType, name);
  if (type === undefined) {
    return {
      ok: false,
      problem: 'unsupported_parameter',
      message: `${resourceType} has no search parameter "${name}"`,
    };
  }
  if (rest.length > 0 || (modifier !== undefined && !modifierAllowed(type, modifier))) {
    return { ok: false, problem: 'unsupported_modifier', message: `modifier "${rawName}" is not supported` };
  }
  if (rawValue.length === 0 || rawValue.length > MAX_VALUE_LENGTH) {
    return {
      ok: false,
      problem: 'invalid_value',
      message: `${name} needs a value of 1 to ${MAX_VALUE_LENGTH} characters`,
    };
  }
  const parts = splitUnescaped(rawValue, ',');
  if (parts.some((p) => p.length === 0)) {
    return { ok: false, problem: 'invalid_value', message: `${name} has an empty value in "${rawValue}"` };
  }
  switch (type) {
    case 'token':
      return { ok: true, criterion: { name, type, values: parts.map(parseToken) } };
    case 'string':
      return {
        ok: true,
        criterion: {
          name,
          type,
          modifier: modifier as 'exact' | 'contains' | undefined,
          values: parts.map(unescape),
        },
      };
    case 'date': {
      const values: DateValue[] = [];
      for (const part of parts) {
        const value = parseDateValue(part);
        if (!value)
          return { ok: false, problem: 'invalid_value', message: `${name}: "${part}" is not a FHIR date` };
        values.push(value);
      }
      return { ok: true, criterion: { name, type, values } };
    }
    case 'reference': {
      const values: ReferenceValue[] = [];
      for (const part of parts) {
        const value = parseReference(unescape(part));
        if (!value)
          return { ok: false, problem: 'invalid_value', message: `${name}: "${part}" is not a reference` };
        values.push(value);
      }
      return { ok: true, criterion: { name, type, values } };
    }
  }
}

function modifierAllowed(type: SearchParameterType, modifier: string): boolean {
  return type === 'string' && (modifier === 'exact' || modifier === 'contains');
}

/** FHIR search escaping: `\,` `\|` `\$` `\\` stand for the literal character. */
function splitUnescaped(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '\\' && i + 1 < value.length) {
      current += ch + value[i + 1];
      i++;
    } else if (ch === separator) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

function unescape(value: string): string {
  return value.replace(/\\([\\,|$])/g, '$1');
}

function parseToken(raw: string): TokenValue {
  const pieces = splitUnescaped(raw, '|');
  if (pieces.length === 1) return { system: undefined, code: unescape(raw) };
  const system = unescape(pieces[0] ?? '');
  const code = unescape(pieces.slice(1).join('|'));
  return { system, code: code === '' ? undefined : code };
}

function parseReference(raw: string): ReferenceValue | undefined {
  const segments = raw.split('/').filter((s) => s.length > 0);
  const id = segments.at(-1);
  if (id === undefined || !isFhirId(id)) return undefined;
  const resourceType = segments.length >= 2 ? segments.at(-2) : undefined;
  if (resourceType !== undefined && !/^[A-Z][A-Za-z]+$/.test(resourceType)) return undefined;
  return { resourceType, id };
}

const DATE_PATTERN =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** Parses `[prefix]date` into its implicit range (FHIR R4 search §3.1.1.5.7, times without zone read as UTC). */
export function parseDateValue(raw: string): DateValue | undefined {
  let prefix: DatePrefix = 'eq';
  let text = raw;
  const head = raw.slice(0, 2);
  if ((DATE_PREFIXES as readonly string[]).includes(head)) {
    prefix = head as DatePrefix;
    text = raw.slice(2);
  }
  const range = dateRange(text);
  return range ? { prefix, ...range } : undefined;
}

/** The implicit [start, end) range of a FHIR date, dateTime or instant, in epoch milliseconds. */
export function dateRange(text: string): { start: number; end: number } | undefined {
  const m = DATE_PATTERN.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = mo === undefined ? undefined : Number(mo);
  const day = d === undefined ? undefined : Number(d);
  // FHIR R4 date/dateTime/instant regexes admit years 0001 to 9999.
  if (year === 0) return undefined;
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > daysInMonth(year, month ?? 1))) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59)))
    return undefined;

  const offsetMs = zoneOffsetMs(zone);
  if (offsetMs === undefined) return undefined;
  if (month === undefined) return { start: utc(year, 0, 1), end: utc(year + 1, 0, 1) };
  if (day === undefined) return { start: utc(year, month - 1, 1), end: utc(year, month, 1) };
  if (h === undefined) return { start: utc(year, month - 1, day), end: utc(year, month - 1, day + 1) };

  const base = utc(year, month - 1, day, Number(h), Number(mi), s === undefined ? 0 : Number(s)) - offsetMs;
  if (s === undefined) return { start: base, end: base + 60_000 };
  if (frac === undefined) return { start: base, end: base + 1000 };
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  // Precision finer than a millisecond is not representable; treat it as millisecond precision.
  return { start: base + ms, end: base + ms + 1 };
}

/** The Gregorian calendar repeats every 400 years, which are exactly 146 097 days. */
const GREGORIAN_CYCLE_MS = 146_097 * 86_400_000;

/**
 * `Date.UTC` for any year from 1: `Date.UTC` reads years 0 to 99 as 1900 to 1999 (ECMA-262
 * MakeFullYear), so the date is computed 400 years later and moved back one calendar cycle.
 */
function utc(year: number, monthIndex: number, day: number, hours = 0, minutes = 0, seconds = 0): number {
  return Date.UTC(year + 400, monthIndex, day, hours, minutes, seconds) - GREGORIAN_CYCLE_MS;
}

function daysInMonth(year: number, month: number): number {
  return new Date(utc(year, month, 0)).getUTCDate();
}

function zoneOffsetMs(zone: string | undefined): number | undefined {
  if (zone === undefined || zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (hours > 14 || minutes > 59) return undefined;
  return sign * (hours * 60 + minutes) * 60_000;
}
