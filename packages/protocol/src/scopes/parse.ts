import { MAX_SCOPE_STRING_LENGTH, MAX_SCOPE_TOKEN_LENGTH, MAX_SCOPES_PER_REQUEST } from '../constants.js';
import { isFhirResourceType } from '../fhir-resource-types.js';
import { OAuthError } from '../oauth-error.js';
import type { ReasonCode } from '../reasons.js';
import { parseSearchCriterion } from '../search/criteria.js';
import { RESULT_PARAMETERS } from '../search/parameters.js';
import {
  PERMISSION_LETTERS,
  SCOPE_CONTEXTS,
  V1_ACTIONS,
  type PermissionLetter,
  type ResourceScope,
  type ScopeConstraint,
  type ScopeContext,
  type V1Action,
} from './model.js';

export type ScopeParseResult =
  | { readonly ok: true; readonly scope: ResourceScope }
  | { readonly ok: false; readonly text: string; readonly reason: ReasonCode; readonly message: string };

/**
 * SMART scopes that are well-formed but carry launch or identity context a backend service never
 * has. They are recognised (so the refusal can say why) and never granted.
 */
export const NON_RESOURCE_SCOPES: ReadonlySet<string> = new Set([
  'openid',
  'fhirUser',
  'profile',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
]);

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN_CHARSET = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const RESOURCE_SCOPE = /^([^/]+)\/([^.?]+)\.([^?]*)(?:\?(.*))?$/;
const CONSTRAINT_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

const fail = (text: string, reason: ReasonCode, message: string): ScopeParseResult => ({
  ok: false,
  text,
  reason,
  message,
});

/** Parses one scope token. Never throws. */
export function parseScope(text: string): ScopeParseResult {
  if (text.length === 0) return fail(text, 'scope.malformed', 'empty scope');
  if (text.length > MAX_SCOPE_TOKEN_LENGTH) {
    return fail(
      text.slice(0, 64) + '…',
      'scope.too_long',
      `a scope may be at most ${MAX_SCOPE_TOKEN_LENGTH} characters`,
    );
  }
  if (!SCOPE_TOKEN_CHARSET.test(text)) {
    return fail(
      text,
      'scope.invalid_characters',
      `"${printable(text)}" contains characters outside the RFC 6749 scope charset`,
    );
  }
  if (NON_RESOURCE_SCOPES.has(text) || text.startsWith('launch/')) {
    return fail(
      text,
      'scope.not_for_backend',
      `"${text}" needs a launch or user context that backend services do not have`,
    );
  }
  const match = RESOURCE_SCOPE.exec(text);
  if (!match) {
    return fail(text, 'scope.malformed', `"${text}" is not of the form context/ResourceType.permissions`);
  }
  const [, context = '', resourceType = '', permissionText = '', query] = match;

  if (!(SCOPE_CONTEXTS as readonly string[]).includes(context)) {
    return fail(text, 'scope.malformed', `"${text}": context must be system, patient or user`);
  }
  if (resourceType !== '*' && !isFhirResourceType(resourceType)) {
    return fail(
      text,
      'scope.unknown_resource_type',
      `"${text}": ${resourceType} is not a FHIR R4 resource type`,
    );
  }

  let permissions: PermissionLetter[];
  let syntax: 'v1' | 'v2';
  if (Object.hasOwn(V1_ACTIONS, permissionText)) {
    if (query !== undefined) {
      return fail(
        text,
        'scope.v1_constraint',
        `"${text}": query constraints need v2 letters (e.g. .rs), not .${permissionText}`,
      );
    }
    syntax = 'v1';
    permissions = [...V1_ACTIONS[permissionText as V1Action]] as PermissionLetter[];
  } else {
    const letters = parsePermissionLetters(text, permissionText);
    if (!Array.isArray(letters)) return letters;
    syntax = 'v2';
    permissions = letters;
  }

  let constraints: ScopeConstraint[] = [];
  if (query !== undefined) {
    const parsed = parseConstraints(text, resourceType, query);
    if (!Array.isArray(parsed)) return parsed;
    constraints = parsed;
  }

  return {
    ok: true,
    scope: {
      context: context as ScopeContext,
      resourceType: resourceType as ResourceScope['resourceType'],
      permissions,
      constraints,
      syntax,
    },
  };
}

function parsePermissionLetters(text: string, letters: string): PermissionLetter[] | ScopeParseResult {
  if (letters.length === 0) return fail(text, 'scope.empty_permissions', `"${text}" names no permission`);
  const seen: PermissionLetter[] = [];
  let lastIndex = -1;
  for (const letter of letters) {
    const index = (PERMISSION_LETTERS as readonly string[]).indexOf(letter);
    if (index < 0) {
      return fail(
        text,
        'scope.unknown_permission',
        `"${text}": "${letters}" is not read, write, * or a subset of cruds`,
      );
    }
    if (seen.includes(letter as PermissionLetter)) {
      return fail(text, 'scope.repeated_permission', `"${text}": the letter ${letter} appears twice`);
    }
    if (index < lastIndex) {
      return fail(text, 'scope.permission_order', `"${text}": letters must be in the order c, r, u, d, s`);
    }
    seen.push(letter as PermissionLetter);
    lastIndex = index;
  }
  return seen;
}

function parseConstraints(
  text: string,
  resourceType: string,
  query: string,
): ScopeConstraint[] | ScopeParseResult {
  if (query.length === 0)
    return fail(text, 'scope.constraint_malformed', `"${text}": empty query constraint`);
  const constraints: ScopeConstraint[] = [];
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    if (eq <= 0 || value.length === 0) {
      return fail(text, 'scope.constraint_malformed', `"${text}": "${pair}" is not name=value`);
    }
    if (!CONSTRAINT_NAME.test(name) || (RESULT_PARAMETERS as readonly string[]).includes(name)) {
      // Modifiers (code:in), chaining (patient.birthdate) and _filter are experimental in SMART v2.
      return fail(
        text,
        'scope.constraint_parameter_not_allowed',
        `"${text}": "${name}" is not a plain search parameter (modifiers, chaining and result parameters are not supported)`,
      );
    }
    const criterion = parseSearchCriterion(resourceType, name, value);
    if (!criterion.ok) {
      const reason =
        criterion.problem === 'invalid_value'
          ? 'scope.constraint_value_invalid'
          : 'scope.constraint_parameter_not_allowed';
      return fail(text, reason, `"${text}": ${criterion.message}`);
    }
    constraints.push({ name, value });
  }
  return constraints;
}

export interface ScopeListParse {
  readonly scopes: ResourceScope[];
  readonly rejected: Array<Extract<ScopeParseResult, { ok: false }>>;
}

/**
 * Splits a space-separated scope string (RFC 6749 §3.3) and parses each token.
 * Throws `OAuthError` only for problems of the whole string: missing, too long, too many.
 */
export function parseScopeList(text: string | undefined): ScopeListParse {
  if (text === undefined || text.trim().length === 0)
    throw new OAuthError('scope.missing', 'scope is required and must not be empty');
  if (text.length > MAX_SCOPE_STRING_LENGTH) {
    throw new OAuthError(
      'scope.too_long',
      `the scope string may be at most ${MAX_SCOPE_STRING_LENGTH} characters`,
    );
  }
  const tokens = text.split(' ').filter((t) => t.length > 0);
  if (tokens.length > MAX_SCOPES_PER_REQUEST) {
    throw new OAuthError(
      'scope.too_many',
      `at most ${MAX_SCOPES_PER_REQUEST} scopes may be requested at once`,
    );
  }
  const scopes: ResourceScope[] = [];
  const rejected: ScopeListParse['rejected'] = [];
  for (const token of tokens) {
    const result = parseScope(token);
    if (result.ok) scopes.push(result.scope);
    else rejected.push(result);
  }
  return { scopes, rejected };
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7E]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
