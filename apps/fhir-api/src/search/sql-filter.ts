import type { DateValue, SearchCriterion, TokenValue } from '@smart-backend/protocol';
import type { AccessFilter, Criteria } from './criteria.js';
import { PARAMETER_TARGETS } from './index-entries.js';
import { normalizeText } from './text.js';

/**
 * The one search implementation: FHIR search criteria compiled to SQL over the `resources` table
 * (alias `r`) and the `search_index` side table written at store time. Client searches and SMART
 * scope query constraints both go through here, so a constraint means exactly what the same
 * search would return.
 *
 * The plan is explicit rather than left to the SQLite planner (which, without statistics, turns two
 * `pk IN (…)` lists into a cross product): at most one client criterion *drives* the search through
 * its index; every other criterion and every scope constraint is a *probe* of the few index rows of
 * one candidate resource.
 */
export interface SqlFragment {
  readonly sql: string;
  readonly params: readonly (string | number)[];
}

type Mode = 'drive' | 'probe';

const TRUE: SqlFragment = { sql: '1', params: [] };
const FALSE: SqlFragment = { sql: '0', params: [] };

/** The WHERE condition (beyond type and liveness) of a search: client criteria AND scope constraints. */
export function searchSql(
  resourceType: string,
  criteria: Criteria,
  access: AccessFilter,
  now = Date.now(),
): SqlFragment {
  const driver = pickDriver(resourceType, criteria);
  const parts = criteria.map((c) => criterionSql(resourceType, c, now, c === driver ? 'drive' : 'probe'));
  return join([...parts, accessSql(resourceType, access, now)], 'AND');
}

/** Scope constraints as a condition on one resource row: at least one set must hold entirely (OR of ANDs). */
export function accessSql(resourceType: string, access: AccessFilter, now = Date.now()): SqlFragment {
  if (access === null) return TRUE;
  if (access.length === 0) return FALSE;
  return join(
    access.map((set) =>
      set.length === 0
        ? TRUE
        : join(
            set.map((c) => criterionSql(resourceType, c, now, 'probe')),
            'AND',
          ),
    ),
    'OR',
  );
}

/**
 * The criterion most likely to be selective drives the search: references and identifiers name
 * one patient or record, codes and strings a slice, statuses and categories a large share.
 */
function pickDriver(resourceType: string, criteria: Criteria): SearchCriterion | undefined {
  let best: SearchCriterion | undefined;
  let bestRank = Infinity;
  for (const criterion of criteria) {
    const rank = selectivityRank(resourceType, criterion);
    if (rank < bestRank) {
      best = criterion;
      bestRank = rank;
    }
  }
  return best;
}

const BROAD_TOKENS = new Set(['status', 'category', 'gender', 'class', 'clinical-status']);

function selectivityRank(resourceType: string, criterion: SearchCriterion): number {
  if (criterion.name.startsWith('_')) return Infinity; // columns of the resources row, never a driver
  const param = PARAMETER_TARGETS[resourceType]?.[criterion.name]?.param ?? criterion.name;
  switch (criterion.type) {
    case 'reference':
      return 1;
    case 'token':
      return BROAD_TOKENS.has(param) ? 5 : 2;
    case 'string':
      return criterion.modifier === 'contains' ? 6 : 3;
    case 'date':
      return 4;
  }
}

function criterionSql(
  resourceType: string,
  criterion: SearchCriterion,
  now: number,
  mode: Mode,
): SqlFragment {
  // Parameters for all resources live on the resources row itself.
  if (criterion.name === '_id' && criterion.type === 'token') {
    const ids = criterion.values.flatMap((v) => (v.code === undefined ? [] : [v.code]));
    if (ids.length === 0) return FALSE;
    return { sql: `r.id IN (${ids.map(() => '?').join(', ')})`, params: ids };
  }
  if (criterion.name === '_lastUpdated' && criterion.type === 'date') {
    // An instant with millisecond precision: the range [t, t + 1 ms).
    return join(
      criterion.values.map((v) => datePredicate('r.last_updated_ms', '(r.last_updated_ms + 1)', v, now)),
      'OR',
    );
  }

  const target = PARAMETER_TARGETS[resourceType]?.[criterion.name];
  const param = target?.param ?? criterion.name;
  const alternatives = join(valuePredicates(criterion, now), 'OR');
  const referenceType = target?.referenceType;
  const typeCheck = referenceType ? ' AND si.ref_type = ?' : '';
  const typeParams = referenceType ? [referenceType] : [];
  if (mode === 'drive') {
    return {
      sql:
        'r.pk IN (SELECT si.resource_pk FROM search_index si WHERE si.type = ? AND si.param = ?' +
        `${typeCheck} AND ${alternatives.sql})`,
      params: [resourceType, param, ...typeParams, ...alternatives.params],
    };
  }
  return {
    sql:
      'EXISTS (SELECT 1 FROM search_index si INDEXED BY search_index_resource' +
      ` WHERE si.resource_pk = r.pk AND si.param = ?${typeCheck} AND ${alternatives.sql})`,
    params: [param, ...typeParams, ...alternatives.params],
  };
}

function valuePredicates(criterion: SearchCriterion, now: number): SqlFragment[] {
  switch (criterion.type) {
    case 'token':
      return criterion.values.map(tokenPredicate);
    case 'string':
      return criterion.values.map((value) => stringPredicate(value, criterion.modifier));
    case 'date':
      // The explicit IS NOT NULL lets the partial date index serve OR-ed range conditions.
      return criterion.values.map((value) => {
        const range = datePredicate('si.date_start', 'si.date_end', value, now);
        return { sql: `(si.date_start IS NOT NULL AND ${range.sql})`, params: range.params };
      });
    case 'reference':
      return criterion.values.map((value) =>
        value.resourceType === undefined
          ? { sql: 'si.ref_id = ?', params: [value.id] }
          : { sql: '(si.ref_id = ? AND si.ref_type = ?)', params: [value.id, value.resourceType] },
      );
  }
}

/** FHIR token search: `code`, `system|code`, `|code` (no system), `system|` (any code). */
function tokenPredicate(value: TokenValue): SqlFragment {
  if (value.system === undefined) {
    return value.code === undefined ? FALSE : { sql: 'si.code = ?', params: [value.code] };
  }
  const system: SqlFragment =
    value.system === ''
      ? { sql: 'si.system IS NULL', params: [] }
      : { sql: 'si.system = ?', params: [value.system] };
  if (value.code === undefined) return system;
  return { sql: `(${system.sql} AND si.code = ?)`, params: [...system.params, value.code] };
}

/**
 * FHIR string search: starts-with, case- and accent-insensitive by default; `:exact` compares the
 * stored text exactly; `:contains` matches anywhere.
 */
function stringPredicate(value: string, modifier: 'exact' | 'contains' | undefined): SqlFragment {
  if (modifier === 'exact') return { sql: 'si.text = ?', params: [value] };
  const normalized = normalizeText(value);
  if (modifier === 'contains') {
    return { sql: '(si.text_norm IS NOT NULL AND instr(si.text_norm, ?) > 0)', params: [normalized] };
  }
  // Prefix match as a range, so the (type, param, text_norm) index serves it.
  return {
    sql: '(si.text_norm >= ? AND si.text_norm < ?)',
    params: [normalized, normalized + String.fromCodePoint(0x10ffff)],
  };
}

/**
 * FHIR R4 search §3.1.1.5.7: compare the search value's implicit range [qs, qe) with the
 * resource's range [rs, re).
 */
function datePredicate(rs: string, re: string, value: DateValue, now: number): SqlFragment {
  const qs = value.start;
  const qe = value.end;
  const within = `(${rs} >= ? AND ${re} <= ?)`;
  switch (value.prefix) {
    case 'eq': // the resource range lies entirely within the search range
      return { sql: within, params: [qs, qe] };
    case 'ne':
      return { sql: `NOT ${within}`, params: [qs, qe] };
    case 'gt': // the range above the search value overlaps the resource range
      return { sql: `${re} > ?`, params: [qe] };
    case 'lt': // the range below the search value overlaps the resource range
      return { sql: `${rs} < ?`, params: [qs] };
    case 'ge':
      return { sql: `(${re} > ? OR ${within})`, params: [qe, qs, qe] };
    case 'le':
      return { sql: `(${rs} < ? OR ${within})`, params: [qs, qs, qe] };
    case 'sa': // starts after the end of the search range
      return { sql: `${rs} >= ?`, params: [qe] };
    case 'eb': // ends before the start of the search range
      return { sql: `${re} <= ?`, params: [qs] };
    case 'ap': {
      // "Approximately": the ranges overlap once the search range is widened by 10 % of its
      // distance from now (the R4 spec's recommendation), and by at least one day.
      const slack = Math.max(Math.abs(now - qs) * 0.1, 86_400_000);
      return { sql: `(${rs} < ? AND ${re} > ?)`, params: [Math.round(qe + slack), Math.round(qs - slack)] };
    }
  }
}

function join(parts: readonly SqlFragment[], operator: 'AND' | 'OR'): SqlFragment {
  if (parts.length === 1 && parts[0]) return parts[0];
  return {
    sql: `(${parts.map((p) => p.sql).join(` ${operator} `)})`,
    params: parts.flatMap((p) => p.params),
  };
}
