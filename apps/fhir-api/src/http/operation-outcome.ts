import { FHIR_JSON_CONTENT_TYPE, REASONS, type ReasonCode } from '@smart-backend/protocol';

/** Every FHIR response body is sent with this Content-Type. */
export const FHIR_CONTENT_TYPE = `${FHIR_JSON_CONTENT_TYPE}; charset=utf-8`;

/** FHIR R4 issue types (http://hl7.org/fhir/R4/valueset-issue-type.html) the catalogue uses directly. */
const FHIR_ISSUE_TYPES: ReadonlySet<string> = new Set([
  'invalid',
  'structure',
  'not-supported',
  'too-long',
  'too-costly',
  'not-found',
  'deleted',
  'conflict',
  'exception',
]);

/**
 * The OperationOutcome `issue.code` for a reason: the catalogue's `error` when it is a FHIR issue
 * type; otherwise the issue type that means the same thing for OAuth/RFC 6750 codes: 401 → `login`,
 * 403 → `forbidden`, a token in the URL → `security`, a backing service down → `transient`.
 */
export function issueTypeFor(reason: ReasonCode): string {
  const entry = REASONS[reason];
  if (FHIR_ISSUE_TYPES.has(entry.error)) return entry.error;
  if (reason === 'token.in_query') return 'security';
  switch (entry.status) {
    case 401:
      return 'login';
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    case 405:
      return 'not-supported';
    case 413:
      return 'too-long';
    case 503:
      return 'transient';
    case 500:
      return 'exception';
    default:
      return 'invalid';
  }
}

/** A one-issue OperationOutcome; `diagnostics` is "<reason>: <text>" so machines can read the reason. */
export function operationOutcome(reason: ReasonCode, description: string): Record<string, unknown> {
  const entry = REASONS[reason];
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: entry.status >= 500 ? 'fatal' : 'error',
        code: issueTypeFor(reason),
        details: { text: entry.summary },
        diagnostics: `${reason}: ${description}`,
      },
    ],
  };
}
