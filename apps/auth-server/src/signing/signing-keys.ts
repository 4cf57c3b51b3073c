import type { AccessTokenAlgorithm } from '@smart-backend/protocol';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { importPrivateJwk, importPublicJwk, type BoundKey } from '../crypto/jws.js';
import type { Logger } from '../logger.js';
import type { KeyStore, SigningKeyRecord } from '../store/interfaces.js';

/**
 * The server's own access-token signing keys (RFC 9068): generated on first start, persisted in a
 * {@link KeyStore}, rotated by `smart-auth keys rotate` (possibly another process or replica).
 * The ring re-reads the store every few seconds and before answering the JWKS endpoint.
 *
 * Publish before signing: a key added by a rotation is published in the JWKS at once but signs
 * tokens only from `createdAt + KEY_ACTIVATION_DELAY`, so resource servers that cache the JWKS (and
 * rate-limit refetches on an unknown `kid`) already know it when the first token carrying it
 * arrives. Until then the previously signing key keeps signing; a retired key stays published until
 * every token it signed has expired. Activation is derived from `createdAt` and the configured delay
 * (nothing extra is stored), so every replica and `smart-auth` must be configured alike.
 */

/** How often a running server re-reads the KeyStore. */
export const KEY_REFRESH_INTERVAL_SECONDS = 5;

/** Public JWK members per key type (RFC 7517/7518/8037): nothing private ever leaves the ring. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  EC: ['kty', 'crv', 'x', 'y'],
  RSA: ['kty', 'n', 'e'],
  OKP: ['kty', 'crv', 'x'],
};

export function publicMembers(jwk: JWK): JWK {
  const members = Object.hasOwn(PUBLIC_MEMBERS, jwk.kty ?? '') ? PUBLIC_MEMBERS[jwk.kty ?? ''] : undefined;
  const source = jwk as Record<string, unknown>;
  return Object.fromEntries(
    (members ?? [])
      .filter((member) => source[member] !== undefined)
      .map((member) => [member, source[member]]),
  ) as JWK;
}

/** Generates a new signing key pair (jose's async generator: see TOOLCHAIN.md, Node 20 hazard). */
export async function generateSigningKey(
  alg: AccessTokenAlgorithm,
  nowEpochSeconds: number,
): Promise<SigningKeyRecord> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const bare = publicMembers(await exportJWK(publicKey));
  const kid = await calculateJwkThumbprint(bare, 'sha256');
  const publicJwk: JWK = { ...bare, kid, alg, use: 'sig' };
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateJwk, publicJwk, createdAt: nowEpochSeconds, retireAfter: null };
}

/** The settings that decide when a key signs and how long it stays published (one per deployment). */
export interface KeyTimings {
  /** KEY_ACTIVATION_DELAY: seconds from a key's creation until it signs (when it is not the first key). */
  readonly keyActivationDelaySeconds: number;
  readonly accessTokenTtlSeconds: number;
  readonly clockSkewSeconds: number;
}

/** The moment a key may start signing (epoch seconds): its creation plus the activation delay. */
export function activationTime(key: { readonly createdAt: number }, timings: KeyTimings): number {
  return key.createdAt + timings.keyActivationDelaySeconds;
}

/**
 * When a key rotated out at `rotatedAt` can leave the JWKS: after the longest-lived token it may
 * still sign has expired. It keeps signing until its successor activates (the activation delay),
 * each token lives ACCESS_TOKEN_TTL plus the clock skew resource servers allow, and a replica
 * notices a rotation within one refresh interval.
 */
export function retireAfterFor(rotatedAt: number, timings: KeyTimings): number {
  return (
    rotatedAt +
    timings.keyActivationDelaySeconds +
    timings.accessTokenTtlSeconds +
    timings.clockSkewSeconds +
    KEY_REFRESH_INTERVAL_SECONDS
  );
}

interface KeyLifetime {
  readonly createdAt: number;
  readonly retireAfter: number | null;
}

/** Published in the JWKS at `nowSeconds`: current, or retired with its retire-after date still ahead. */
export function isPublishedAt(key: KeyLifetime, nowSeconds: number): boolean {
  return key.retireAfter === null || key.retireAfter > nowSeconds;
}

/**
 * The key that signs at `nowSeconds`, among `keys` ordered oldest first (as `KeyStore.list`
 * returns them); undefined only when none is published.
 *
 * 1. Only published keys, and among them only those that outlive a token signed now (retire-after
 *    more than ACCESS_TOKEN_TTL + CLOCK_SKEW ahead) — with consistent settings every key qualifies
 *    until it stops signing; the rule matters when a rotation was made with a shorter delay than
 *    this server's, and then activates the successor early rather than sign tokens that would
 *    outlive their key.
 * 2. The newest of them whose activation time has come.
 * 3. None has come (a fresh store: the first key was just created, maybe followed by rotations
 *    within the delay): the oldest, i.e. the first key signs at once and keeps signing until its
 *    successor activates.
 */
export function selectSigningKey<K extends KeyLifetime>(
  keys: readonly K[],
  nowSeconds: number,
  timings: KeyTimings,
): K | undefined {
  const published = keys.filter((key) => isPublishedAt(key, nowSeconds));
  const tokenLifetime = timings.accessTokenTtlSeconds + timings.clockSkewSeconds;
  const usable = published.filter(
    (key) => key.retireAfter === null || key.retireAfter - nowSeconds > tokenLifetime,
  );
  return (
    usable.filter((key) => activationTime(key, timings) <= nowSeconds).at(-1) ?? usable[0] ?? published.at(-1)
  );
}

/**
 * What a key is doing at `nowSeconds` (`smart-auth keys list`): `signing`; `published` (in the
 * JWKS, signing from its activation time); `retiring` (in the JWKS until its retire-after date, no
 * longer signing); `expired` (past retire-after, removed at the next refresh).
 */
export type SigningKeyStatus = 'signing' | 'published' | 'retiring' | 'expired';

export function signingKeyStatuses<K extends KeyLifetime>(
  keys: readonly K[],
  nowSeconds: number,
  timings: KeyTimings,
): Array<{ key: K; status: SigningKeyStatus }> {
  const signer = selectSigningKey(keys, nowSeconds, timings);
  return keys.map((key) => {
    let status: SigningKeyStatus;
    if (key === signer) status = 'signing';
    else if (!isPublishedAt(key, nowSeconds)) status = 'expired';
    else if (key.retireAfter === null || activationTime(key, timings) > nowSeconds) status = 'published';
    else status = 'retiring';
    return { key, status };
  });
}

export interface RotationResult {
  readonly key: SigningKeyRecord;
  readonly retired: string[];
  readonly retireAfter: number;
  /** When the new key starts signing (epoch seconds); the previous key signs until then. */
  readonly activatesAt: number;
}

/**
 * Generates a key and makes it the current one: published at once, signing from `activatesAt`;
 * the previous current key keeps signing until then and is retired after `retireAfter`.
 */
export async function rotateSigningKey(
  store: KeyStore,
  options: KeyTimings & { alg: AccessTokenAlgorithm; now?: () => number },
): Promise<RotationResult> {
  const now = Math.floor((options.now ?? Date.now)() / 1000);
  const key = await generateSigningKey(options.alg, now);
  const retireAfter = retireAfterFor(now, options);
  const retired = await store.rotate(key, retireAfter);
  return { key, retired, retireAfter, activatesAt: activationTime(key, options) };
}

export interface SigningKeyRingOptions extends KeyTimings {
  /**
   * ACCESS_TOKEN_ALG: if the current key uses another algorithm, a key with this one replaces it
   * (a rotation like any other: it signs once the activation delay has passed).
   */
  readonly alg: AccessTokenAlgorithm;
  /** Epoch milliseconds. */
  readonly now?: () => number;
  /** 0 disables the periodic refresh (the JWKS endpoint still refreshes). */
  readonly refreshIntervalMs?: number;
  readonly logger?: Logger;
}

/** A key ready to use: imported once, reused for every token. */
export interface LoadedSigningKey {
  readonly kid: string;
  readonly alg: AccessTokenAlgorithm;
  readonly publicJwk: JWK;
  /** Epoch seconds. */
  readonly createdAt: number;
  readonly retireAfter: number | null;
  /** Signs access tokens (node:crypto KeyObject bound to `alg`). */
  readonly signer: BoundKey;
  /** Verifies them (introspection). */
  readonly verifier: BoundKey;
}

export class SigningKeyRing {
  /** Published keys (and any past retire-after not yet removed), oldest first. */
  private keys = new Map<string, LoadedSigningKey>();
  private currentKey: LoadedSigningKey | undefined;
  /** The second `currentKey` was chosen in: the choice is remade when the clock moves on. */
  private selectedAt = Number.NaN;
  private refreshing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  /** The kid generated while opening (first start or ACCESS_TOKEN_ALG change), for main to log. */
  generatedOnOpen:
    | {
        kid: string;
        alg: AccessTokenAlgorithm;
        reason: 'first start' | 'algorithm changed';
        /** When it signs (epoch seconds): at once on first start, after the delay on a change. */
        activatesAt: number;
      }
    | undefined;

  private constructor(
    private readonly store: KeyStore,
    private readonly options: SigningKeyRingOptions,
  ) {
    this.now = options.now ?? Date.now;
    const interval = options.refreshIntervalMs ?? KEY_REFRESH_INTERVAL_SECONDS * 1000;
    if (interval > 0) {
      this.timer = setInterval(() => void this.refresh().catch(() => undefined), interval);
      this.timer.unref();
    }
  }

  /** Loads the keys, generating the first one (or one for a changed ACCESS_TOKEN_ALG) if needed. */
  static async open(store: KeyStore, options: SigningKeyRingOptions): Promise<SigningKeyRing> {
    const ring = new SigningKeyRing(store, options);
    try {
      await ring.ensureCurrentKey();
      await ring.refresh({ throwOnError: true });
    } catch (error) {
      ring.close();
      throw error;
    }
    return ring;
  }

  /**
   * The key that signs new tokens now ({@link selectSigningKey}): chosen again whenever the clock
   * has moved to another second, so a key activates on time even between two store reads.
   */
  current(): LoadedSigningKey {
    const nowSeconds = Math.floor(this.now() / 1000);
    if (nowSeconds !== this.selectedAt) this.select(nowSeconds);
    if (!this.currentKey) throw new Error('no signing key loaded');
    return this.currentKey;
  }

  /** A published key by kid (introspection verifies our own tokens with it). */
  published(kid: string): LoadedSigningKey | undefined {
    const key = this.keys.get(kid);
    return key && this.isPublished(key) ? key : undefined;
  }

  /**
   * The public JWK Set: the signing key, keys waiting for their activation time, and every retired
   * key some token may still need.
   */
  publicJwks(): { keys: JWK[] } {
    return {
      keys: [...this.keys.values()].filter((key) => this.isPublished(key)).map((key) => key.publicJwk),
    };
  }

  /**
   * Re-reads the store (concurrent calls share one read). Keys past their retire-after date are
   * dropped and deleted. A failed read keeps the keys already loaded.
   */
  async refresh(options: { throwOnError?: boolean } = {}): Promise<void> {
    this.refreshing ??= this.load().finally(() => {
      this.refreshing = undefined;
    });
    try {
      await this.refreshing;
    } catch (error) {
      this.options.logger?.warn(
        { event: 'signing_keys', err: errorSummary(error) },
        'could not re-read the signing keys; keeping the ones loaded',
      );
      if (options.throwOnError) throw error;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private isPublished(key: LoadedSigningKey): boolean {
    return isPublishedAt(key, Math.floor(this.now() / 1000));
  }

  private async ensureCurrentKey(): Promise<void> {
    const nowSeconds = Math.floor(this.now() / 1000);
    const records = await this.store.list();
    const current = records.filter((r) => r.retireAfter === null);
    if (current.length === 0) {
      const key = await generateSigningKey(this.options.alg, nowSeconds);
      if (await this.store.addIfNoCurrentKey(key)) {
        this.generatedOnOpen = {
          kid: key.kid,
          alg: key.alg,
          reason: 'first start',
          activatesAt: key.createdAt,
        };
      }
    } else if (!current.some((r) => r.alg === this.options.alg)) {
      const { key, activatesAt } = await rotateSigningKey(this.store, { ...this.options, now: this.now });
      this.generatedOnOpen = { kid: key.kid, alg: key.alg, reason: 'algorithm changed', activatesAt };
    }
  }

  private async load(): Promise<void> {
    const nowSeconds = Math.floor(this.now() / 1000);
    const removed = await this.store.removeRetired(nowSeconds);
    for (const kid of removed) {
      this.options.logger?.info({ event: 'signing_keys', kid }, 'retired signing key removed');
    }
    const records = await this.store.list();
    const next = new Map<string, LoadedSigningKey>();
    const noticed: LoadedSigningKey[] = [];
    for (const record of records) {
      if (!isPublishedAt(record, nowSeconds)) continue;
      const known = this.keys.get(record.kid);
      next.set(
        record.kid,
        known && known.retireAfter === record.retireAfter ? known : importSigningKey(record, known),
      );
      if (!known && this.currentKey) noticed.push(next.get(record.kid)!);
    }
    if (!selectSigningKey([...next.values()], nowSeconds, this.options)) {
      throw new Error('the key store holds no usable signing key');
    }
    this.keys = next;
    for (const key of noticed) {
      const activatesAt = activationTime(key, this.options);
      if (activatesAt > nowSeconds) {
        this.options.logger?.info(
          {
            event: 'rotate',
            kid: key.kid,
            alg: key.alg,
            activates_at: new Date(activatesAt * 1000).toISOString(),
          },
          'new signing key published; it signs from activates_at',
        );
      }
    }
    this.select(nowSeconds);
  }

  /** Chooses the signing key for this second; logs when it changes. Keeps the last one if none fits. */
  private select(nowSeconds: number): void {
    const signer = selectSigningKey([...this.keys.values()], nowSeconds, this.options);
    this.selectedAt = nowSeconds;
    if (!signer) return;
    if (this.currentKey && this.currentKey.kid !== signer.kid) {
      this.options.logger?.info(
        { event: 'rotate', kid: signer.kid, alg: signer.alg, previous_kid: this.currentKey.kid },
        'new signing key in use',
      );
    }
    this.currentKey = signer;
  }
}

function importSigningKey(record: SigningKeyRecord, known?: LoadedSigningKey): LoadedSigningKey {
  return {
    kid: record.kid,
    alg: record.alg,
    publicJwk: { ...publicMembers(record.publicJwk), kid: record.kid, alg: record.alg, use: 'sig' },
    createdAt: record.createdAt,
    retireAfter: record.retireAfter,
    signer: known?.signer ?? importPrivateJwk(record.privateJwk, record.alg),
    verifier: known?.verifier ?? importPublicJwk(publicMembers(record.publicJwk), record.alg),
  };
}

/** Error name and message only: store errors never carry key material, and stacks stay out of logs. */
export function errorSummary(error: unknown): { name: string; message: string; code?: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' && { code }) };
  }
  return { name: 'Error', message: String(error) };
}
