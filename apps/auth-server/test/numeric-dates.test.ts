import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ReasonCode } from '@smart-backend/protocol';
import { RedisReplayCache } from '../src/store/redis.js';
import { REDIS_URL, removeRedisPrefix, testRedisPrefix } from './backends.js';
import {
  TestClock,
  expectRefusal,
  jwksOf,
  makeAssertion,
  makeClientKey,
  postToken,
  register,
  startTestServer,
  tokenForm,
  type ClientKey,
  type TestServer,
} from './helpers.js';

/**
 * RFC 7519 §2: a NumericDate "can be non-integer". Assertions' exp, iat and nbf are compared as
 * numbers, exactly at the boundaries (a frozen clock, 10 s skew), never rounded towards acceptance;
 * the replay record of a non-integer exp works on every replay backend (Redis counts whole
 * milliseconds and seconds).
 */
const SKEW = 10;
const MAX_LIFETIME = 300;

describe.each([['SQLite'], ['Redis']])('non-integer NumericDates, %s replay cache', (backend) => {
  let server: TestServer;
  let redis: RedisReplayCache | undefined;
  let prefix: string | undefined;
  let key: ClientKey;
  let clientId: string;
  const clock = TestClock.frozen();
  const t = clock.seconds();

  beforeAll(async () => {
    if (backend === 'Redis') {
      prefix = testRedisPrefix('numeric-dates');
      redis = await RedisReplayCache.open(REDIS_URL, {
        keyPrefix: prefix,
        dataLossQuarantineSeconds: 320,
        now: clock.now,
      });
    }
    server = await startTestServer({ clock, ...(redis && { replay: redis }) });
    key = await makeClientKey('ES384');
    clientId = await register(server.app, { jwks: jwksOf(key), scope: 'system/Patient.rs' });
  }, 60_000);
  afterAll(async () => {
    await server.close();
    await redis?.close();
    if (prefix) await removeRedisPrefix(prefix);
  });

  const send = async (claims: Record<string, unknown>) =>
    postToken(server.app, tokenForm(await makeAssertion(clientId, key, { claims, now: t })));

  const cases: Array<[title: string, outcome: ReasonCode | 'granted', claims: Record<string, number>]> = [
    ['exp half a second inside the lifetime bound', 'granted', { exp: t + MAX_LIFETIME + SKEW - 0.5 }],
    ['exp exactly at the lifetime bound', 'granted', { exp: t + MAX_LIFETIME + SKEW }],
    ['exp half a second beyond it', 'assertion.exp_too_far', { exp: t + MAX_LIFETIME + SKEW + 0.5 }],
    ['exp half a second inside the skew after expiry', 'granted', { exp: t - SKEW + 0.5 }],
    ['exp exactly at the end of the skew', 'assertion.expired', { exp: t - SKEW }],
    ['exp a millisecond past the skew', 'assertion.expired', { exp: t - SKEW - 0.001 }],
    ['nbf half a second inside the skew', 'granted', { nbf: t + SKEW - 0.5 }],
    ['nbf half a second beyond the skew', 'assertion.nbf_in_future', { nbf: t + SKEW + 0.5 }],
    ['iat a quarter second ago', 'granted', { iat: t - 0.25 }],
    ['iat half a second beyond the skew', 'assertion.iat_in_future', { iat: t + SKEW + 0.5 }],
  ];
  it.each(cases)('%s → %s', async (_title, outcome, claims) => {
    const res = await send({ exp: t + 60, ...claims });
    if (outcome === 'granted') expect(res.status).toBe(200);
    else expectRefusal(res, outcome);
  });

  it('a granted assertion with a non-integer exp is replayed: refused', async () => {
    // A fraction finer than a millisecond: Redis accepts only whole milliseconds as a TTL.
    const assertion = await makeAssertion(clientId, key, { claims: { exp: t + 30.0004 }, now: t });
    expect((await postToken(server.app, tokenForm(assertion))).status).toBe(200);
    expectRefusal(await postToken(server.app, tokenForm(assertion)), 'assertion.replayed');
  });
});
