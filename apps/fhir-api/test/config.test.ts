import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig, resolveAppConfig } from '../src/index.js';

// DESIGN.md "Operator contract" (fhir-api): PORT, HOST, PUBLIC_URL, AUTH_URL, DATA_DIR, SEED.
describe('loadConfig', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 4001,
      host: '127.0.0.1',
      publicUrl: undefined,
      authUrl: 'http://localhost:4000',
      dataDir: './data',
      seed: false,
      logLevel: 'info',
      clockSkewSeconds: 10,
    });
  });

  it('reads every variable; empty values count as unset; trailing slashes are dropped', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      PUBLIC_URL: 'https://fhir.example.org/',
      AUTH_URL: 'https://auth.example.org/',
      DATA_DIR: '/var/lib/fhir',
      SEED: 'TRUE',
      LOG_LEVEL: 'warn',
      CLOCK_SKEW: '',
    });
    expect(config).toEqual({
      port: 8080,
      host: '0.0.0.0',
      publicUrl: 'https://fhir.example.org',
      authUrl: 'https://auth.example.org',
      dataDir: '/var/lib/fhir',
      seed: true,
      logLevel: 'warn',
      clockSkewSeconds: 10,
    });
  });

  it.each([
    ['1', true],
    ['0', false],
    ['true', true],
    ['false', false],
  ])('SEED=%s → %s', (value, expected) => {
    expect(loadConfig({ SEED: value }).seed).toBe(expected);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['SEED', 'yes'],
    ['AUTH_URL', 'localhost:4000'],
    ['AUTH_URL', 'ftp://auth.example.org'],
    ['AUTH_URL', 'https://auth.example.org/?x=1'],
    ['PUBLIC_URL', 'not a url'],
    ['PUBLIC_URL', 'https://fhir.example.org/#frag'],
    ['PUBLIC_URL', 'http://user:secret@fhir.example.org'],
    ['AUTH_URL', 'https://user@auth.example.org'],
    ['LOG_LEVEL', 'loud'],
    ['CLOCK_SKEW', '5m'],
    ['CLOCK_SKEW', '3600'],
  ])('refuses %s=%s with a one-line message naming the variable', (variable, value) => {
    let error: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toContain(variable);
    expect((error as ConfigError).message).not.toContain('\n');
    expect((error as ConfigError).message).not.toContain('secret');
  });
});

describe('resolveAppConfig', () => {
  it('defaults PUBLIC_URL to http://localhost:<bound port> (PORT=0 → the bound port); FHIR base = PUBLIC_URL/fhir', () => {
    const config = resolveAppConfig(loadConfig({ PORT: '0' }), 54321);
    expect(config.publicUrl).toBe('http://localhost:54321');
    expect(config.fhirBaseUrl).toBe('http://localhost:54321/fhir');
  });

  it('uses PUBLIC_URL as given (path prefixes included)', () => {
    const config = resolveAppConfig(loadConfig({ PUBLIC_URL: 'https://api.example.org/ehr' }), 4001);
    expect(config.fhirBaseUrl).toBe('https://api.example.org/ehr/fhir');
  });
});
