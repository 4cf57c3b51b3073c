import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { generateSigningKey } from '../src/signing/signing-keys.js';
import {
  DuplicateClientError,
  type ClientRecord,
  type ClientStore,
  type KeyStore,
  type ReplayCache,
} from '../src/store/interfaces.js';
import { openPostgresStores } from '../src/store/postgres.js';
import { RedisReplayCache } from '../src/store/redis.js';
import { SqliteClientStore, SqliteKeyStore, SqliteReplayCache } from '../src/store/sqlite.js';
import { REDIS_URL, createTestDatabase, removeRedisPrefix, testRedisPrefix, waitFor } from './backends.js';
import { TestClock, tempDir } from './helpers.js';

/**
 * One contract, every backend: the SQLite stores (embedded default), PostgreSQL (clients, signing
 * keys) and Redis (replay cache) must be interchangeable behind src/store/interfaces.ts. Each test
 * gets a fresh namespace — a temp directory, a new database, a new key prefix — and opens the store
 * twice when it needs two replicas on one backend.
 */

const cleanups: Array<() => Promise<unknown>> = [];
const toClose: Array<{ close(): Promise<void> }> = [];
// Each test's namespace goes as soon as the test ends: dropping a dozen databases at the end of the
// file took longer than a hook may on a loaded machine.
afterEach(async () => {
  await Promise.allSettled(toClose.splice(0).map((store) => store.close()));
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

/** Opens instances of one store on one fresh namespace; every open is another connection. */
type Opener<T> = () => Promise<T>;
interface Backend<T> {
  readonly name: string;
  /** `now`: the clock the stores are given (epoch ms), where the backend takes one. */
  namespace(now?: () => number): Promise<Opener<T>>;
}

function tracked<T extends { close(): Promise<void> }>(open: () => Promise<T>): Opener<T> {
  return async () => {
    const store = await open();
    toClose.push(store);
    return store;
  };
}

async function databaseUrl(): Promise<string> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  return db.url;
}

const CLIENT_BACKENDS: Array<Backend<ClientStore>> = [
  {
    name: 'sqlite',
    namespace: async () => {
      const dir = tempDir();
      return tracked(async () => new SqliteClientStore(dir));
    },
  },
  {
    name: 'postgres',
    namespace: async () => {
      const url = await databaseUrl();
      return tracked(async () => {
        const stores = await openPostgresStores(url);
        await stores.keys.close();
        return stores.clients;
      });
    },
  },
];

const KEY_BACKENDS: Array<Backend<KeyStore>> = [
  {
    name: 'sqlite',
    namespace: async () => {
      const dir = tempDir();
      return tracked(async () => new SqliteKeyStore(dir));
    },
  },
  {
    name: 'postgres',
    namespace: async () => {
      const url = await databaseUrl();
      return tracked(async () => {
        const stores = await openPostgresStores(url);
        await stores.clients.close();
        return stores.keys;
      });
    },
  },
];

const REPLAY_BACKENDS: Array<Backend<ReplayCache>> = [
  {
    name: 'sqlite',
    namespace: async (now) => {
      const dir = tempDir();
      return tracked(async () => new SqliteReplayCache(dir, { pruneIntervalMs: 0, ...(now && { now }) }));
    },
  },
  {
    name: 'redis',
    namespace: async (now) => {
      const prefix = testRedisPrefix('contract');
      cleanups.push(() => removeRedisPrefix(prefix));
      return tracked(() =>
        RedisReplayCache.open(REDIS_URL, {
          keyPrefix: prefix,
          dataLossQuarantineSeconds: 320,
          ...(now && { now }),
        }),
      );
    },
  },
];

const nowSeconds = () => Math.floor(Date.now() / 1000);

const byValue = (id: string): ClientRecord => ({
  clientId: id,
  clientName: 'Lab feed — Überprüfung 検査',
  jwks: {
    keys: [
      {
        kty: 'EC',
        crv: 'P-384',
        x: 'gS0_dh9ZdMkl1r8DFvs2nTfWLcH0xMbCQvPHsU5pIW7W3H6fA2T1h9Zd2dCKeRIc',
        y: 'Hy6DtwHUw5ytdymbWKDdhfT0fBL7Z0RCr7Ivt_xJ-9AFa5LzGm3qx9PfRRUxwBoC',
        kid: 'k1',
        alg: 'ES384',
      },
    ],
  } as ClientRecord['jwks'] & object,
  scope: 'system/Patient.rs system/Observation.rs?category=laboratory',
  createdAt: 1_764_000_000,
  disabledAt: null,
});

const byUri = (id: string): ClientRecord => ({
  clientId: id,
  jwksUri: 'https://lab.example/.well-known/jwks.json',
  scope: 'system/*.read',
  createdAt: 1_764_000_001,
  disabledAt: null,
});

describe.each(CLIENT_BACKENDS)('ClientStore contract: $name', (backend) => {
  it('returns exactly what was created (by-value JWKS, or jwks_uri without a name), undefined for unknown ids', async () => {
    const store = await (await backend.namespace())();
    const a = byValue(randomUUID());
    const b = byUri(randomUUID());
    await store.create(a);
    await store.create(b);
    expect(await store.get(a.clientId)).toEqual(a);
    const got = await store.get(b.clientId);
    expect(got).toEqual(b);
    expect(got).not.toHaveProperty('clientName');
    expect(got).not.toHaveProperty('jwks');
    expect(await store.get('nobody')).toBeUndefined();
    expect(await store.get('')).toBeUndefined();
  });

  it('refuses a second client with an existing id and keeps the first', async () => {
    const store = await (await backend.namespace())();
    const id = randomUUID();
    await store.create(byValue(id));
    // A typed error, the same from every backend (a driver's own error class may come from another
    // realm under Jest's module isolation, so the contract does not rest on it).
    await expect(store.create({ ...byUri(id) })).rejects.toThrow(DuplicateClientError);
    expect(await store.get(id)).toEqual(byValue(id));
  });

  it('disable keeps the first date, returns the record, and answers undefined for an unknown id', async () => {
    const store = await (await backend.namespace())();
    const id = randomUUID();
    await store.create(byUri(id));
    expect(await store.disable(id, 1_800_000_000)).toEqual({ ...byUri(id), disabledAt: 1_800_000_000 });
    expect(await store.disable(id, 1_900_000_000)).toMatchObject({ disabledAt: 1_800_000_000 });
    expect(await store.get(id)).toMatchObject({ disabledAt: 1_800_000_000 });
    expect(await store.disable('nobody', 1_800_000_000)).toBeUndefined();
  });

  it('another replica on the same backend sees registrations and disables at once; concurrent disables agree on one date', async () => {
    const open = await backend.namespace();
    const [a, b] = [await open(), await open()];
    const id = randomUUID();
    await a.create(byValue(id));
    expect(await b.get(id)).toEqual(byValue(id));
    const [first, second] = await Promise.all([a.disable(id, 1_800_000_000), b.disable(id, 1_800_000_500)]);
    expect(first?.disabledAt).toBe(second?.disabledAt);
    expect((await a.get(id))?.disabledAt).toBe(first?.disabledAt);
  });

  it('records survive closing and reopening the store', async () => {
    const open = await backend.namespace();
    const first = await open();
    const id = randomUUID();
    await first.create(byValue(id));
    await first.close();
    expect(await (await open()).get(id)).toEqual(byValue(id));
  });

  it('ping answers while open; after close every call rejects (the token endpoint then fails closed)', async () => {
    const store = await (await backend.namespace())();
    await expect(store.ping()).resolves.toBeUndefined();
    await store.close();
    await expect(store.ping()).rejects.toThrow();
    await expect(store.get('x')).rejects.toThrow();
    await expect(store.create(byUri(randomUUID()))).rejects.toThrow();
  });
});

describe.each(REPLAY_BACKENDS)('ReplayCache contract: $name', (backend) => {
  it('claim is insert-if-absent per (iss, jti)', async () => {
    const cache = await (await backend.namespace())();
    const exp = nowSeconds() + 60;
    expect(await cache.claim('a', 'j1', exp)).toBe(true);
    expect(await cache.claim('a', 'j1', exp)).toBe(false);
    expect(await cache.claim('a', 'j1', exp + 100)).toBe(false);
    expect(await cache.claim('b', 'j1', exp)).toBe(true);
    expect(await cache.claim('a', 'j2', exp)).toBe(true);
  });

  it('no separator injection: (iss, jti) pairs that concatenate alike are distinct', async () => {
    const cache = await (await backend.namespace())();
    const exp = nowSeconds() + 60;
    const pairs: Array<[string, string]> = [
      ['a:b', 'c'],
      ['a', 'b:c'],
      ['a\u0000b', 'c'],
      ['a', 'b\u0000c'],
      ['a*', 'x'],
      ['a', '*x'],
      ['', 'a:bc'],
      ['é', 'x'],
      ['e\u0301', 'x'],
    ];
    for (const [iss, jti] of pairs)
      expect([iss, jti, await cache.claim(iss, jti, exp)]).toEqual([iss, jti, true]);
    for (const [iss, jti] of pairs)
      expect([iss, jti, await cache.claim(iss, jti, exp)]).toEqual([iss, jti, false]);
  });

  it('concurrent claims of one pair from two replicas: exactly one wins', async () => {
    const open = await backend.namespace();
    const [a, b] = [await open(), await open()];
    const exp = nowSeconds() + 60;
    for (let round = 0; round < 5; round++) {
      const jti = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).claim('client', jti, exp)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    }
  });

  it('many different pairs at once are all first uses', async () => {
    const cache = await (await backend.namespace())();
    const exp = nowSeconds() + 60;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => cache.claim(`c${i % 7}`, `j${i}`, exp)),
    );
    expect(results.every(Boolean)).toBe(true);
    expect(await cache.size()).toBe(200);
  });

  it('records survive closing and reopening (a restart does not reopen the replay window)', async () => {
    const open = await backend.namespace();
    const first = await open();
    const exp = nowSeconds() + 60;
    expect(await first.claim('client', 'used', exp)).toBe(true);
    await first.close();
    expect(await (await open()).claim('client', 'used', exp)).toBe(false);
  });

  it('a record lives until its expiry and no longer: then the pair may be claimed again and prune/size forget it', async () => {
    // A frozen clock: every claim below is made at the same instant however slow the machine is.
    // The Redis backend hands Redis the remaining lifetime (exactly 1 s) and Redis expires the
    // record by its own clock; the SQLite backend forgets it when pruned after the clock moved on.
    const clock = TestClock.frozen();
    const cache = await (await backend.namespace(clock.now))();
    const soon = clock.seconds() + 1;
    const later = clock.seconds() + 600;
    for (const jti of ['s1', 's2', 's3']) expect(await cache.claim('client', jti, soon)).toBe(true);
    for (const jti of ['l1', 'l2']) expect(await cache.claim('client', jti, later)).toBe(true);
    expect(await cache.size()).toBe(5);
    expect(await cache.claim('client', 's1', soon)).toBe(false);
    clock.advance(1);
    await waitFor(async () => {
      await cache.prune();
      return (await cache.size()) === 2;
    });
    expect(await cache.claim('client', 's1', clock.seconds() + 60)).toBe(true);
    expect(await cache.claim('client', 's1', clock.seconds() + 60)).toBe(false);
    expect(await cache.claim('client', 'l1', later)).toBe(false);
  });

  it('a claim whose expiry has come is refused: an expired record is never recreated by a late copy (ATK-16)', async () => {
    const cache = await (await backend.namespace())();
    const closed = nowSeconds();
    const copies = await Promise.all(Array.from({ length: 10 }, () => cache.claim('client', 'late', closed)));
    expect(copies.some(Boolean)).toBe(false);
    expect(await cache.claim('client', 'late-too', closed - 5)).toBe(false);
    expect(await cache.size()).toBe(0);
  });

  it('ping answers while open; after close claims reject, never answer true', async () => {
    const cache = await (await backend.namespace())();
    await expect(cache.ping()).resolves.toBeUndefined();
    await cache.close();
    await expect(cache.ping()).rejects.toThrow();
    await expect(cache.claim('client', randomUUID(), nowSeconds() + 60)).rejects.toThrow();
  });
});

describe.each(KEY_BACKENDS)('KeyStore contract: $name', (backend) => {
  const key = (createdAt = nowSeconds()) => generateSigningKey('ES256', createdAt);

  it('starts empty; addIfNoCurrentKey adds only the first key; key material round-trips exactly', async () => {
    const store = await (await backend.namespace())();
    expect(await store.list()).toEqual([]);
    const first = await key();
    expect(await store.addIfNoCurrentKey(first)).toBe(true);
    expect(await store.addIfNoCurrentKey(await key())).toBe(false);
    expect(await store.list()).toEqual([first]);
  });

  it('replicas starting at once on an empty store create exactly one current key', async () => {
    const open = await backend.namespace();
    const stores = [await open(), await open(), await open()];
    const keys = await Promise.all(stores.map(() => key()));
    const added = await Promise.all(stores.map((store, i) => store.addIfNoCurrentKey(keys[i]!)));
    expect(added.filter(Boolean)).toHaveLength(1);
    const listed = await stores[0]!.list();
    expect(listed).toHaveLength(1);
    expect(listed[0]!.retireAfter).toBeNull();
  });

  it('rotate retires every current key with the given date, makes the new key current, lists oldest first', async () => {
    const open = await backend.namespace();
    const [store, other] = [await open(), await open()];
    const now = nowSeconds();
    const k1 = await key(now - 20);
    const k2 = await key(now - 10);
    const k3 = await key(now);
    await store.addIfNoCurrentKey(k1);
    expect(await store.rotate(k2, now + 100)).toEqual([k1.kid]);
    expect(await other.rotate(k3, now + 200)).toEqual([k2.kid]);
    expect(await store.list()).toEqual([
      { ...k1, retireAfter: now + 100 },
      { ...k2, retireAfter: now + 200 },
      k3,
    ]);
  });

  it('concurrent rotations from two replicas leave exactly one current key and lose no key', async () => {
    const open = await backend.namespace();
    const [a, b] = [await open(), await open()];
    const now = nowSeconds();
    await a.addIfNoCurrentKey(await key(now));
    const [ka, kb] = [await key(now), await key(now)];
    const retired = await Promise.all([a.rotate(ka, now + 300), b.rotate(kb, now + 300)]);
    expect(retired.flat()).toHaveLength(2);
    const listed = await a.list();
    expect(listed).toHaveLength(3);
    expect(listed.filter((k) => k.retireAfter === null)).toHaveLength(1);
    expect(listed.map((k) => k.kid)).toEqual(expect.arrayContaining([ka.kid, kb.kid]));
  });

  it('removeRetired deletes keys whose date has come (inclusive), never the current key', async () => {
    const store = await (await backend.namespace())();
    const now = nowSeconds();
    const [k1, k2, k3] = [await key(now - 2), await key(now - 1), await key(now)];
    await store.addIfNoCurrentKey(k1);
    await store.rotate(k2, now + 10);
    await store.rotate(k3, now + 20);
    expect(await store.removeRetired(now + 9)).toEqual([]);
    expect(await store.removeRetired(now + 10)).toEqual([k1.kid]);
    expect((await store.list()).map((k) => k.kid)).toEqual([k2.kid, k3.kid]);
    expect(await store.removeRetired(now + 1_000_000)).toEqual([k2.kid]);
    expect(await store.list()).toEqual([k3]);
  });

  it('ping answers while open; after close every call rejects', async () => {
    const store = await (await backend.namespace())();
    await expect(store.ping()).resolves.toBeUndefined();
    await store.close();
    await expect(store.ping()).rejects.toThrow();
    await expect(store.list()).rejects.toThrow();
  });
});
