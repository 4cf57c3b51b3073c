import { afterEach, describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import { generateSigningKey } from '../src/signing/signing-keys.js';
import {
  POSTGRES_MIGRATIONS,
  POSTGRES_SCHEMA_VERSION,
  SchemaVersionError,
  createPostgresPool,
  migratePostgres,
  openPostgresStores,
} from '../src/store/postgres.js';
import { RedisReplayCache, type RedisCacheEvent } from '../src/store/redis.js';
import { dataLossQuarantineSeconds } from '../src/store/open.js';
import {
  REDIS_URL,
  createTestDatabase,
  freePort,
  redisKeys,
  removeRedisPrefix,
  testRedisPrefix,
  waitFor,
  type TestDatabase,
} from './backends.js';
import { TestClock } from './helpers.js';

/** What only the shared backends have: PostgreSQL migrations and connection handling, Redis key layout and data-loss detection. */

const cleanups: Array<() => Promise<unknown>> = [];
const toClose: Array<{ close(): Promise<void> } | { end(): Promise<void> }> = [];
// Each test's database and key prefix go as soon as the test ends (a dozen DROP DATABASE at the end
// of the file took longer than a hook may on a loaded machine).
afterEach(async () => {
  await Promise.allSettled(
    toClose.splice(0).map((thing) => ('close' in thing ? thing.close() : thing.end())),
  );
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function database(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  return db;
}

function pool(url: string, onConnectionError?: (error: unknown) => void): pg.Pool {
  const p = createPostgresPool(url, { ...(onConnectionError && { onConnectionError }) });
  toClose.push(p);
  return p;
}

describe('PostgreSQL schema migrations', () => {
  it('replicas migrating a new database at the same moment apply each migration exactly once', async () => {
    const db = await database();
    const pools = Array.from({ length: 4 }, () => pool(db.url));
    const applied = await Promise.all(pools.map((p) => migratePostgres(p)));
    expect(applied.flat().sort()).toEqual(POSTGRES_MIGRATIONS.map((m) => m.version).sort());
    const { rows } = await pools[0]!.query('SELECT version, name FROM schema_migrations ORDER BY version');
    expect(rows).toEqual(POSTGRES_MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    // Idempotent: a restart finds nothing to do.
    expect(await migratePostgres(pools[1]!)).toEqual([]);
  });

  it('applies only the migrations a database has not seen, in order', async () => {
    const db = await database();
    const p = pool(db.url);
    const extra = {
      version: POSTGRES_SCHEMA_VERSION + 1,
      name: 'test column',
      sql: 'ALTER TABLE clients ADD COLUMN note text',
    };
    expect(await migratePostgres(p)).toEqual([POSTGRES_SCHEMA_VERSION]);
    expect(await migratePostgres(p, [...POSTGRES_MIGRATIONS, extra])).toEqual([extra.version]);
    const { rows } = await p.query(
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'clients' AND column_name = 'note'",
    );
    expect(rows).toHaveLength(1);
  });

  it('refuses a database migrated by a newer release (and opens nothing)', async () => {
    const db = await database();
    const p = pool(db.url);
    await migratePostgres(p, [
      ...POSTGRES_MIGRATIONS,
      { version: POSTGRES_SCHEMA_VERSION + 1, name: 'from the future', sql: 'SELECT 1' },
    ]);
    await expect(migratePostgres(p)).rejects.toThrow(SchemaVersionError);
    await expect(openPostgresStores(db.url)).rejects.toThrow(/newer than this release understands/);
  });

  it('a failed migration leaves no trace: the transaction rolls back, including schema_migrations', async () => {
    const db = await database();
    const p = pool(db.url);
    await expect(
      migratePostgres(p, [
        ...POSTGRES_MIGRATIONS,
        { version: 99, name: 'broken', sql: 'CREATE TABLE broken (' },
      ]),
    ).rejects.toThrow();
    const { rows } = await p.query(
      "SELECT to_regclass('clients') IS NULL AS absent, to_regclass('schema_migrations') IS NULL AS no_log",
    );
    expect(rows[0]).toEqual({ absent: true, no_log: true });
    expect(await migratePostgres(p)).toEqual([POSTGRES_SCHEMA_VERSION]);
  });

  it('without migrate (smart-auth keys), refuses a database that holds no schema', async () => {
    const db = await database();
    await expect(openPostgresStores(db.url, { migrate: false })).rejects.toThrow(/no smart-auth schema/);
    const stores = await openPostgresStores(db.url);
    toClose.push(stores.clients, stores.keys);
    const again = await openPostgresStores(db.url, { migrate: false });
    toClose.push(again.clients, again.keys);
    await expect(again.keys.list()).resolves.toEqual([]);
  });

  it('the database itself refuses a second current signing key, whatever a writer does', async () => {
    const db = await database();
    const stores = await openPostgresStores(db.url);
    toClose.push(stores.clients, stores.keys);
    const now = Math.floor(Date.now() / 1000);
    await stores.keys.addIfNoCurrentKey(await generateSigningKey('ES256', now));
    const rogue = await generateSigningKey('ES256', now);
    await expect(
      stores.pool.query(
        "INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at) VALUES ($1, 'ES256', '{}', '{}', $2)",
        [rogue.kid, now],
      ),
    ).rejects.toThrow(/signing_keys_one_current/);
  });
});

describe('PostgreSQL connections', () => {
  it('an unreachable server is reported quickly, with no hang', async () => {
    const port = await freePort();
    await expect(openPostgresStores(`postgres://postgres@127.0.0.1:${port}/none`)).rejects.toThrow(
      /ECONNREFUSED/,
    );
  });

  it('connections killed by the server are reported, replaced, and the store keeps working', async () => {
    const db = await database();
    const errors: unknown[] = [];
    const stores = await openPostgresStores(db.url, { onConnectionError: (error) => errors.push(error) });
    toClose.push(stores.clients, stores.keys);
    await stores.clients.ping();
    const admin = pool(db.url);
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'smart-auth' AND pid <> pg_backend_pid()",
      [db.name],
    );
    await waitFor(() => errors.length > 0);
    await expect(stores.clients.ping()).resolves.toBeUndefined();
    await expect(stores.clients.get('x')).resolves.toBeUndefined();
  });
});

describe('Redis replay cache', () => {
  async function openCache(prefix: string, extra: Partial<Parameters<typeof RedisReplayCache.open>[1]> = {}) {
    const cache = await RedisReplayCache.open(REDIS_URL, {
      keyPrefix: prefix,
      dataLossQuarantineSeconds: 320,
      ...extra,
    });
    toClose.push(cache);
    return cache;
  }
  function prefix(): string {
    const p = testRedisPrefix('redis');
    cleanups.push(() => removeRedisPrefix(p));
    return p;
  }

  it('keeps every key under its prefix, named by SHA-256 digests (no raw iss or jti), expiring with the assertion', async () => {
    const p = prefix();
    // A frozen clock: Redis is told to keep the record exactly 120 s, however long the claim takes.
    const clock = TestClock.frozen();
    const cache = await openCache(p, { now: clock.now });
    const exp = clock.seconds() + 120;
    const claimedAt = Date.now();
    await cache.claim('https://client.example/iss', 'jti-visible-text', exp);
    const keys = await redisKeys(p);
    const escaped = p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(keys).toEqual([
      `${p}epoch`,
      expect.stringMatching(new RegExp(`^${escaped}jti:[\\w-]{43}:[\\w-]{43}$`)),
    ]);
    expect(keys.join()).not.toContain('jti-visible-text');
    expect(keys.join()).not.toContain('client.example');
    const { Redis } = await import('ioredis');
    const raw = new Redis(REDIS_URL);
    try {
      const ttl = await raw.pttl(keys[1]!);
      // Whatever time has passed since the claim is all that may be missing from the 120 s.
      const elapsed = Date.now() - claimedAt;
      expect(ttl).toBeGreaterThanOrEqual(120_000 - elapsed);
      expect(ttl).toBeLessThanOrEqual(120_000);
      expect(await raw.ttl(`${p}epoch`)).toBe(-1);
    } finally {
      raw.disconnect();
    }
  });

  it('two prefixes on one Redis are separate deployments', async () => {
    const [p1, p2] = [prefix(), prefix()];
    const [a, b] = [await openCache(p1), await openCache(p2)];
    const exp = Math.floor(Date.now() / 1000) + 60;
    expect(await a.claim('c', 'j', exp)).toBe(true);
    expect(await b.claim('c', 'j', exp)).toBe(true);
    expect(await a.size()).toBe(1);
  });

  it('reads the eviction policy so the server can warn when replay records could be evicted', async () => {
    const cache = await openCache(prefix());
    expect(typeof cache.evictionPolicy).toBe('string');
  });

  it('an unreachable Redis is reported quickly at open', async () => {
    const port = await freePort();
    await expect(
      RedisReplayCache.open(`redis://127.0.0.1:${port}`, { dataLossQuarantineSeconds: 320 }),
    ).rejects.toThrow();
  });

  it('after a data loss every replica refuses claims for the quarantine — never a replay accepted — then recovers', async () => {
    const p = prefix();
    const clock = new TestClock();
    const events: RedisCacheEvent[] = [];
    const quarantine = dataLossQuarantineSeconds(10);
    const options = {
      now: clock.now,
      dataLossQuarantineSeconds: quarantine,
      onEvent: (e: RedisCacheEvent) => events.push(e),
    };
    const a = await openCache(p, options);
    const b = await openCache(p, options);
    const exp = clock.seconds() + 300;
    expect(await a.claim('client', 'used-before-the-loss', exp)).toBe(true);

    await removeRedisPrefix(p); // what a restart without persistence, or FLUSHALL, does

    await expect(b.claim('client', 'used-before-the-loss', exp)).rejects.toThrow(/lost its data/);
    await expect(a.claim('client', 'used-before-the-loss', exp)).rejects.toThrow(/lost its data/);
    await expect(a.claim('client', 'brand-new', exp)).rejects.toThrow(/lost its data/);
    await expect(a.ping()).rejects.toThrow(/quarantine/);
    expect(events.filter((e) => e.type === 'data_loss')).toHaveLength(2);
    // A replica starting now honours the quarantine written into the marker.
    const c = await openCache(p, options);
    await expect(c.claim('client', 'used-before-the-loss', exp)).rejects.toThrow(/lost its data/);

    clock.advance(quarantine - 1);
    await expect(c.claim('client', 'used-before-the-loss', exp)).rejects.toThrow(/lost its data/);
    clock.advance(2); // every assertion accepted before the loss has expired by now
    expect(await a.claim('client', 'fresh', clock.seconds() + 60)).toBe(true);
    expect(await b.claim('client', 'fresh', clock.seconds() + 60)).toBe(false);
    await expect(c.ping()).resolves.toBeUndefined();
  });

  it('a replica restarting on a wiped Redis cannot mask the loss from a running one', async () => {
    const p = prefix();
    const clock = new TestClock();
    const options = { now: clock.now, dataLossQuarantineSeconds: 320 };
    const running = await openCache(p, options);
    expect(await running.claim('client', 'j1', clock.seconds() + 60)).toBe(true);
    await removeRedisPrefix(p);
    const restarted = await openCache(p, options); // finds no marker: writes a start-up one
    await expect(running.claim('client', 'j1', clock.seconds() + 60)).rejects.toThrow(/lost its data/);
    await expect(restarted.claim('client', 'j1', clock.seconds() + 60)).rejects.toThrow(/lost its data/);
  });

  it('replicas starting together on an empty Redis agree on one marker and start without quarantine', async () => {
    const p = prefix();
    const caches = await Promise.all([openCache(p), openCache(p), openCache(p)]);
    const exp = Math.floor(Date.now() / 1000) + 60;
    const results = await Promise.all(caches.map((cache) => cache.claim('client', 'same', exp)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});
