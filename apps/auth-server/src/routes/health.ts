import { Router } from 'express';
import { methodNotAllowed } from '../http/errors.js';
import type { Logger } from '../logger.js';
import { errorSummary } from '../signing/signing-keys.js';

/**
 * GET /healthz — liveness: the process serves HTTP (restart it if not). It never looks at
 * dependencies, so an outage of PostgreSQL or Redis does not get every replica restarted.
 * GET /readyz — readiness: every store answers (route traffic here only if so). 200 or 503 with
 * one entry per store; error details go to the log, never into the unauthenticated response.
 */

export interface ReadinessCheck {
  /** What is checked: `clients`, `keys`, `replay`, or `server` (503 `draining` during shutdown). */
  readonly name: string;
  /** `sqlite`, `postgres`, `redis`: shown in the response. */
  readonly backend?: string;
  /** Resolves when ready; rejects (a {@link NotReadyError} chooses the status shown) otherwise. */
  check(): Promise<void>;
}

export class NotReadyError extends Error {
  override readonly name = 'NotReadyError';
  constructor(readonly status: string) {
    super(status);
  }
}

/** A check that has not answered within this time counts as down (probes have short timeouts). */
export const READINESS_TIMEOUT_MS = 2000;

interface CheckResult {
  readonly status: string;
  readonly backend?: string;
}

export function healthRoutes(checks: readonly ReadinessCheck[], logger: Logger): Router {
  const router = Router();
  const lastStatus = new Map<string, string>();

  router.get('/healthz', (_req, res) => {
    res.status(200).set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  router.all('/healthz', methodNotAllowed('GET'));

  router.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      checks.map(async (check): Promise<[string, CheckResult]> => {
        const backend = check.backend !== undefined ? { backend: check.backend } : {};
        try {
          await withTimeout(check.check(), READINESS_TIMEOUT_MS);
          noteChange(check.name, 'up');
          return [check.name, { status: 'up', ...backend }];
        } catch (error) {
          const status = error instanceof NotReadyError ? error.status : 'down';
          noteChange(check.name, status, error);
          return [check.name, { status, ...backend }];
        }
      }),
    );
    const ready = results.every(([, result]) => result.status === 'up');
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ status: ready ? 'ready' : 'unavailable', checks: Object.fromEntries(results) });
  });
  router.all('/readyz', methodNotAllowed('GET'));

  /** One log line per change of a dependency's state, not one per probe. */
  function noteChange(name: string, status: string, error?: unknown): void {
    const previous = lastStatus.get(name);
    lastStatus.set(name, status);
    if (previous === status || (previous === undefined && status === 'up')) return;
    const fields = {
      event: 'readiness',
      check: name,
      status,
      ...(error !== undefined && { err: errorSummary(error) }),
    };
    if (status === 'up') logger.info(fields, `${name} is ready again`);
    else logger.warn(fields, `${name} is not ready`);
  }

  return router;
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
