import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { VerifiedToken } from '../auth/token-verifier.js';

/**
 * One line per request: method, path (no query string: search values can be personal data), status,
 * duration, the client and, for refusals, the reason code. Never the token or a body.
 */
export function requestLog(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const token = res.locals.token as VerifiedToken | undefined;
      const reason = res.locals.reason as string | undefined;
      const fields = {
        method: req.method,
        path: req.originalUrl.split('?')[0],
        status: res.statusCode,
        ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        ...(token ? { client: token.clientId } : {}),
        ...(reason ? { reason } : {}),
      };
      if (res.statusCode >= 500) logger.error(fields, 'request');
      else logger.info(fields, 'request');
    });
    next();
  };
}
