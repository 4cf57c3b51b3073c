import { MAX_ASSERTION_LIFETIME_SECONDS } from '@smart-backend/protocol';
import { redactUrl, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { ClientStore, KeyStore, ReplayCache } from './interfaces.js';
import { openPostgresStores } from './postgres.js';
import { looseDirectoryWarning } from './private-files.js';
import { RedisReplayCache, type RedisCacheEvent } from './redis.js';
import { SqliteClientStore, SqliteKeyStore, SqliteReplayCache } from './sqlite.js';

/**
 * Chooses the backend of each store from the configuration: DATABASE_URL → clients and signing
 * keys in PostgreSQL; REDIS_URL → the replay cache in Redis; whatever is unset stays in SQLite
 * under DATA_DIR (the embedded default). Either URL may be set alone.
 */

export type Backend = 'sqlite' | 'postgres' | 'redis';

/** One store as GET /readyz reports it. */
export interface StoreCheck {
  readonly name: 'clients' | 'keys' | 'replay';
  readonly backend: Backend;
  check(): Promise<void>;
}

export interface OpenedStores {
  readonly clients: ClientStore;
  readonly replay: ReplayCache;
  readonly keys: KeyStore;
  readonly readiness: readonly StoreCheck[];
  /** The `stores opened` log line (backends, redacted URLs): logged after `listening`. */
  readonly summary: Readonly<Record<string, unknown>>;
  /** Problems found while opening, to log after `listening` (which must be the first line). */
  readonly warnings: readonly StartupWarning[];
  /** Closes every store (each backend once). */
  close(): Promise<void>;
}

export interface StartupWarning {
  readonly level?: 'warn' | 'error';
  readonly fields: Readonly<Record<string, unknown>>;
  readonly msg: string;
}

export type StoreConfig = Pick<
  Config,
  'dataDir' | 'databaseUrl' | 'redisUrl' | 'redisKeyPrefix' | 'clockSkewSeconds'
>;

/** A start-up failure naming the service, with the connection URL redacted. */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
}

/**
 * How long the Redis replay cache refuses claims after losing its data: an assertion accepted just
 * before the loss has `exp` ≤ now + 300 s + skew and is accepted until `exp` + skew.
 */
export function dataLossQuarantineSeconds(clockSkewSeconds: number): number {
  return MAX_ASSERTION_LIFETIME_SECONDS + 2 * clockSkewSeconds;
}

export async function openStores(config: StoreConfig, logger: Logger): Promise<OpenedStores> {
  const opened: Array<{ close(): Promise<void> }> = [];
  const closeAll = async () => {
    await Promise.allSettled(opened.map((store) => store.close()));
  };
  try {
    let clients: ClientStore;
    let keys: KeyStore;
    let sharedBackend: Backend;
    if (config.databaseUrl !== undefined) {
      const where = redactUrl(config.databaseUrl);
      const pg = await openPostgresStores(config.databaseUrl, {
        onConnectionError: (error) =>
          logger.warn({ event: 'database', err: describeError(error) }, 'PostgreSQL connection lost'),
      }).catch((error: unknown) => {
        throw new StoreOpenError(`PostgreSQL at ${where}: ${describeError(error).message}`, { cause: error });
      });
      clients = pg.clients;
      keys = pg.keys;
      sharedBackend = 'postgres';
    } else {
      clients = new SqliteClientStore(config.dataDir);
      keys = new SqliteKeyStore(config.dataDir);
      sharedBackend = 'sqlite';
    }
    opened.push(clients, keys);

    let replay: ReplayCache;
    if (config.redisUrl !== undefined) {
      const where = redactUrl(config.redisUrl);
      replay = await RedisReplayCache.open(config.redisUrl, {
        keyPrefix: config.redisKeyPrefix,
        dataLossQuarantineSeconds: dataLossQuarantineSeconds(config.clockSkewSeconds),
        onEvent: (event) => logRedisEvent(logger, event),
      }).catch((error: unknown) => {
        throw new StoreOpenError(`Redis at ${where}: ${describeError(error).message}`, { cause: error });
      });
    } else {
      replay = new SqliteReplayCache(config.dataDir, {
        onPruneError: (error) =>
          logger.warn({ event: 'replay_prune', err: describeError(error) }, 'replay prune failed'),
      });
    }
    opened.push(replay);
    const replayBackend: Backend = config.redisUrl !== undefined ? 'redis' : 'sqlite';

    const summary: Record<string, unknown> = {
      event: 'storage',
      clients: sharedBackend,
      keys: sharedBackend,
      replay: replayBackend,
      ...(config.databaseUrl !== undefined && { database: redactUrl(config.databaseUrl) }),
      ...(config.redisUrl !== undefined && {
        redis: redactUrl(config.redisUrl),
        redis_key_prefix: config.redisKeyPrefix,
      }),
      ...((config.databaseUrl === undefined || config.redisUrl === undefined) && {
        data_dir: config.dataDir,
      }),
    };
    const warnings: StartupWarning[] = [];
    if (config.databaseUrl === undefined || config.redisUrl === undefined) {
      const loose = looseDirectoryWarning(config.dataDir);
      if (loose) {
        warnings.push({
          fields: { event: 'storage', ...loose },
          msg: `DATA_DIR is open to other users (mode ${loose.mode}); its files are 0600, but run chmod 700 on it`,
        });
      }
    }
    if (replay instanceof RedisReplayCache) {
      const policy = replay.evictionPolicy;
      if (policy !== undefined && policy !== 'noeviction') {
        warnings.push({
          fields: { event: 'replay_cache', maxmemory_policy: policy },
          msg: 'Redis may evict replay records under memory pressure: set maxmemory-policy noeviction',
        });
      }
      if (replay.dataLossQuarantineUntil > Date.now()) {
        logRedisEvent(
          logger,
          { type: 'data_loss', quarantineUntil: replay.dataLossQuarantineUntil },
          warnings,
        );
      }
    }
    return {
      clients,
      replay,
      keys,
      readiness: [
        { name: 'clients', backend: sharedBackend, check: () => clients.ping() },
        { name: 'keys', backend: sharedBackend, check: () => keys.ping() },
        { name: 'replay', backend: replayBackend, check: () => replay.ping() },
      ],
      summary,
      warnings,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function logRedisEvent(logger: Logger, event: RedisCacheEvent, defer?: StartupWarning[]): void {
  switch (event.type) {
    case 'connection_lost':
      logger.warn(
        { event: 'replay_cache', state: 'down', err: describeError(event.error) },
        'Redis connection lost: token requests fail closed (503) until it is back',
      );
      break;
    case 'reconnected':
      logger.info({ event: 'replay_cache', state: 'up' }, 'Redis connection restored');
      break;
    case 'data_loss': {
      const warning: StartupWarning = {
        level: 'error',
        fields: {
          event: 'replay_cache',
          state: 'data_loss',
          quarantine_until: new Date(event.quarantineUntil).toISOString(),
        },
        msg: 'Redis lost the replay records: token requests are refused until every assertion accepted before has expired',
      };
      if (defer) defer.push(warning);
      else logger.error(warning.fields, warning.msg);
      break;
    }
  }
}

/**
 * Name, message and code of an error, for logs and start-up messages. Node reports a refused
 * connection to a host with several addresses as an AggregateError with an empty message.
 */
export function describeError(error: unknown): { name: string; message: string; code?: string } {
  if (error instanceof AggregateError && error.message === '') {
    const inner = error.errors.map((e) => describeError(e).message).filter(Boolean);
    return { name: error.name, message: [...new Set(inner)].join('; ') || 'connection failed' };
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message || (typeof code === 'string' ? code : 'failed'),
      ...(typeof code === 'string' && { code }),
    };
  }
  return { name: 'Error', message: String(error) };
}
