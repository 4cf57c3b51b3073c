import type { z } from 'zod';
import { isReasonCode, type ReasonCode } from '../reasons.js';

/** A refusal found by a validator: the reason code and a precise message. */
export interface Problem {
  readonly reason: ReasonCode;
  readonly message: string;
}

export type Checked<T> = { readonly ok: true; readonly value: T } | ({ readonly ok: false } & Problem);

/** Attach to a zod custom issue: `ctx.addIssue({ code: 'custom', message, params: reasonParam('jwks.private_key') })`. */
export function reasonParam(reason: ReasonCode): { reason: ReasonCode } {
  return { reason };
}

/**
 * The first issue of a zod error as a Problem: its own reason code when a refinement attached one,
 * otherwise `fallback`, with the path in the message.
 */
export function problemFromZodError(error: z.ZodError, fallback: ReasonCode): Problem {
  const issue = error.issues[0];
  if (!issue) return { reason: fallback, message: 'invalid' };
  const params = (issue as { params?: { reason?: unknown } }).params;
  const reason = typeof params?.reason === 'string' && isReasonCode(params.reason) ? params.reason : fallback;
  const path = issue.path.length ? `${issue.path.map(String).join('.')}: ` : '';
  return { reason, message: `${path}${issue.message}` };
}
