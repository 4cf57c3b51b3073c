import {
  OAuthError,
  RESULT_PARAMETERS,
  parseSearchCriterion,
  type SearchCriterion,
} from '@smart-backend/protocol';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 500;
const MAX_OFFSET = 1_000_000;
const TOTAL_MODES = ['none', 'estimate', 'accurate'] as const;
const RESULT_PARAMETER_NAMES: ReadonlySet<string> = new Set(RESULT_PARAMETERS);

/**
 * Bounds on one search, so that every search the server accepts compiles to a query the database
 * can run (SQLite refuses expression trees deeper than 1000 nodes) at a bounded cost. The query
 * string and a `_search` form body count together. Real searches use a handful of each.
 */
export const SEARCH_LIMITS = {
  /** Characters of the query string plus the form body, as sent (percent-encoded). */
  queryLength: 8192,
  /** `name=value` pairs, filtering and result parameters alike. */
  parameters: 32,
  /** Values across all criteria: each comma-separated alternative counts once. */
  values: 100,
} as const;

/** A search as the server understood it. */
export interface SearchRequest {
  readonly criteria: SearchCriterion[];
  readonly count: number;
  readonly offset: number;
  /** `_total=none` skips counting; the default (and `estimate`, `accurate`) count exactly. */
  readonly total: boolean;
  /** The filtering and result parameters that were applied, in order, for `self`/`next` links. */
  readonly linkParameters: ReadonlyArray<readonly [string, string]>;
}

/**
 * Reads `name[:modifier]=value` pairs (FHIR R4 search): each filter through protocol
 * `parseSearchCriterion`, the same parser that reads scope query constraints. Unknown parameters
 * are refused (`fhir.unsupported_search_parameter`) unless the client asked for lenient handling
 * (`Prefer: handling=lenient`), in which case they are ignored; bad values are always refused.
 */
export function parseSearchRequest(
  resourceType: string,
  pairs: Iterable<readonly [string, string]>,
  lenient: boolean,
): SearchRequest {
  const criteria: SearchCriterion[] = [];
  const linkParameters: Array<readonly [string, string]> = [];
  const result = new Map<string, string>();

  let parameters = 0;
  for (const [name, value] of pairs) {
    if (++parameters > SEARCH_LIMITS.parameters) {
      throw tooComplex(`the search has more than ${SEARCH_LIMITS.parameters} parameters`);
    }
    if (name === 'access_token') {
      throw new OAuthError(
        'token.in_query',
        'send the access token in the Authorization header (RFC 6750 section 2.1)',
      );
    }
    if (RESULT_PARAMETER_NAMES.has(name)) {
      if (result.has(name)) throw invalidValue(`${name} may appear only once`);
      result.set(name, value);
      continue;
    }
    if (value === '') continue; // an empty parameter filters nothing (FHIR R4 search: ignored)
    const parsed = parseSearchCriterion(resourceType, name, value);
    if (parsed.ok) {
      criteria.push(parsed.criterion);
      linkParameters.push([name, value]);
    } else if (parsed.problem === 'invalid_value') {
      throw invalidValue(parsed.message);
    } else if (!lenient) {
      throw new OAuthError(
        'fhir.unsupported_search_parameter',
        `${parsed.message}; supported for ${resourceType}: see /metadata (or send Prefer: handling=lenient to ignore it)`,
      );
    }
  }

  const values = criteria.reduce((sum, criterion) => sum + criterion.values.length, 0);
  if (values > SEARCH_LIMITS.values) {
    throw tooComplex(`the search has ${values} values in all; at most ${SEARCH_LIMITS.values} are accepted`);
  }

  const count = Math.min(integerParameter(result, '_count', DEFAULT_PAGE_SIZE, 999_999_999), MAX_PAGE_SIZE);
  const offset = integerParameter(result, '_offset', 0, MAX_OFFSET);
  const totalMode = result.get('_total');
  if (totalMode !== undefined && !(TOTAL_MODES as readonly string[]).includes(totalMode)) {
    throw invalidValue(`_total must be one of ${TOTAL_MODES.join(', ')}`);
  }
  if (totalMode !== undefined) linkParameters.push(['_total', totalMode]);
  return { criteria, count, offset, total: totalMode !== 'none', linkParameters };
}

/** `Prefer: handling=lenient` (FHIR R4 search §3.1.1.4, RFC 7240); strict is the default. */
export function prefersLenientHandling(prefer: string | undefined): boolean {
  if (!prefer) return false;
  return prefer
    .split(/[,;]/)
    .map((part) => part.trim().toLowerCase().replace(/\s+/g, ''))
    .includes('handling=lenient');
}

function integerParameter(result: Map<string, string>, name: string, fallback: number, max: number): number {
  const text = result.get(name);
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text) || Number(text) > max) {
    throw invalidValue(`${name} must be a whole number from 0 to ${max}`);
  }
  return Number(text);
}

/** The query string (and form body) of a search, before anything is parsed. */
export function checkSearchQueryLength(length: number): void {
  if (length > SEARCH_LIMITS.queryLength) {
    throw tooComplex(
      `the search query is ${length} characters long; at most ${SEARCH_LIMITS.queryLength} are accepted`,
    );
  }
}

function tooComplex(message: string): OAuthError {
  return new OAuthError('fhir.search_too_complex', `${message} (FHIR API search limits)`);
}

function invalidValue(message: string): OAuthError {
  return new OAuthError('fhir.invalid_search_value', message);
}
