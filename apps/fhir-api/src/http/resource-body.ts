import { OAuthError } from '@smart-backend/protocol';
import type { Request } from 'express';
import type { FhirResource } from '../search/criteria.js';

/** Request bodies larger than this are refused with 413 (ATK-20). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** FHIR resources nest a dozen levels; anything far deeper is hostile input (ATK-20). */
export const MAX_JSON_DEPTH = 100;

const RESOURCE_MEDIA_TYPES = new Set(['application/fhir+json', 'application/json']);

/**
 * Reads a resource body in the order that refuses bad input cheapest first: media type (415) →
 * size (413) → UTF-8 and JSON (400 fhir.invalid_json) → a JSON object with a resourceType
 * (fhir.invalid_resource) → the type named in the URL (fhir.resource_type_mismatch).
 */
export async function readResourceBody(req: Request, expectedType: string): Promise<FhirResource> {
  checkMediaType(req, RESOURCE_MEDIA_TYPES, 'application/fhir+json or application/json');
  const text = await readUtf8Body(req, MAX_BODY_BYTES);
  const value = parseJson(text);
  return checkResource(value, expectedType);
}

/** Form-encoded body of `POST [type]/_search` (FHIR R4 http §3.1.0.9), as text. */
export async function readSearchForm(req: Request): Promise<string> {
  if (!hasBody(req)) return '';
  checkMediaType(req, new Set(['application/x-www-form-urlencoded']), 'application/x-www-form-urlencoded');
  return readUtf8Body(req, MAX_BODY_BYTES);
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** A media type we accept, with at most a UTF-8 charset (and FHIR's fhirVersion) parameter. */
function checkMediaType(req: Request, accepted: ReadonlySet<string>, expected: string): void {
  const header = req.headers['content-type'];
  if (!header) {
    throw new OAuthError('fhir.unsupported_media_type', `the body needs a Content-Type of ${expected}`);
  }
  const [type = '', ...params] = header.split(';').map((part) => part.trim());
  if (!accepted.has(type.toLowerCase())) {
    throw new OAuthError(
      'fhir.unsupported_media_type',
      `Content-Type ${type || '(empty)'} is not ${expected}`,
    );
  }
  for (const param of params) {
    const [name = '', value = ''] = param.split('=').map((s) => s.trim().toLowerCase());
    if (name === 'charset' && value.replace(/"/g, '') !== 'utf-8') {
      throw new OAuthError('fhir.unsupported_media_type', `charset ${value} is not supported; send UTF-8`);
    }
  }
}

async function readUtf8Body(req: Request, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new OAuthError(
      'fhir.body_too_large',
      `the body is ${declared} bytes; at most ${maxBytes} are accepted`,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    // destroyOnReturn: false keeps the socket usable to send the 413 if the body is too long.
    for await (const chunk of req.iterator({ destroyOnReturn: false })) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > maxBytes) {
        req.resume(); // discard the rest
        throw new OAuthError('fhir.body_too_large', `the body is larger than ${maxBytes} bytes`);
      }
      chunks.push(buffer);
    }
  } catch (error) {
    if (error instanceof OAuthError) throw error;
    throw bodyNotReceived(error);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new OAuthError('fhir.invalid_json', 'the body is not valid UTF-8');
  }
}

/**
 * The request stream failed before its end: the client closed the connection mid-body, or the
 * server cut it (request timeout). Either way the client did not send a request, so this is a
 * client error, not a fault of the server.
 */
function bodyNotReceived(cause: unknown): OAuthError {
  return new OAuthError('request.malformed_body', 'the request body was not received completely', {
    cause,
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') throw new OAuthError('fhir.invalid_json', 'the body is empty');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new OAuthError(
      'fhir.invalid_json',
      `the body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function checkResource(value: unknown, expectedType: string): FhirResource {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OAuthError('fhir.invalid_resource', 'the body must be a JSON object (a FHIR resource)');
  }
  const resourceType = (value as { resourceType?: unknown }).resourceType;
  if (typeof resourceType !== 'string' || resourceType === '') {
    throw new OAuthError('fhir.invalid_resource', 'the body has no resourceType');
  }
  if (resourceType !== expectedType) {
    throw new OAuthError(
      'fhir.resource_type_mismatch',
      `the body is a ${resourceType.slice(0, 64)} but the URL names ${expectedType}`,
    );
  }
  const id = (value as { id?: unknown }).id;
  if (id !== undefined && typeof id !== 'string') {
    throw new OAuthError('fhir.invalid_resource', 'id must be a string');
  }
  checkMembers(value);
  return value as FhirResource;
}

/**
 * One iterative walk (hostile nesting cannot exhaust the stack here): nesting depth, and member
 * names. `__proto__` is never a FHIR element name (FHIR R4 JSON §2.6.2: element names start with a
 * letter), and code that copies members into a plain object would turn it into a prototype, so
 * what it reads would differ from what it stores: it is refused wherever it appears.
 */
function checkMembers(root: object): void {
  interface Node {
    readonly value: object;
    readonly depth: number;
    readonly parent: Node | undefined;
    readonly name: string;
  }
  const stack: Node[] = [{ value: root, depth: 1, parent: undefined, name: '' }];
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    if (node.depth > MAX_JSON_DEPTH) {
      throw new OAuthError(
        'fhir.invalid_resource',
        `the resource nests deeper than ${MAX_JSON_DEPTH} levels`,
      );
    }
    const array = Array.isArray(node.value);
    for (const [name, child] of Object.entries(node.value)) {
      if (!array && name === '__proto__') {
        throw new OAuthError(
          'fhir.invalid_resource',
          `the member ${memberPath(node, name).slice(0, 200)} is not a FHIR element name`,
        );
      }
      if (typeof child === 'object' && child !== null) {
        stack.push({ value: child, depth: node.depth + 1, parent: node, name: array ? `[${name}]` : name });
      }
    }
  }

  function memberPath(node: Node, name: string): string {
    const names = [name];
    for (let at: Node | undefined = node; at?.parent; at = at.parent) names.unshift(at.name);
    return names.join('.').replaceAll('.[', '[');
  }
}
