import { createHash, timingSafeEqual } from 'node:crypto';
import { OAuthError, formatBearerChallenge } from '@smart-backend/protocol';
import type { RequestHandler } from 'express';

const REALM = 'smart-auth';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Administrator authentication for /register, /clients and /introspect: `Authorization: Bearer
 * ADMIN_TOKEN`, compared in constant time over SHA-256 digests (equal lengths, no early exit).
 * Without ADMIN_TOKEN the endpoints answer 403; a missing or wrong token is 401 (RFC 6750 §3).
 */
export function requireAdmin(adminToken: string | undefined): RequestHandler {
  const expected = adminToken === undefined ? undefined : digest(adminToken);
  return (req, res, next) => {
    if (expected === undefined) {
      throw new OAuthError(
        'admin.not_configured',
        'administration is disabled because ADMIN_TOKEN is not set',
      );
    }
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1] as string), expected)) {
      // RFC 6750 §3.1: no error code when no credential was sent. Nothing of the header is echoed.
      res.setHeader(
        'WWW-Authenticate',
        formatBearerChallenge(
          header === undefined ? { realm: REALM } : { realm: REALM, error: 'invalid_token' },
        ),
      );
      throw new OAuthError(
        'admin.unauthorized',
        header === undefined
          ? 'send Authorization: Bearer <ADMIN_TOKEN>'
          : 'the administrator bearer token is not valid',
      );
    }
    next();
  };
}
