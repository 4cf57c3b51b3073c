import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { DEFAULT_REDIS_KEY_PREFIX } from '../config.js';
import type { ReplayCache } from './interfaces.js';

/**
 * The shared replay cache (REDIS_URL): one Redis key per (`iss`, `jti`), written with an atomic
 * `SET key 1 NX PX ttl`, so exactly one replica accepts an assertion however many receive it.
 * Redis expires the records itself.
 *
 * Data loss: a Redis restart without persistence, a failover to a replica that missed writes or a
 * FLUSHALL forgets which assertions were used — replaying one would then succeed. The cache keeps an
 * epoch marker (`<prefix>epoch`, no TTL) and every claim checks it in the same atomic script. A
 * missing or replaced marker means the records may be gone: claims are refused (the token endpoint
 * answers 503) for a quarantine as long as any assertion accepted before the loss can still be
 * presented, and the quarantine is written into the new marker so other replicas honour it too.
 */

export class ReplayCacheUnavailableError extends Error {
  override readonly name = 'ReplayCacheUnavailableError';
}

export interface RedisReplayCacheOptions {
  /** Prefix of every key (REDIS_KEY_PREFIX, default `smart-auth:`). */
  readonly keyPrefix?: string;
  /**
   * How long claims are refused after Redis lost its data: the longest an assertion accepted just
   * before the loss stays acceptable (the server passes 300 s + 2 × CLOCK_SKEW).
   */
  readonly dataLossQuarantineSeconds: number;
  /** Epoch milliseconds. */
  readonly now?: () => number;
  /** Connecting, and each command, fail after this long (default 2000 ms). */
  readonly timeoutMs?: number;
  /** Connection state changes and warnings (no secret: no URL, no key). */
  readonly onEvent?: (event: RedisCacheEvent) => void;
}

export type RedisCacheEvent =
  | { readonly type: 'connection_lost'; readonly error: unknown }
  | { readonly type: 'reconnected' }
  | { readonly type: 'data_loss'; readonly quarantineUntil: number };

/** SHA-256 in base64url: fixed length, no separator an `iss` or `jti` could inject. */
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64url');

/**
 * KEYS[1] the record, KEYS[2] the epoch marker; ARGV[1] the marker this process knows, ARGV[2] TTL
 * in ms. -1: the marker changed (possible data loss), 1: first use, 0: replay.
 */
const CLAIM_SCRIPT = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2]) then return 1 end
return 0`;

interface ClaimCommand {
  smartAuthClaim(record: string, marker: string, expected: string, ttlMs: number): Promise<number>;
}

interface EpochMarker {
  readonly id: string;
  /** Epoch ms; 0 for a marker written on an empty Redis at start-up. */
  readonly quarantineUntil: number;
}

function parseMarker(value: string | null): EpochMarker | undefined {
  if (value === null) return undefined;
  try {
    const parsed = JSON.parse(value) as { id?: unknown; quarantine_until?: unknown };
    if (typeof parsed.id === 'string' && typeof parsed.quarantine_until === 'number') {
      return { id: parsed.id, quarantineUntil: parsed.quarantine_until };
    }
  } catch {
    // not ours: treated like a missing marker
  }
  return undefined;
}

const markerValue = (quarantineUntil: number) =>
  JSON.stringify({ id: randomBytes(12).toString('base64url'), quarantine_until: quarantineUntil });

export class RedisReplayCache implements ReplayCache {
  private readonly prefix: string;
  private readonly markerKey: string;
  private readonly now: () => number;
  /** The marker value this process last saw; every claim asserts it is unchanged. */
  private marker = '';
  private quarantineUntil = 0;
  private resyncing: Promise<void> | undefined;
  private opened = false;
  private closed = false;
  /** Redis's maxmemory-policy when CONFIG could be read (anything but `noeviction` may drop records). */
  evictionPolicy: string | undefined;

  private constructor(
    private readonly redis: Redis,
    private readonly options: RedisReplayCacheOptions,
  ) {
    this.prefix = options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
    this.markerKey = `${this.prefix}epoch`;
    this.now = options.now ?? Date.now;
    redis.defineCommand('smartAuthClaim', { numberOfKeys: 2, lua: CLAIM_SCRIPT });
  }

  /**
   * Connects (rejecting if Redis does not answer within the timeout), reads or creates the epoch
   * marker and reads the eviction policy (`evictionPolicy`). Afterwards the client reconnects by itself; while
   * it is disconnected every claim rejects at once (no offline queue), so nothing waits on it.
   */
  static async open(url: string, options: RedisReplayCacheOptions): Promise<RedisReplayCache> {
    const timeoutMs = options.timeoutMs ?? 2000;
    const redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 0,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      // No retry while opening (open rejects at once); reconnection is switched on once open.
      retryStrategy: () => null,
    });
    const cache = new RedisReplayCache(redis, options);
    // One event per outage, not one per reconnection attempt (and none while opening: open rejects).
    let down = false;
    const lost = (error: unknown) => {
      if (down || !cache.opened || cache.closed) return;
      down = true;
      cache.emit({ type: 'connection_lost', error });
    };
    redis.on('error', lost);
    redis.on('close', () => lost(new Error('connection closed')));
    redis.on('ready', () => {
      if (!down) return;
      down = false;
      cache.emit({ type: 'reconnected' });
    });
    try {
      await redis.connect();
      await cache.resync(true);
      cache.evictionPolicy = await cache.readEvictionPolicy();
      redis.options.retryStrategy = (attempt) => Math.min(100 * attempt, 2000);
      cache.opened = true;
    } catch (error) {
      cache.closed = true;
      if (redis.status !== 'end') redis.disconnect();
      throw error;
    }
    return cache;
  }

  async claim(iss: string, jti: string, expiresAtEpochSeconds: number): Promise<boolean> {
    return this.claimOnce(iss, jti, expiresAtEpochSeconds, true);
  }

  private async claimOnce(iss: string, jti: string, expiresAt: number, mayResync: boolean): Promise<boolean> {
    if (this.closed) throw new ReplayCacheUnavailableError('the replay cache is closed');
    if (this.now() < this.quarantineUntil) {
      throw new ReplayCacheUnavailableError(
        'the replay cache lost its data; assertions are refused until every one accepted before has expired',
      );
    }
    // A claim whose window has closed is refused: it must not recreate the record that just expired.
    const ttlMs = expiresAt * 1000 - this.now();
    if (ttlMs <= 0) return false;
    const result = await (this.redis as unknown as ClaimCommand).smartAuthClaim(
      this.recordKey(iss, jti),
      this.markerKey,
      this.marker,
      ttlMs,
    );
    if (result === -1) {
      if (!mayResync) throw new ReplayCacheUnavailableError('the replay cache epoch marker keeps changing');
      await this.resync(false);
      return this.claimOnce(iss, jti, expiresAt, false);
    }
    return result === 1;
  }

  /** Redis expires records itself. */
  async prune(): Promise<number> {
    return 0;
  }

  /** Records under this prefix (SCAN: for diagnostics and tests, not the hot path). */
  async size(): Promise<number> {
    const seen = new Set<string>();
    const pattern = `${escapeGlob(this.prefix)}jti:*`;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      for (const key of keys) seen.add(key);
      cursor = next;
    } while (cursor !== '0');
    return seen.size;
  }

  /** Ready when Redis answers and the cache is not in a data-loss quarantine. */
  async ping(): Promise<void> {
    if (this.closed) throw new ReplayCacheUnavailableError('the replay cache is closed');
    // Reading the marker both checks the connection and notices a data loss before any claim does.
    if ((await this.redis.get(this.markerKey)) !== this.marker) await this.resync(false);
    if (this.now() < this.quarantineUntil) {
      throw new ReplayCacheUnavailableError('the replay cache is in a data-loss quarantine');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.redis.status === 'ready') {
      try {
        await this.redis.quit();
        return;
      } catch {
        // fall through: drop the connection
      }
    }
    if (this.redis.status !== 'end') this.redis.disconnect();
  }

  /** `<prefix>jti:<sha256(iss)>:<sha256(jti)>`. */
  private recordKey(iss: string, jti: string): string {
    return `${this.prefix}jti:${digest(iss)}:${digest(jti)}`;
  }

  /**
   * Adopts the current epoch marker. At start-up a missing marker is created without quarantine
   * (nothing tells an empty Redis from a new deployment). Later, when our marker is gone — missing,
   * or replaced by one another process wrote at start-up on an empty Redis — the records may be
   * lost: write a marker carrying the quarantine. A marker carrying a quarantine is adopted with it.
   */
  private resync(startup: boolean): Promise<void> {
    this.resyncing ??= (async () => {
      let raw = await this.redis.get(this.markerKey);
      let current = parseMarker(raw);
      const ours = raw !== null && raw === this.marker;
      if (
        startup ? current === undefined : !ours && (current === undefined || current.quarantineUntil === 0)
      ) {
        const quarantineUntil = startup ? 0 : this.now() + this.options.dataLossQuarantineSeconds * 1000;
        const value = markerValue(quarantineUntil);
        if (raw === null) await this.redis.set(this.markerKey, value, 'NX');
        else if (!startup) await this.redis.set(this.markerKey, value);
        raw = await this.redis.get(this.markerKey);
        current = parseMarker(raw);
      }
      if (raw === null || current === undefined) {
        throw new ReplayCacheUnavailableError(
          `the replay cache epoch marker ${this.markerKey} holds a value this server did not write`,
        );
      }
      this.marker = raw;
      if (current.quarantineUntil > this.quarantineUntil) {
        this.quarantineUntil = current.quarantineUntil;
        if (current.quarantineUntil > this.now()) {
          this.emit({ type: 'data_loss', quarantineUntil: current.quarantineUntil });
        }
      }
    })().finally(() => {
      this.resyncing = undefined;
    });
    return this.resyncing;
  }

  /** Epoch ms until which claims are refused after a data loss (0: none). */
  get dataLossQuarantineUntil(): number {
    return this.quarantineUntil;
  }

  /** Events start once open() has resolved: until then the caller learns everything from open(). */
  private emit(event: RedisCacheEvent): void {
    if (this.opened && !this.closed) this.options.onEvent?.(event);
  }

  private async readEvictionPolicy(): Promise<string | undefined> {
    try {
      const reply = (await this.redis.config('GET', 'maxmemory-policy')) as unknown;
      return Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : undefined;
    } catch {
      return undefined; // CONFIG is often disabled on managed Redis: nothing to check
    }
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}
