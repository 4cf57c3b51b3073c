import path from 'node:path';
import type { AccessTokenAlgorithm, PublicJwks } from '@smart-backend/protocol';
import Database from 'better-sqlite3';
import {
  DuplicateClientError,
  type ClientRecord,
  type ClientStore,
  type KeyStore,
  type ReplayCache,
  type SigningKeyRecord,
} from './interfaces.js';
import { preparePrivateSqliteFile } from './private-files.js';

/**
 * The embedded default backend: one SQLite file per store under DATA_DIR, each created with mode
 * 0600 in a directory created with mode 0700 (keys.db holds private keys). WAL mode lets the
 * server and `smart-auth keys rotate` (another process) use the same files at once.
 */

export const SQLITE_FILES = { clients: 'clients.db', replay: 'replay.db', keys: 'keys.db' } as const;

type Synchronous = 'FULL' | 'NORMAL';

function openDatabase(dataDir: string, file: string, synchronous: Synchronous): Database.Database {
  const filePath = path.join(dataDir, file);
  preparePrivateSqliteFile(filePath);
  const db = new Database(filePath, { timeout: 5000 });
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  return db;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

// ── Clients ──────────────────────────────────────────────────────────────────────────────────────

interface ClientRow {
  client_id: string;
  client_name: string | null;
  jwks: string | null;
  jwks_uri: string | null;
  scope: string;
  created_at: number;
  disabled_at: number | null;
}

export class SqliteClientStore implements ClientStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly select: Database.Statement<[string], ClientRow>;
  private readonly markDisabled: Database.Statement;
  /** Parsed by-value JWKS per client, reused while the stored text is unchanged (no per-request parse). */
  private readonly parsedJwks = new Map<string, { text: string; jwks: PublicJwks }>();

  constructor(dataDir: string) {
    this.db = openDatabase(dataDir, SQLITE_FILES.clients, 'FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS clients (
        client_id   TEXT PRIMARY KEY,
        client_name TEXT,
        jwks        TEXT,
        jwks_uri    TEXT,
        scope       TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        disabled_at INTEGER
      )`);
    this.insert = this.db.prepare(
      `INSERT INTO clients (client_id, client_name, jwks, jwks_uri, scope, created_at, disabled_at)
       VALUES (@client_id, @client_name, @jwks, @jwks_uri, @scope, @created_at, @disabled_at)`,
    );
    this.select = this.db.prepare<[string], ClientRow>('SELECT * FROM clients WHERE client_id = ?');
    this.markDisabled = this.db.prepare(
      'UPDATE clients SET disabled_at = COALESCE(disabled_at, ?) WHERE client_id = ?',
    );
  }

  async create(client: ClientRecord): Promise<void> {
    try {
      this.insert.run({
        client_id: client.clientId,
        client_name: client.clientName ?? null,
        jwks: client.jwks ? JSON.stringify(client.jwks) : null,
        jwks_uri: client.jwksUri ?? null,
        scope: client.scope,
        created_at: client.createdAt,
        disabled_at: client.disabledAt,
      });
    } catch (error) {
      if ((error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new DuplicateClientError(client.clientId);
      }
      throw error;
    }
  }

  async get(clientId: string): Promise<ClientRecord | undefined> {
    const row = this.select.get(clientId);
    return row ? this.toRecord(row) : undefined;
  }

  async disable(clientId: string, atEpochSeconds: number): Promise<ClientRecord | undefined> {
    this.markDisabled.run(atEpochSeconds, clientId);
    return this.get(clientId);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private toRecord(row: ClientRow): ClientRecord {
    return {
      clientId: row.client_id,
      ...(row.client_name !== null && { clientName: row.client_name }),
      ...(row.jwks !== null && { jwks: this.parseJwks(row.client_id, row.jwks) }),
      ...(row.jwks_uri !== null && { jwksUri: row.jwks_uri }),
      scope: row.scope,
      createdAt: row.created_at,
      disabledAt: row.disabled_at,
    };
  }

  private parseJwks(clientId: string, text: string): PublicJwks {
    const cached = this.parsedJwks.get(clientId);
    if (cached && cached.text === text) return cached.jwks;
    const jwks = JSON.parse(text) as PublicJwks;
    this.parsedJwks.set(clientId, { text, jwks });
    return jwks;
  }
}

// ── Replay cache ─────────────────────────────────────────────────────────────────────────────────

export interface SqliteReplayCacheOptions {
  /** How often expired records are deleted (default 60 s). 0 disables the timer. */
  readonly pruneIntervalMs?: number;
  /** Epoch milliseconds (tests move time). */
  readonly now?: () => number;
  /** Called when a periodic prune fails (the next claim will report the failure itself). */
  readonly onPruneError?: (error: unknown) => void;
}

/** A claim waiting for the next group commit. */
interface PendingClaim {
  readonly iss: string;
  readonly jti: string;
  readonly expiresAt: number;
  readonly resolve: (first: boolean) => void;
  readonly reject: (error: unknown) => void;
}

export class SqliteReplayCache implements ReplayCache {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement;
  private readonly claimAll: (claims: readonly PendingClaim[], now: number) => boolean[];
  private pending: PendingClaim[] = [];
  private readonly deleteExpired: Database.Statement;
  private readonly count: Database.Statement<[], { n: number }>;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(dataDir: string, options: SqliteReplayCacheOptions = {}) {
    this.now = options.now ?? Date.now;
    // NORMAL: a commit survives a crash of the process (WAL), not necessarily a power cut.
    this.db = openDatabase(dataDir, SQLITE_FILES.replay, 'NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS replay (
        iss        TEXT NOT NULL,
        jti        TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (iss, jti)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS replay_expires_at ON replay (expires_at)`);
    // Insert-if-absent in one statement; an expired record may be taken over (its window is closed).
    this.upsert = this.db.prepare(
      `INSERT INTO replay (iss, jti, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at
       WHERE replay.expires_at <= ?`,
    );
    // A claim whose window has closed is refused outright: otherwise it could take over the record
    // that just expired with it, and every copy in one batch would take it over in turn.
    this.claimAll = this.db.transaction((claims: readonly PendingClaim[], now: number) =>
      claims.map((c) => c.expiresAt > now && this.upsert.run(c.iss, c.jti, c.expiresAt, now).changes === 1),
    );
    this.deleteExpired = this.db.prepare('DELETE FROM replay WHERE expires_at <= ?');
    this.count = this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM replay');
    const interval = options.pruneIntervalMs ?? 60_000;
    if (interval > 0) {
      this.timer = setInterval(() => {
        this.prune().catch((error: unknown) => options.onPruneError?.(error));
      }, interval);
      this.timer.unref();
    }
  }

  /**
   * Group commit: the claims made during one turn of the event loop are written in one
   * transaction (one WAL append instead of one per token request — the replay store was ~17 % of
   * the token endpoint's main-thread time). Each claim still resolves only once its row is
   * committed, and each (iss, jti) is decided by its own insert-if-absent inside the transaction,
   * so concurrent claims of one pair still get exactly one true; a failed commit rejects them all.
   */
  claim(iss: string, jti: string, expiresAtEpochSeconds: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({ iss, jti, expiresAt: expiresAtEpochSeconds, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.commitPending());
    });
  }

  private commitPending(): void {
    const claims = this.pending;
    this.pending = [];
    if (claims.length === 0) return;
    let results: boolean[];
    try {
      results = this.claimAll(claims, Math.floor(this.now() / 1000));
    } catch (error) {
      for (const claim of claims) claim.reject(error);
      return;
    }
    claims.forEach((claim, i) => claim.resolve(results[i] === true));
  }

  async prune(): Promise<number> {
    return this.deleteExpired.run(Math.floor(this.now() / 1000)).changes;
  }

  async size(): Promise<number> {
    return this.count.get()?.n ?? 0;
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.db.open) {
      this.commitPending();
      this.db.close();
    }
  }
}

// ── Signing keys ─────────────────────────────────────────────────────────────────────────────────

interface KeyRow {
  kid: string;
  alg: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  retire_after: number | null;
}

export class SqliteKeyStore implements KeyStore {
  private readonly db: Database.Database;
  private readonly selectAll: Database.Statement<[], KeyRow>;
  private readonly selectCurrent: Database.Statement<[], { kid: string }>;
  private readonly insert: Database.Statement;
  private readonly retireCurrent: Database.Statement;
  private readonly deleteRetired: Database.Statement<[number], { kid: string }>;

  constructor(dataDir: string) {
    this.db = openDatabase(dataDir, SQLITE_FILES.keys, 'FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS signing_keys (
        kid          TEXT PRIMARY KEY,
        alg          TEXT NOT NULL,
        private_jwk  TEXT NOT NULL,
        public_jwk   TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        retire_after INTEGER
      )`);
    this.selectAll = this.db.prepare<[], KeyRow>('SELECT * FROM signing_keys ORDER BY created_at, rowid');
    this.selectCurrent = this.db.prepare<[], { kid: string }>(
      'SELECT kid FROM signing_keys WHERE retire_after IS NULL',
    );
    this.insert = this.db.prepare(
      `INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at, retire_after)
       VALUES (?, ?, ?, ?, ?, NULL)`,
    );
    this.retireCurrent = this.db.prepare(
      'UPDATE signing_keys SET retire_after = ? WHERE retire_after IS NULL',
    );
    this.deleteRetired = this.db.prepare<[number], { kid: string }>(
      'DELETE FROM signing_keys WHERE retire_after IS NOT NULL AND retire_after <= ? RETURNING kid',
    );
  }

  async list(): Promise<SigningKeyRecord[]> {
    return this.selectAll.all().map((row) => ({
      kid: row.kid,
      alg: row.alg as AccessTokenAlgorithm,
      privateJwk: JSON.parse(row.private_jwk) as SigningKeyRecord['privateJwk'],
      publicJwk: JSON.parse(row.public_jwk) as SigningKeyRecord['publicJwk'],
      createdAt: row.created_at,
      retireAfter: row.retire_after,
    }));
  }

  async addIfNoCurrentKey(key: SigningKeyRecord): Promise<boolean> {
    // IMMEDIATE takes the write lock first, so two processes cannot both see "no current key".
    return this.db
      .transaction(() => {
        if (this.selectCurrent.all().length > 0) return false;
        this.insertKey(key);
        return true;
      })
      .immediate();
  }

  async rotate(key: SigningKeyRecord, retireAfter: number): Promise<string[]> {
    return this.db
      .transaction(() => {
        const retired = this.selectCurrent.all().map((row) => row.kid);
        this.retireCurrent.run(retireAfter);
        this.insertKey(key);
        return retired;
      })
      .immediate();
  }

  async removeRetired(nowEpochSeconds: number = nowSeconds()): Promise<string[]> {
    return this.deleteRetired.all(nowEpochSeconds).map((row) => row.kid);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private insertKey(key: SigningKeyRecord): void {
    this.insert.run(
      key.kid,
      key.alg,
      JSON.stringify(key.privateJwk),
      JSON.stringify(key.publicJwk),
      key.createdAt,
    );
  }
}

export interface SqliteStores {
  readonly clients: SqliteClientStore;
  readonly replay: SqliteReplayCache;
  readonly keys: SqliteKeyStore;
}

/** Opens (creating if needed) the three SQLite stores under `dataDir`. */
export function openSqliteStores(dataDir: string, replayOptions?: SqliteReplayCacheOptions): SqliteStores {
  return {
    clients: new SqliteClientStore(dataDir),
    replay: new SqliteReplayCache(dataDir, replayOptions),
    keys: new SqliteKeyStore(dataDir),
  };
}
