import { REASONS, isReasonCode, type ReasonCode, type WireErrorCode } from './reasons.js';

/**
 * A refusal with a stable reason code. `error` and `status` come from the reason catalogue;
 * `description` is the precise human explanation. Rendered to JSON in one place per app.
 */
export class OAuthError extends Error {
  readonly reason: ReasonCode;
  readonly error: WireErrorCode;
  readonly status: number;
  readonly description: string;

  constructor(reason: ReasonCode, description?: string, options?: { cause?: unknown }) {
    const entry = REASONS[reason];
    const text = description ?? entry.summary;
    super(`${reason}: ${text}`, options);
    this.name = 'OAuthError';
    this.reason = reason;
    this.error = entry.error;
    this.status = entry.status;
    this.description = text;
  }

  /** The RFC 6749 §5.2 body. The reason code leads `error_description` so machines can read it. */
  toJSON(): { error: WireErrorCode; error_description: string } {
    return { error: this.error, error_description: formatErrorDescription(this.reason, this.description) };
  }
}

export function formatErrorDescription(reason: ReasonCode, description: string): string {
  return `${reason}: ${description}`;
}

/** Reads the reason code back out of an `error_description` written by {@link formatErrorDescription}. */
export function reasonFromErrorDescription(description: string | undefined): ReasonCode | undefined {
  if (!description) return undefined;
  const colon = description.indexOf(':');
  if (colon <= 0) return undefined;
  const candidate = description.slice(0, colon);
  return isReasonCode(candidate) ? candidate : undefined;
}

export function isOAuthError(value: unknown): value is OAuthError {
  return value instanceof OAuthError;
}
