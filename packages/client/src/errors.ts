import { reasonFromErrorDescription, type ReasonCode } from '@smart-backend/protocol';

/**
 * Every error this package throws on purpose. `code` is stable and machine-readable (jose style);
 * `message` is one line a person can act on and never contains a secret.
 */
export abstract class SmartClientError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A caller-supplied value is unusable: a non-http(s) URL, a lifetime over 300 s, an invalid id… */
export class InvalidInputError extends SmartClientError {
  readonly code = 'ERR_INVALID_INPUT';
}

/** A key is unreadable, malformed, not PKCS#8, too weak, or does not fit the requested algorithm. */
export class KeyError extends SmartClientError {
  readonly code = 'ERR_KEY_INVALID';
}

/** The server could not be reached, timed out, or the connection failed (after any retries). */
export class TransportError extends SmartClientError {
  readonly code = 'ERR_TRANSPORT';
  readonly url: string;

  constructor(message: string, url: string, options?: { cause?: unknown }) {
    super(message, options);
    this.url = url;
  }
}

/**
 * A server answered, but not with what the protocol promises: non-JSON, a success body missing a
 * required member, an error body that is not an RFC 6749 §5.2 error, a redirect.
 */
export class InvalidResponseError extends SmartClientError {
  readonly code = 'ERR_INVALID_RESPONSE';
  readonly status: number;
  readonly url: string;

  constructor(message: string, details: { status: number; url: string }) {
    super(message);
    this.status = details.status;
    this.url = details.url;
  }
}

/** Neither `.well-known/smart-configuration` nor the CapabilityStatement named a token endpoint. */
export class DiscoveryError extends SmartClientError {
  readonly code = 'ERR_DISCOVERY_FAILED';
}

/** Fields shared by refusals that arrive as an RFC 6749 §5.2 / RFC 7591 §3.2.2 error body. */
export interface OAuthRefusal {
  /** HTTP status of the refusal. */
  status: number;
  /** The wire error code, e.g. `invalid_client`. */
  error: string;
  /** The server's `error_description`, if any. */
  errorDescription: string | undefined;
  /** The smart-backend reason code leading `error_description` (e.g. `assertion.exp_too_far`), if any. */
  reason: ReasonCode | undefined;
}

function describeRefusal(what: string, refusal: Omit<OAuthRefusal, 'reason'>): string {
  const detail = refusal.errorDescription ? `: ${oneLine(refusal.errorDescription)}` : '';
  return `${what} refused (HTTP ${refusal.status} ${refusal.error})${detail}`;
}

/** An OAuth-style refusal: the server's status, `error`, `error_description` and our reason code. */
abstract class OAuthRefusalError extends SmartClientError implements OAuthRefusal {
  readonly status: number;
  readonly error: string;
  readonly errorDescription: string | undefined;
  readonly reason: ReasonCode | undefined;

  protected constructor(what: string, refusal: Omit<OAuthRefusal, 'reason'>) {
    super(describeRefusal(what, refusal));
    this.status = refusal.status;
    this.error = refusal.error;
    this.errorDescription = refusal.errorDescription;
    this.reason = reasonFromErrorDescription(refusal.errorDescription);
  }
}

/** The token endpoint refused the request (RFC 6749 §5.2). */
export class TokenRequestError extends OAuthRefusalError {
  readonly code = 'ERR_TOKEN_REQUEST_REFUSED';

  constructor(refusal: Omit<OAuthRefusal, 'reason'>) {
    super('token request', refusal);
  }
}

/** The registration endpoint refused the request (RFC 7591 §3.2.2 or an admin-auth error). */
export class RegistrationError extends OAuthRefusalError {
  readonly code = 'ERR_REGISTRATION_REFUSED';

  constructor(refusal: Omit<OAuthRefusal, 'reason'>) {
    super('registration', refusal);
  }
}

/** A FHIR OperationOutcome (only the members this package reads). */
export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue?: Array<{ severity?: string; code?: string; diagnostics?: string; [member: string]: unknown }>;
  [member: string]: unknown;
}

/** The FHIR server answered with a non-2xx status. */
export class FhirRequestError extends SmartClientError {
  readonly code = 'ERR_FHIR_REQUEST_FAILED';
  readonly status: number;
  readonly method: string;
  readonly url: string;
  /** The OperationOutcome the server sent, if it sent one. */
  readonly operationOutcome: OperationOutcome | undefined;
  /** RFC 6750 §3 `error` from `WWW-Authenticate` (401/403), if any. */
  readonly error: string | undefined;
  /** RFC 6750 §3 `error_description` from `WWW-Authenticate`, if any. */
  readonly errorDescription: string | undefined;
  /** The smart-backend reason code, from `error_description` or the first issue's diagnostics. */
  readonly reason: ReasonCode | undefined;

  constructor(details: {
    status: number;
    method: string;
    url: string;
    operationOutcome: OperationOutcome | undefined;
    error?: string | undefined;
    errorDescription?: string | undefined;
  }) {
    const diagnostics = firstDiagnostics(details.operationOutcome);
    const explanation = details.errorDescription ?? diagnostics;
    const codePart = details.error ? ` ${details.error}` : '';
    super(
      `FHIR ${details.method} ${details.url} failed (HTTP ${details.status}${codePart})` +
        (explanation ? `: ${oneLine(explanation)}` : ''),
    );
    this.status = details.status;
    this.method = details.method;
    this.url = details.url;
    this.operationOutcome = details.operationOutcome;
    this.error = details.error;
    this.errorDescription = details.errorDescription;
    this.reason =
      reasonFromErrorDescription(details.errorDescription) ?? reasonFromErrorDescription(diagnostics);
  }
}

/**
 * The first issue's `diagnostics` of a server's OperationOutcome, read defensively: the server may
 * send `issue` as anything, or issues that are not objects.
 */
function firstDiagnostics(outcome: OperationOutcome | undefined): string | undefined {
  const issues: unknown = outcome?.issue;
  if (!Array.isArray(issues)) return undefined;
  for (const issue of issues) {
    if (
      typeof issue === 'object' &&
      issue !== null &&
      typeof (issue as { diagnostics?: unknown }).diagnostics === 'string'
    )
      return (issue as { diagnostics: string }).diagnostics;
  }
  return undefined;
}

/**
 * RS-08: the access token is only ever sent below the configured FHIR base. A URL outside it (a
 * paging `next` link, a Location header, an absolute path) is refused before anything is sent.
 */
export class ForeignUrlError extends SmartClientError {
  readonly code = 'ERR_FOREIGN_URL';
  readonly url: string;

  constructor(url: string, fhirBaseUrl: string, what: string) {
    super(`refusing to send the access token to ${what} ${url}: it is outside the FHIR base ${fhirBaseUrl}`);
    this.url = url;
  }
}

/** Keeps a server-supplied text on one line and bounded, so messages stay one line. */
export function oneLine(text: string, max = 500): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
