import type { AccessTokenAlgorithm, PublicJwks } from '@smart-backend/protocol';
import type { JWK } from 'jose';

/**
 * The three stores behind the authorization server. Every method returns a Promise so that the
 * embedded SQLite backend and networked backends (PostgreSQL, Redis) are interchangeable, and
 * several replicas can share one backend. A method that cannot reach its backend rejects; the
 * token endpoint then fails closed (503 `server.unavailable`).
 */

/** A registered client (RFC 7591 names; SMART CCA: keys by value or by URL, never both). */
export interface ClientRecord {
  readonly clientId: string;
  readonly clientName?: string;
  /** The public JWK Set registered by value (validated at registration). */
  readonly jwks?: PublicJwks;
  /** The registered JWKS URL (https, or http on a loopback host). */
  readonly jwksUri?: string;
  /** Space-separated `system/` scopes: the most this client can ever be granted. */
  readonly scope: string;
  /** Epoch seconds. */
  readonly createdAt: number;
  /** Epoch seconds; null while the client is enabled. */
  readonly disabledAt: number | null;
}

/** `ClientStore.create` with an id that is already taken; the existing client is left as it was. */
export class DuplicateClientError extends Error {
  constructor(readonly clientId: string) {
    super(`a client with id ${clientId} already exists`);
    this.name = 'DuplicateClientError';
  }
}

export interface ClientStore {
  /** Adds a new client. Rejects with {@link DuplicateClientError} if the id already exists. */
  create(client: ClientRecord): Promise<void>;
  get(clientId: string): Promise<ClientRecord | undefined>;
  /**
   * Marks the client disabled at `atEpochSeconds` (keeping an earlier date if already disabled)
   * and returns the record, or undefined for an unknown id.
   */
  disable(clientId: string, atEpochSeconds: number): Promise<ClientRecord | undefined>;
  /** Resolves when the backend answers (GET /readyz); rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Assertion replay protection (SMART CCA "Signature Verification", RFC 7523 §3 item 7, ATK-16):
 * one record per (`iss`, `jti`) until the assertion can no longer be accepted.
 */
export interface ReplayCache {
  /**
   * Atomic insert-if-absent. True when this (iss, jti) is seen for the first time (or its previous
   * record has expired); false when it is a replay. Concurrent claims of one pair: exactly one true.
   * `expiresAtEpochSeconds` (whole seconds: callers round a non-integer `exp` up) is when the
   * assertion stops being acceptable; a claim made at or after it is refused (false), so a record
   * that has just expired can never be taken over by a request that passed its `exp` check a
   * moment earlier (ATK-16 at the end of the window).
   */
  claim(iss: string, jti: string, expiresAtEpochSeconds: number): Promise<boolean>;
  /** Removes records whose expiry has passed; returns how many. Implementations also do it periodically. */
  prune(): Promise<number>;
  /** Records currently held (expired but not yet pruned ones included). */
  size(): Promise<number>;
  /** Resolves when the backend answers and can record claims (GET /readyz); rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** One of the server's own access-token signing keys. */
export interface SigningKeyRecord {
  /** RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  readonly alg: AccessTokenAlgorithm;
  /** Private JWK (secret). Never logged, never served. */
  readonly privateJwk: JWK;
  /** Public members only, with kid, alg and use "sig": what `/.well-known/jwks.json` serves. */
  readonly publicJwk: JWK;
  /** Epoch seconds. */
  readonly createdAt: number;
  /**
   * Epoch seconds after which no token this key signed can still be valid: the key then leaves the
   * JWKS and the store. Null for the current signing key.
   */
  readonly retireAfter: number | null;
}

export interface KeyStore {
  /** Every key not yet removed, oldest first. */
  list(): Promise<SigningKeyRecord[]>;
  /**
   * Adds `key` as the current key only if no current key exists (two replicas starting at once
   * must not both create one). True when it was added.
   */
  addIfNoCurrentKey(key: SigningKeyRecord): Promise<boolean>;
  /** Atomically: every current key gets `retireAfter`, then `key` becomes the current key. */
  rotate(key: SigningKeyRecord, retireAfter: number): Promise<string[]>;
  /** Deletes keys whose `retireAfter` is at or before `nowEpochSeconds`; returns their kids. */
  removeRetired(nowEpochSeconds: number): Promise<string[]>;
  /** Resolves when the backend answers (GET /readyz); rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
