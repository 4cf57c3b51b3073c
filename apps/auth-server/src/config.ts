import path from 'node:path';
import {
  ACCESS_TOKEN_ALGORITHMS,
  DEFAULT_CLOCK_SKEW_SECONDS,
  MAX_ACCESS_TOKEN_TTL_SECONDS,
  type AccessTokenAlgorithm,
} from '@smart-backend/protocol';
import { z } from 'zod';

/**
 * The operator contract (DESIGN.md "Operator contract"): every environment variable the server
 * reads, parsed once at start-up. This is the only file that reads `process.env`.
 */
export interface Config {
  readonly port: number;
  readonly host: string;
  /** Issuer of access tokens; the token endpoint is `${publicUrl}/token`. No trailing slash. */
  readonly publicUrl: string;
  /** True when PUBLIC_URL was not set and `publicUrl` derives from PORT (main.ts fixes it up for PORT=0). */
  readonly publicUrlFromPort: boolean;
  /** Audience of issued access tokens. No trailing slash. */
  readonly fhirBaseUrl: string;
  readonly clockSkewSeconds: number;
  /** Bearer secret for /register, /clients and /introspect; undefined → those answer 403. */
  readonly adminToken: string | undefined;
  /** Absolute path. */
  readonly dataDir: string;
  readonly accessTokenTtlSeconds: number;
  readonly accessTokenAlg: AccessTokenAlgorithm;
  /**
   * KEY_ACTIVATION_DELAY: seconds between a rotation and the moment its key starts signing. The key
   * is published at once, so resource servers caching the JWKS know it before any token carries it.
   * Every replica (and `smart-auth`) must use the same value.
   */
  readonly keyActivationDelaySeconds: number;
  readonly logLevel: LogLevel;
  /**
   * DATABASE_URL (postgres://…): clients and signing keys in PostgreSQL, shared by every replica.
   * Undefined → SQLite under `dataDir`. A secret (it may carry a password): never log it, use
   * `redactUrl`.
   */
  readonly databaseUrl: string | undefined;
  /** REDIS_URL (redis:// or rediss://): the replay cache in Redis. Undefined → SQLite. A secret. */
  readonly redisUrl: string | undefined;
  /** REDIS_KEY_PREFIX: every Redis key this server writes starts with it (several deployments, one Redis). */
  readonly redisKeyPrefix: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const MIN_ADMIN_TOKEN_LENGTH = 16;

export const DEFAULT_REDIS_KEY_PREFIX = 'smart-auth:';

/**
 * Default KEY_ACTIVATION_DELAY: a resource server learns a published key within its JWKS cache
 * lifetime (the FHIR API: 60 s) plus what an HTTP cache in between may add (the JWKS endpoint says
 * `max-age=60`).
 */
export const DEFAULT_KEY_ACTIVATION_DELAY_SECONDS = 120;
export const MAX_KEY_ACTIVATION_DELAY_SECONDS = 3600;

/** A configuration problem; `variable` names the environment variable at fault. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be an integer from ${min} to ${max}`);

/** An absolute http(s) base URL without query, fragment or credentials; a trailing slash is dropped. */
const baseUrl = z
  .string()
  .trim()
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: `must be an absolute http(s) URL, got ${JSON.stringify(value)}`,
      });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      ctx.addIssue({ code: 'custom', message: 'must use http or https' });
    else if (url.search || url.hash || value.includes('?') || value.includes('#'))
      ctx.addIssue({ code: 'custom', message: 'must not have a query or fragment' });
    else if (url.username || url.password)
      ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
  })
  .transform(stripTrailingSlash);

/**
 * A connection URL with one of `schemes`. The message never repeats the value: connection strings
 * carry passwords, and configuration errors go to stderr and log collectors.
 */
const connectionUrl = (schemes: readonly string[]) =>
  z
    .string()
    .trim()
    .refine(
      (value) => {
        try {
          const url = new URL(value);
          return schemes.includes(url.protocol) && url.hostname !== '';
        } catch {
          return false;
        }
      },
      `must be a ${schemes.map((s) => `${s}//`).join(' or ')} URL with a host (value not shown: it may hold a password)`,
    );

const SCHEMAS = {
  PORT: integer(0, 65535).default(4000),
  HOST: z.string().trim().min(1, 'must not be empty').default('127.0.0.1'),
  PUBLIC_URL: baseUrl.optional(),
  FHIR_BASE_URL: baseUrl.default('http://localhost:4001/fhir'),
  CLOCK_SKEW: integer(0, 300).default(DEFAULT_CLOCK_SKEW_SECONDS),
  ADMIN_TOKEN: z
    .string()
    .refine(
      (token) => token.length >= MIN_ADMIN_TOKEN_LENGTH,
      `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (or unset to disable administration)`,
    )
    .refine((token) => !/\s/.test(token), 'must not contain whitespace')
    .optional(),
  DATA_DIR: z.string().trim().min(1, 'must not be empty').default('./data'),
  ACCESS_TOKEN_TTL: integer(1, MAX_ACCESS_TOKEN_TTL_SECONDS).default(MAX_ACCESS_TOKEN_TTL_SECONDS),
  ACCESS_TOKEN_ALG: z
    .enum(ACCESS_TOKEN_ALGORITHMS, { error: `must be one of ${ACCESS_TOKEN_ALGORITHMS.join(', ')}` })
    .default('ES256'),
  KEY_ACTIVATION_DELAY: integer(0, MAX_KEY_ACTIVATION_DELAY_SECONDS).default(
    DEFAULT_KEY_ACTIVATION_DELAY_SECONDS,
  ),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  DATABASE_URL: connectionUrl(['postgres:', 'postgresql:']).optional(),
  REDIS_URL: connectionUrl(['redis:', 'rediss:']).optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[\x21-\x7e]{1,64}$/, 'must be 1 to 64 printable ASCII characters without spaces')
    .default(DEFAULT_REDIS_KEY_PREFIX),
};
type Variable = keyof typeof SCHEMAS;

function read<V extends Variable>(env: Env, variable: V): z.output<(typeof SCHEMAS)[V]> {
  const raw = env[variable];
  // An empty variable is the same as an unset one (docker/compose env files write `X=`).
  const result = SCHEMAS[variable].safeParse(raw === '' ? undefined : raw);
  if (!result.success) throw new ConfigError(variable, result.error.issues[0]?.message ?? 'is invalid');
  return result.data as z.output<(typeof SCHEMAS)[V]>;
}

/** Parses the server configuration; throws {@link ConfigError} naming the first bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const port = read(env, 'PORT');
  const publicUrl = read(env, 'PUBLIC_URL');
  return {
    port,
    host: read(env, 'HOST'),
    publicUrl: publicUrl ?? `http://localhost:${port}`,
    publicUrlFromPort: publicUrl === undefined,
    fhirBaseUrl: read(env, 'FHIR_BASE_URL'),
    clockSkewSeconds: read(env, 'CLOCK_SKEW'),
    adminToken: read(env, 'ADMIN_TOKEN'),
    dataDir: path.resolve(read(env, 'DATA_DIR')),
    accessTokenTtlSeconds: read(env, 'ACCESS_TOKEN_TTL'),
    accessTokenAlg: read(env, 'ACCESS_TOKEN_ALG'),
    keyActivationDelaySeconds: read(env, 'KEY_ACTIVATION_DELAY'),
    logLevel: read(env, 'LOG_LEVEL'),
    databaseUrl: read(env, 'DATABASE_URL'),
    redisUrl: read(env, 'REDIS_URL'),
    redisKeyPrefix: read(env, 'REDIS_KEY_PREFIX'),
  };
}

/** With PORT=0 and no PUBLIC_URL, the public URL names the port actually bound. */
export function withBoundPort(config: Config, boundPort: number): Config {
  if (!config.publicUrlFromPort) return config;
  return { ...config, port: boundPort, publicUrl: `http://localhost:${boundPort}` };
}

/**
 * What `smart-auth keys …` needs: where the keys live, when a new key starts signing and how long
 * old keys must stay published (the same variables as the server's, so both agree).
 */
export interface KeysCliConfig {
  readonly dataDir: string;
  /** When set, the keys live in this PostgreSQL database (as for the server), not under dataDir. */
  readonly databaseUrl: string | undefined;
  readonly accessTokenAlg: AccessTokenAlgorithm;
  readonly accessTokenTtlSeconds: number;
  readonly clockSkewSeconds: number;
  readonly keyActivationDelaySeconds: number;
}

export function loadKeysCliConfig(env: Env = process.env): KeysCliConfig {
  return {
    dataDir: path.resolve(read(env, 'DATA_DIR')),
    databaseUrl: read(env, 'DATABASE_URL'),
    accessTokenAlg: read(env, 'ACCESS_TOKEN_ALG'),
    accessTokenTtlSeconds: read(env, 'ACCESS_TOKEN_TTL'),
    clockSkewSeconds: read(env, 'CLOCK_SKEW'),
    keyActivationDelaySeconds: read(env, 'KEY_ACTIVATION_DELAY'),
  };
}

/** Parses an ACCESS_TOKEN_ALG value given on the command line. */
export function parseAccessTokenAlg(value: string): AccessTokenAlgorithm {
  const result = SCHEMAS.ACCESS_TOKEN_ALG.safeParse(value);
  if (!result.success) throw new ConfigError('--alg', result.error.issues[0]?.message ?? 'is invalid');
  return result.data;
}

/**
 * A connection URL fit for logs and error messages: the password replaced by `***`, the query
 * (which may carry `password=` or TLS key paths) dropped.
 */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    url.search = '';
    url.hash = '';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}

function stripTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
