import { OAuthError } from '@smart-backend/protocol';
import type { Request, Response } from 'express';
import type { StoredResource } from '../store/resource-store.js';
import { FHIR_CONTENT_TYPE } from './operation-outcome.js';

/** `W/"<versionId>"` (FHIR R4 http §3.1.0.5.1). */
export function versionEtag(versionId: number): string {
  return `W/"${versionId}"`;
}

/**
 * Sends one resource version with its ETag and Last-Modified; `location` adds the versioned URL
 * (FHIR R4 http §3.1.0.8 create / §3.1.0.4 update). `Prefer: return=minimal` drops the body.
 */
export function sendResource(
  req: Request,
  res: Response,
  status: number,
  resource: StoredResource,
  options: { fhirBaseUrl: string; location?: boolean },
): void {
  res.status(status).set('ETag', versionEtag(resource.versionId));
  res.set('Last-Modified', new Date(resource.lastUpdated).toUTCString());
  if (options.location) {
    res.set(
      'Location',
      `${options.fhirBaseUrl}/${resource.type}/${resource.id}/_history/${resource.versionId}`,
    );
  }
  if (prefersMinimalReturn(req.get('prefer'))) {
    res.end();
    return;
  }
  res.type(FHIR_CONTENT_TYPE).send(resource.json);
}

export function sendFhirJson(res: Response, status: number, json: string): void {
  res.status(status).type(FHIR_CONTENT_TYPE).send(json);
}

function prefersMinimalReturn(prefer: string | undefined): boolean {
  return (
    prefer !== undefined &&
    prefer.split(/[,;]/).some((part) => part.trim().toLowerCase().replace(/\s+/g, '') === 'return=minimal')
  );
}

/**
 * `If-Match: W/"<versionId>"` (FHIR R4 http §3.1.0.5.2, version-aware updates). Undefined when
 * absent or `*`; an ETag that names no version can never match.
 */
export function ifMatchVersion(req: Request): number | undefined {
  const header = req.headers['if-match'];
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"(\d{1,9})"\s*$/.exec(header);
  if (!match) {
    throw new OAuthError('fhir.version_conflict', `If-Match ${header.slice(0, 64)} is not W/"<versionId>"`);
  }
  return Number(match[1]);
}
