import type { AccessTokenAlgorithm } from '@smart-backend/protocol';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { importPrivateJwk, importPublicJwk, type BoundKey } from '../crypto/jws.js';
import type { Logger } from '../logger.js';
import type { KeyStore, SigningKeyRecord } from '../store/interfaces.js';

/**
 * The server's own access-token signing keys (RFC 9068): generated on first start, persisted in a
 * {@link KeyStore}, rotated by `smart-auth keys rotate` (possibly another process or replica).
 * The ring re-reads the store every few seconds and before answering the JWKS endpoint, so a new
 * key is published and used at once, and a retired key stays published until every token it
 * signed has expired.
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
  const members = PUBLIC_MEMBERS[jwk.kty ?? ''] ?? [];
  const out: Record<string, unknown> = {};
  for (const member of members) {
    const value = (jwk as Record<string, unknown>)[member];
    if (value !== undefined) out[member] = value;
  }
  return out as JWK;
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

/**
 * When a key rotated out at `rotatedAt` can leave the JWKS: after the longest-lived token it may
 * still sign has expired. A replica notices a rotation within one refresh interval, so that is
 * added to ACCESS_TOKEN_TTL and the clock skew resource servers allow.
 */
export function retireAfterFor(
  rotatedAt: number,
  accessTokenTtlSeconds: number,
  clockSkewSeconds: number,
): number {
  return rotatedAt + accessTokenTtlSeconds + clockSkewSeconds + KEY_REFRESH_INTERVAL_SECONDS;
}

export interface RotationResult {
  readonly key: SigningKeyRecord;
  readonly retired: string[];
  readonly retireAfter: number;
}

/** Generates a key and makes it the current one; the previous current key retires later. */
export async function rotateSigningKey(
  store: KeyStore,
  options: {
    alg: AccessTokenAlgorithm;
    accessTokenTtlSeconds: number;
    clockSkewSeconds: number;
    now?: () => number;
  },
): Promise<RotationResult> {
  const now = Math.floor((options.now ?? Date.now)() / 1000);
  const key = await generateSigningKey(options.alg, now);
  const retireAfter = retireAfterFor(now, options.accessTokenTtlSeconds, options.clockSkewSeconds);
  const retired = await store.rotate(key, retireAfter);
  return { key, retired, retireAfter };
}

export interface SigningKeyRingOptions {
  /** ACCESS_TOKEN_ALG: if the current key uses another algorithm, a key with this one replaces it. */
  readonly alg: AccessTokenAlgorithm;
  readonly accessTokenTtlSeconds: number;
  readonly clockSkewSeconds: number;
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
  readonly retireAfter: number | null;
  /** Signs access tokens (node:crypto KeyObject bound to `alg`). */
  readonly signer: BoundKey;
  /** Verifies them (introspection). */
  readonly verifier: BoundKey;
}

export class SigningKeyRing {
  private keys = new Map<string, LoadedSigningKey>();
  private currentKey: LoadedSigningKey | undefined;
  private refreshing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  /** The kid generated while opening (first start or ACCESS_TOKEN_ALG change), for main to log. */
  generatedOnOpen:
    { kid: string; alg: AccessTokenAlgorithm; reason: 'first start' | 'algorithm changed' } | undefined;

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

  /** The key that signs new tokens. */
  current(): LoadedSigningKey {
    if (!this.currentKey) throw new Error('no signing key loaded');
    return this.currentKey;
  }

  /** A published key by kid (introspection verifies our own tokens with it). */
  published(kid: string): LoadedSigningKey | undefined {
    const key = this.keys.get(kid);
    return key && this.isPublished(key) ? key : undefined;
  }

  /** The public JWK Set: the current key and every retired key some token may still need. */
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
    return key.retireAfter === null || key.retireAfter > Math.floor(this.now() / 1000);
  }

  private async ensureCurrentKey(): Promise<void> {
    const nowSeconds = Math.floor(this.now() / 1000);
    const records = await this.store.list();
    const current = records.filter((r) => r.retireAfter === null);
    if (current.length === 0) {
      const key = await generateSigningKey(this.options.alg, nowSeconds);
      if (await this.store.addIfNoCurrentKey(key)) {
        this.generatedOnOpen = { kid: key.kid, alg: key.alg, reason: 'first start' };
      }
    } else if (!current.some((r) => r.alg === this.options.alg)) {
      const { key } = await rotateSigningKey(this.store, { ...this.options, now: this.now });
      this.generatedOnOpen = { kid: key.kid, alg: key.alg, reason: 'algorithm changed' };
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
    for (const record of records) {
      if (record.retireAfter !== null && record.retireAfter <= nowSeconds) continue;
      const known = this.keys.get(record.kid);
      next.set(
        record.kid,
        known && known.retireAfter === record.retireAfter ? known : importSigningKey(record, known),
      );
    }
    // The newest current key signs; if a rotation is half-visible, the newest published key does.
    const candidates = [...next.values()];
    const current = candidates.filter((k) => k.retireAfter === null).at(-1) ?? candidates.at(-1);
    if (!current) throw new Error('the key store holds no usable signing key');
    if (this.currentKey && this.currentKey.kid !== current.kid) {
      this.options.logger?.info(
        { event: 'rotate', kid: current.kid, alg: current.alg, previous_kid: this.currentKey.kid },
        'new signing key in use',
      );
    }
    this.keys = next;
    this.currentKey = current;
  }
}

function importSigningKey(record: SigningKeyRecord, known?: LoadedSigningKey): LoadedSigningKey {
  return {
    kid: record.kid,
    alg: record.alg,
    publicJwk: { ...publicMembers(record.publicJwk), kid: record.kid, alg: record.alg, use: 'sig' },
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
