import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { OAuthError, REASONS, REASON_CODES, reasonFromErrorDescription } from '../src/index.js';

describe('OAuthError', () => {
  it('takes error and status from the catalogue and leads error_description with the reason', () => {
    const error = new OAuthError(
      'assertion.exp_too_far',
      'exp is 3600 s in the future; at most 310 s is allowed',
    );
    expect(error.error).toBe('invalid_client');
    expect(error.status).toBe(400);
    expect(error.toJSON()).toEqual({
      error: 'invalid_client',
      error_description: 'assertion.exp_too_far: exp is 3600 s in the future; at most 310 s is allowed',
    });
    expect(reasonFromErrorDescription(error.toJSON().error_description)).toBe('assertion.exp_too_far');
  });

  it('falls back to the catalogue summary', () => {
    expect(new OAuthError('grant_type.unsupported').toJSON()).toEqual({
      error: 'unsupported_grant_type',
      error_description: 'grant_type.unsupported: only grant_type=client_credentials is supported',
    });
  });

  it('reads no reason out of foreign descriptions', () => {
    expect(reasonFromErrorDescription('invalid client: nope')).toBeUndefined();
    expect(reasonFromErrorDescription(undefined)).toBeUndefined();
    expect(reasonFromErrorDescription('constructor: x')).toBeUndefined();
  });
});

describe('the reason catalogue', () => {
  it('token-endpoint client-authentication failures are invalid_client with HTTP 400 (VAL-09, §2.8.3)', () => {
    for (const code of REASON_CODES.filter(
      (c) => c.startsWith('assertion.') || c.startsWith('client_assertion_type.'),
    )) {
      expect([code, REASONS[code].error, REASONS[code].status]).toEqual([code, 'invalid_client', 400]);
    }
  });

  it('scope refusals are invalid_scope with HTTP 400 (E21, E22)', () => {
    for (const code of REASON_CODES.filter((c) => c.startsWith('scope.'))) {
      expect([code, REASONS[code].error, REASONS[code].status]).toEqual([code, 'invalid_scope', 400]);
    }
  });

  it('is documented in the README, code by code', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const documented = new Map(
      readme
        .split('\n')
        .map((line) => line.split('|').map((cell) => cell.trim().replaceAll('`', '')))
        .filter((cells) => cells.length >= 5)
        .map((cells) => [cells[1], `${cells[2]} ${cells[3]}`]),
    );
    const undocumented = REASON_CODES.filter(
      (code) => documented.get(code) !== `${REASONS[code].error} ${REASONS[code].status}`,
    );
    expect(undocumented).toEqual([]);
  });
});
