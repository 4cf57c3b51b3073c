import { DEFAULT_CLOCK_SKEW_SECONDS } from '@smart-backend/protocol';
import { z } from 'zod';

/**
 * The operator contract (DESIGN.md "Operator contract", fhir-api): every setting comes from one
 * environment variable, validated here once at start-up. Nothing else reads `process.env`.
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** An absolute http(s) URL without query or fragment; a trailing slash is dropped. */
const BaseUrl = z
  .string()
  .trim()
  .refine((text) => {
    try {
      const url = new URL(text);
      return (
        (url.protocol === 'http:' || url.protocol === 'https:') &&
        !text.includes('?') &&
        !text.includes('#') &&
        !url.username &&
        !url.password
      );
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) URL without query, fragment or credentials')
  .transform((text) => text.replace(/\/+$/, ''));

const Boolean01 = z
  .string()
  .trim()
  .toLowerCase()
  .refine((text) => ['true', 'false', '1', '0'].includes(text), 'must be true, false, 1 or 0')
  .transform((text) => text === 'true' || text === '1');

const Port = z
  .string()
  .trim()
  .regex(/^\d+$/, 'must be an integer from 0 to 65535')
  .transform(Number)
  .refine((port) => port <= 65535, 'must be an integer from 0 to 65535');

const EnvSchema = z.object({
  PORT: Port.default(4001),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  PUBLIC_URL: BaseUrl.optional(),
  AUTH_URL: BaseUrl.default('http://localhost:4000'),
  DATA_DIR: z.string().trim().min(1).default('./data'),
  SEED: Boolean01.default(false),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  CLOCK_SKEW: z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number of seconds')
    .transform(Number)
    .refine((seconds) => seconds <= 300, 'must be at most 300 seconds')
    .default(DEFAULT_CLOCK_SKEW_SECONDS),
});

export interface Config {
  readonly port: number;
  readonly host: string;
  /** As configured; undefined = `http://localhost:<bound port>` once the server listens. */
  readonly publicUrl: string | undefined;
  /** The auth server's base URL: its JWKS and discovery live there, and tokens' `iss` must equal it. */
  readonly authUrl: string;
  readonly dataDir: string;
  readonly seed: boolean;
  readonly logLevel: LogLevel;
  /** Tolerance for `exp`/`nbf`/`iat` of access tokens, in seconds. */
  readonly clockSkewSeconds: number;
}

/** What the app needs at run time: the configuration with its public URLs settled. */
export interface AppConfig {
  /** e.g. `https://fhir.example.org` — the public origin (and path prefix) of this server. */
  readonly publicUrl: string;
  /** `publicUrl + '/fhir'`: the audience access tokens must name, and the base of every link. */
  readonly fhirBaseUrl: string;
  readonly authUrl: string;
  readonly clockSkewSeconds: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`invalid configuration: ${variable} ${detail}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws `ConfigError` naming the first bad variable. Empty = unset. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(
    Object.keys(EnvSchema.shape)
      .map((name) => [name, env[name]] as const)
      .filter(([, value]) => value !== undefined && value.trim() !== ''),
  );
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    const value = present[variable];
    // A URL with user info may carry a password: never echo it.
    const shown = value === undefined || value.includes('@') ? '' : ` (got ${JSON.stringify(value)})`;
    throw new ConfigError(variable, `${issue?.message ?? 'is invalid'}${shown}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.PUBLIC_URL,
    authUrl: e.AUTH_URL,
    dataDir: e.DATA_DIR,
    seed: e.SEED,
    logLevel: e.LOG_LEVEL,
    clockSkewSeconds: e.CLOCK_SKEW,
  };
}

/** Settles the public URLs once the listening port is known (PORT=0 → the bound port). */
export function resolveAppConfig(config: Config, boundPort: number): AppConfig {
  const publicUrl = config.publicUrl ?? `http://localhost:${boundPort}`;
  return {
    publicUrl,
    fhirBaseUrl: `${publicUrl}/fhir`,
    authUrl: config.authUrl,
    clockSkewSeconds: config.clockSkewSeconds,
  };
}
