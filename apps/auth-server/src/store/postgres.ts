import type { AccessTokenAlgorithm, PublicJwks } from '@smart-backend/protocol';
import pg from 'pg';
import {
  DuplicateClientError,
  type ClientRecord,
  type ClientStore,
  type KeyStore,
  type SigningKeyRecord,
} from './interfaces.js';

/**
 * The shared backend for clients and signing keys (DATABASE_URL): every auth-server replica reads
 * and writes the same PostgreSQL database. The schema is created and migrated at start-up by
 * versioned migrations recorded in `schema_migrations`, under a transaction-scoped advisory lock,
 * so replicas starting at once apply each migration exactly once.
 */

export interface PostgresOptions {
  /** Connections per process (default 10). */
  readonly maxConnections?: number;
  /** Give up connecting after this long (default 3000 ms): the token endpoint answers 503 instead of hanging. */
  readonly connectionTimeoutMs?: number;
  /** Client-side limit on one query, also sent as statement_timeout (default 5000 ms). */
  readonly queryTimeoutMs?: number;
  /**
   * Called when an idle pooled connection fails (the server restarted, the network dropped). The
   * pool replaces the connection; without a listener node-postgres would crash the process.
   */
  readonly onConnectionError?: (error: unknown) => void;
}

/** Opens a connection pool (no connection is made until the first query). */
export function createPostgresPool(connectionString: string, options: PostgresOptions = {}): pg.Pool {
  const queryTimeout = options.queryTimeoutMs ?? 5000;
  const pool = new pg.Pool({
    connectionString,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 3000,
    idleTimeoutMillis: 30_000,
    query_timeout: queryTimeout,
    statement_timeout: queryTimeout,
    keepAlive: true,
    application_name: 'smart-auth',
  });
  pool.on('error', (error) => options.onConnectionError?.(error));
  return pool;
}

// ── Migrations ───────────────────────────────────────────────────────────────────────────────────

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * Append-only: a released migration is never edited; a schema change is a new entry. Epoch-second
 * columns are bigint (node-postgres returns them as strings; rows are converted below).
 */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'clients and signing keys',
    sql: `
      CREATE TABLE clients (
        client_id   text PRIMARY KEY,
        client_name text,
        jwks        text,
        jwks_uri    text,
        scope       text NOT NULL,
        created_at  bigint NOT NULL,
        disabled_at bigint
      );
      CREATE TABLE signing_keys (
        kid          text PRIMARY KEY,
        alg          text NOT NULL,
        private_jwk  text NOT NULL,
        public_jwk   text NOT NULL,
        created_at   bigint NOT NULL,
        retire_after bigint,
        seq          bigint GENERATED ALWAYS AS IDENTITY
      );
      -- At most one current key, whatever a buggy or concurrent writer does.
      CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((true)) WHERE retire_after IS NULL;`,
  },
];

/** The schema version this code needs (and the highest it understands). */
export const POSTGRES_SCHEMA_VERSION = Math.max(...POSTGRES_MIGRATIONS.map((m) => m.version));

/** Advisory lock keys (pg_advisory_xact_lock(int4, int4)): one namespace for this application. */
const LOCK_NAMESPACE = 0x534d4152; // "SMAR"
const MIGRATION_LOCK = 1;
const SIGNING_KEYS_LOCK = 2;

export class SchemaVersionError extends Error {
  override readonly name = 'SchemaVersionError';
}

/**
 * Applies the migrations this database has not seen, in order, in one transaction holding an
 * advisory lock: a second replica starting at the same moment waits, then finds nothing to do.
 * Refuses a database migrated by a newer release (its schema may mean something this code does
 * not know). Returns the versions applied now.
 */
export async function migratePostgres(
  pool: pg.Pool,
  migrations: readonly Migration[] = POSTGRES_MIGRATIONS,
): Promise<number[]> {
  const latest = Math.max(0, ...migrations.map((m) => m.version));
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, MIGRATION_LOCK]);
    // Created only when missing: a role without CREATE privilege can run an up-to-date schema.
    const { rows: log } = await client.query<{ exists: boolean }>(
      "SELECT to_regclass('schema_migrations') IS NOT NULL AS exists",
    );
    if (!log[0]?.exists) {
      await client.query(`
        CREATE TABLE schema_migrations (
          version    integer PRIMARY KEY,
          name       text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`);
    }
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((row) => row.version));
    const newest = Math.max(0, ...applied);
    if (newest > latest) {
      throw new SchemaVersionError(
        `the database schema is at version ${newest}, newer than this release understands (${latest}); run a newer auth-server`,
      );
    }
    const done: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      done.push(migration.version);
    }
    return done;
  });
}

/** The schema version recorded in the database; 0 when it was never migrated. */
export async function postgresSchemaVersion(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ exists: boolean }>(
    "SELECT to_regclass('schema_migrations') IS NOT NULL AS exists",
  );
  if (!rows[0]?.exists) return 0;
  const version = await pool.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
  return version.rows[0]?.v ?? 0;
}

async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError as Error; // the connection is unusable: do not return it to the pool
    }
    throw error;
  } finally {
    client.release(broken);
  }
}

// ── Clients ──────────────────────────────────────────────────────────────────────────────────────

interface ClientRow {
  client_id: string;
  client_name: string | null;
  jwks: string | null;
  jwks_uri: string | null;
  scope: string;
  created_at: string;
  disabled_at: string | null;
}

const CLIENT_COLUMNS = 'client_id, client_name, jwks, jwks_uri, scope, created_at, disabled_at';

export class PostgresClientStore implements ClientStore {
  /** Parsed by-value JWKS per client, reused while the stored text is unchanged (no per-request parse). */
  private readonly parsedJwks = new Map<string, { text: string; jwks: PublicJwks }>();

  /** `release` runs on close (openPostgresStores shares one pool between the stores). */
  constructor(
    private readonly pool: pg.Pool,
    private readonly release: () => Promise<void> = async () => undefined,
  ) {}

  async create(client: ClientRecord): Promise<void> {
    try {
      await this.pool.query(`INSERT INTO clients (${CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
        client.clientId,
        client.clientName ?? null,
        client.jwks ? JSON.stringify(client.jwks) : null,
        client.jwksUri ?? null,
        client.scope,
        client.createdAt,
        client.disabledAt,
      ]);
    } catch (error) {
      // 23505 unique_violation: the only unique constraint on clients is the primary key.
      if ((error as { code?: unknown }).code === '23505') throw new DuplicateClientError(client.clientId);
      throw error;
    }
  }

  async get(clientId: string): Promise<ClientRecord | undefined> {
    const { rows } = await this.pool.query<ClientRow>({
      name: 'smart-auth-client-get',
      text: `SELECT ${CLIENT_COLUMNS} FROM clients WHERE client_id = $1`,
      values: [clientId],
    });
    return rows[0] ? this.toRecord(rows[0]) : undefined;
  }

  async disable(clientId: string, atEpochSeconds: number): Promise<ClientRecord | undefined> {
    // One statement: a concurrent disable on another replica cannot move the first date.
    const { rows } = await this.pool.query<ClientRow>(
      `UPDATE clients SET disabled_at = COALESCE(disabled_at, $2) WHERE client_id = $1 RETURNING ${CLIENT_COLUMNS}`,
      [clientId, atEpochSeconds],
    );
    return rows[0] ? this.toRecord(rows[0]) : undefined;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.release();
  }

  private toRecord(row: ClientRow): ClientRecord {
    return {
      clientId: row.client_id,
      ...(row.client_name !== null && { clientName: row.client_name }),
      ...(row.jwks !== null && { jwks: this.parseJwks(row.client_id, row.jwks) }),
      ...(row.jwks_uri !== null && { jwksUri: row.jwks_uri }),
      scope: row.scope,
      createdAt: Number(row.created_at),
      disabledAt: row.disabled_at === null ? null : Number(row.disabled_at),
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

// ── Signing keys ─────────────────────────────────────────────────────────────────────────────────

interface KeyRow {
  kid: string;
  alg: string;
  private_jwk: string;
  public_jwk: string;
  created_at: string;
  retire_after: string | null;
}

export class PostgresKeyStore implements KeyStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly release: () => Promise<void> = async () => undefined,
  ) {}

  async list(): Promise<SigningKeyRecord[]> {
    const { rows } = await this.pool.query<KeyRow>(
      `SELECT kid, alg, private_jwk, public_jwk, created_at, retire_after
       FROM signing_keys ORDER BY created_at, seq`,
    );
    return rows.map((row) => ({
      kid: row.kid,
      alg: row.alg as AccessTokenAlgorithm,
      privateJwk: JSON.parse(row.private_jwk) as SigningKeyRecord['privateJwk'],
      publicJwk: JSON.parse(row.public_jwk) as SigningKeyRecord['publicJwk'],
      createdAt: Number(row.created_at),
      retireAfter: row.retire_after === null ? null : Number(row.retire_after),
    }));
  }

  async addIfNoCurrentKey(key: SigningKeyRecord): Promise<boolean> {
    // The advisory lock serialises key changes across replicas: the second one to get it sees the
    // first one's key and adds nothing.
    return inTransaction(this.pool, async (client) => {
      await lockSigningKeys(client);
      const current = await client.query('SELECT 1 FROM signing_keys WHERE retire_after IS NULL');
      if (current.rowCount !== 0) return false;
      await insertKey(client, key);
      return true;
    });
  }

  async rotate(key: SigningKeyRecord, retireAfter: number): Promise<string[]> {
    return inTransaction(this.pool, async (client) => {
      await lockSigningKeys(client);
      const { rows } = await client.query<{ kid: string }>(
        'UPDATE signing_keys SET retire_after = $1 WHERE retire_after IS NULL RETURNING kid',
        [retireAfter],
      );
      await insertKey(client, key);
      return rows.map((row) => row.kid);
    });
  }

  async removeRetired(nowEpochSeconds: number = Math.floor(Date.now() / 1000)): Promise<string[]> {
    const { rows } = await this.pool.query<{ kid: string }>(
      'DELETE FROM signing_keys WHERE retire_after IS NOT NULL AND retire_after <= $1 RETURNING kid',
      [nowEpochSeconds],
    );
    return rows.map((row) => row.kid);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.release();
  }
}

async function lockSigningKeys(client: pg.PoolClient): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, SIGNING_KEYS_LOCK]);
}

async function insertKey(client: pg.PoolClient, key: SigningKeyRecord): Promise<void> {
  await client.query(
    `INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at, retire_after)
     VALUES ($1, $2, $3, $4, $5, NULL)`,
    [key.kid, key.alg, JSON.stringify(key.privateJwk), JSON.stringify(key.publicJwk), key.createdAt],
  );
}

// ── Opening ──────────────────────────────────────────────────────────────────────────────────────

export interface PostgresStores {
  readonly clients: PostgresClientStore;
  readonly keys: PostgresKeyStore;
  readonly pool: pg.Pool;
}

/**
 * Connects, migrates the schema (`migrate: false` only checks that it is current, for tools that
 * must not create a store, e.g. `smart-auth keys`) and returns both stores on one pool, which is
 * ended when both are closed. Rejects — with the pool ended — if the database cannot be reached.
 */
export async function openPostgresStores(
  connectionString: string,
  options: PostgresOptions & { migrate?: boolean } = {},
): Promise<PostgresStores> {
  const pool = createPostgresPool(connectionString, options);
  let open = 2;
  let ended: Promise<void> | undefined;
  const releaser = () => {
    let released = false;
    return async () => {
      if (!released) {
        released = true;
        open -= 1;
      }
      if (open === 0) await (ended ??= pool.end());
    };
  };
  try {
    if (options.migrate === false) {
      const version = await postgresSchemaVersion(pool);
      if (version === 0) throw new SchemaVersionError('the database has no smart-auth schema');
      if (version !== POSTGRES_SCHEMA_VERSION) {
        throw new SchemaVersionError(
          `the database schema is at version ${version}; this release needs ${POSTGRES_SCHEMA_VERSION}`,
        );
      }
    } else {
      await migratePostgres(pool);
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return {
    clients: new PostgresClientStore(pool, releaser()),
    keys: new PostgresKeyStore(pool, releaser()),
    pool,
  };
}
