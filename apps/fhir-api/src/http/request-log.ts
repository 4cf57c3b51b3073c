import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { VerifiedToken } from '../auth/token-verifier.js';

/**
 * One line per request: method, path (no query string: search values can be personal data), status,
 * duration, the client and, for refusals, the reason code. Never the token or a body.
 *
 * A request whose connection closed before its response was sent (the client went away, or the
 * server cut a request that was too slow) is logged once, at info, with `aborted: true` and no
 * status: nothing reached the client, and it is not a fault of the server.
 */
export function requestLog(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    const fields = (outcome: { status: number } | { aborted: true }) => {
      const token = res.locals.token as VerifiedToken | undefined;
      const reason = res.locals.reason as string | undefined;
      return {
        method: req.method,
        path: req.originalUrl.split('?')[0],
        ...outcome,
        ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        ...(token ? { client: token.clientId } : {}),
        ...(reason ? { reason } : {}),
      };
    };
    let finished = false;
    res.on('finish', () => {
      finished = true;
      const line = fields({ status: res.statusCode });
      if (res.statusCode >= 500) logger.error(line, 'request');
      else logger.info(line, 'request');
    });
    res.on('close', () => {
      if (!finished) logger.info(fields({ aborted: true }), 'request');
    });
    next();
  };
}
