import { OAuthError } from '@smart-backend/protocol';
import type { NextFunction, Request, Response } from 'express';
import type { TokenVerifier, VerifiedToken } from './token-verifier.js';

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * RFC 6750 §2.3 / RS-07: a token in the URL ends up in logs and browser history; the request is
 * refused (even where no token is needed) so the client learns to stop sending it there.
 */
export function refuseTokenInQuery(req: Request, _res: Response, next: NextFunction): void {
  const query = req.originalUrl.indexOf('?');
  if (query >= 0 && new URLSearchParams(req.originalUrl.slice(query + 1)).has('access_token')) {
    throw new OAuthError(
      'token.in_query',
      'send the access token in the Authorization header (RFC 6750 section 2.1)',
    );
  }
  next();
}

/** The `Authorization: Bearer` credential (RFC 6750 §2.1), or a `token.missing` / `token.malformed` refusal. */
export function bearerToken(req: Request): string {
  const header = req.headers.authorization;
  if (header === undefined || header.trim() === '') {
    throw new OAuthError('token.missing', 'send Authorization: Bearer <access token>');
  }
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) {
    throw new OAuthError('token.missing', 'the Authorization header must use the Bearer scheme');
  }
  const token = match[1] ?? '';
  if (!B64TOKEN.test(token)) {
    throw new OAuthError('token.malformed', 'the bearer token contains characters a JWT never has');
  }
  return token;
}

/** Verifies the bearer token of every request it guards and keeps the result for the handlers. */
export function authenticate(verifier: TokenVerifier) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const verified = await verifier.verify(bearerToken(req));
    res.locals.token = verified;
    next();
  };
}

/** The verified token of an authenticated request. */
export function verifiedToken(res: Response): VerifiedToken {
  const token = res.locals.token as VerifiedToken | undefined;
  if (!token) throw new Error('verifiedToken() used on a route that does not authenticate');
  return token;
}
