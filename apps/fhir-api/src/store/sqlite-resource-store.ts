import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { isFhirId } from '@smart-backend/protocol';
import Database, { type Statement } from 'better-sqlite3';
import type { AccessFilter, FhirResource } from '../search/criteria.js';
import { indexEntries, type IndexEntry } from '../search/index-entries.js';
import { accessSql, searchSql, type SqlFragment } from '../search/sql-filter.js';
import type {
  DeleteOutcome,
  ReadOutcome,
  ResourceStore,
  SearchQuery,
  SearchResult,
  StoredResource,
  WriteOptions,
  WriteOutcome,
} from './resource-store.js';
import { preparePrivateSqliteFile } from './private-files.js';

/** The file under DATA_DIR (the auth server keeps its own file in the same directory). */
export const SQLITE_FILE_NAME = 'fhir-api.sqlite';

/**
 * 1: the first schema. 2: same tables; the index rules changed (own members only, ids made only of
 * dots, years 0001-0099), so an index written by version 1 is rebuilt from the stored content.
 */
const SCHEMA_VERSION = 2;
const MAX_CACHED_STATEMENTS = 512;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS resources (
  pk              INTEGER PRIMARY KEY,
  type            TEXT    NOT NULL,
  id              TEXT    NOT NULL,
  version         INTEGER NOT NULL,
  last_updated    TEXT    NOT NULL,
  last_updated_ms INTEGER NOT NULL,
  deleted         INTEGER NOT NULL DEFAULT 0,
  content         TEXT,               -- the current version; NULL once deleted
  UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS resources_live ON resources (type, deleted, pk);

CREATE TABLE IF NOT EXISTS resource_versions (
  resource_pk  INTEGER NOT NULL REFERENCES resources (pk),
  version      INTEGER NOT NULL,
  last_updated TEXT    NOT NULL,
  content      TEXT,                  -- NULL: this version is a deletion
  PRIMARY KEY (resource_pk, version)
) WITHOUT ROWID;

-- Search values of the latest live content of each resource (kept after a delete, so that a
-- deleted resource is still judged against the caller's scope constraints).
CREATE TABLE IF NOT EXISTS search_index (
  resource_pk INTEGER NOT NULL REFERENCES resources (pk),
  type        TEXT    NOT NULL,
  param       TEXT    NOT NULL,
  system      TEXT,
  code        TEXT,
  text        TEXT,
  text_norm   TEXT,
  date_start  INTEGER,
  date_end    INTEGER,
  ref_type    TEXT,
  ref_id      TEXT
);
CREATE INDEX IF NOT EXISTS search_index_resource ON search_index (resource_pk, param);
CREATE INDEX IF NOT EXISTS search_index_code ON search_index (type, param, code) WHERE code IS NOT NULL;
CREATE INDEX IF NOT EXISTS search_index_system ON search_index (type, param, system) WHERE system IS NOT NULL;
CREATE INDEX IF NOT EXISTS search_index_text ON search_index (type, param, text_norm) WHERE text_norm IS NOT NULL;
CREATE INDEX IF NOT EXISTS search_index_date ON search_index (type, param, date_start) WHERE date_start IS NOT NULL;
CREATE INDEX IF NOT EXISTS search_index_ref ON search_index (type, param, ref_id) WHERE ref_id IS NOT NULL;
`;

interface ResourceRow {
  pk: number;
  version: number;
  last_updated: string;
  deleted: number;
  content: string | null;
}

interface VersionRow {
  version: number;
  last_updated: string;
  content: string | null;
}

/** Thrown inside a transaction to roll it back and report an outcome. */
class Rollback<T> {
  constructor(readonly outcome: T) {}
}

export interface SqliteResourceStoreOptions {
  /** Directory for the database file (created if missing). */
  readonly dataDir: string;
  /** Clock, for tests; defaults to Date.now. */
  readonly now?: () => number;
}

/**
 * The embedded default store: one SQLite file under DATA_DIR, WAL mode. The directory is created
 * with mode 0700 and the file (with its -wal and -shm companions) is 0600: it holds health data.
 */
export function openSqliteResourceStore(options: SqliteResourceStoreOptions): SqliteResourceStore {
  const filePath = join(options.dataDir, SQLITE_FILE_NAME);
  preparePrivateSqliteFile(filePath);
  const db = new Database(filePath);
  return new SqliteResourceStore(db, options.now ?? Date.now);
}

export class SqliteResourceStore implements ResourceStore {
  private readonly statements = new Map<string, Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
  ) {
    db.pragma('journal_mode = WAL');
    // WAL + NORMAL survives a crash of the process (not of the machine) without losing commits.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`the database schema (version ${version}) is newer than this server understands`);
    }
    db.transaction(() => {
      db.exec(SCHEMA);
      if (version === 1) this.rebuildIndex();
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }

  async read(type: string, id: string, access: AccessFilter): Promise<ReadOutcome> {
    const row = this.findRow(type, id);
    if (!row) return { kind: 'not_found' };
    if (!this.rowSatisfies(row.pk, type, access)) return { kind: 'forbidden' };
    if (row.deleted || row.content === null) {
      return { kind: 'deleted', versionId: row.version, lastUpdated: row.last_updated };
    }
    return { kind: 'found', resource: this.stored(type, id, row.version, row.last_updated, row.content) };
  }

  async vread(type: string, id: string, versionId: number, access: AccessFilter): Promise<ReadOutcome> {
    const row = this.findRow(type, id);
    if (!row) return { kind: 'not_found' };
    const version = this.statement(
      'SELECT version, last_updated, content FROM resource_versions WHERE resource_pk = ? AND version = ?',
    ).get(row.pk, versionId) as VersionRow | undefined;
    if (!version) return { kind: 'not_found' };
    const allowed =
      version.content === null || version.version === row.version
        ? this.rowSatisfies(row.pk, type, access)
        : this.contentSatisfies(type, version.content, Date.parse(version.last_updated), access);
    if (!allowed) return { kind: 'forbidden' };
    if (version.content === null) {
      return { kind: 'deleted', versionId: version.version, lastUpdated: version.last_updated };
    }
    return {
      kind: 'found',
      resource: this.stored(type, id, version.version, version.last_updated, version.content),
    };
  }

  async create(type: string, resource: FhirResource, access: AccessFilter): Promise<WriteOutcome> {
    return this.transaction((): WriteOutcome => {
      const stored = this.writeVersion(undefined, type, randomUUID(), 1, resource);
      if (!this.rowSatisfies(stored.pk, type, access)) {
        throw new Rollback<WriteOutcome>({ kind: 'forbidden', which: 'new' });
      }
      return { kind: 'created', resource: stored.resource };
    });
  }

  async update(
    type: string,
    id: string,
    resource: FhirResource,
    options: WriteOptions,
  ): Promise<WriteOutcome> {
    return this.transaction((): WriteOutcome => {
      const row = this.findRow(type, id);
      const live = row !== undefined && !row.deleted;
      if (options.ifMatch !== undefined && (!live || row.version !== options.ifMatch)) {
        return { kind: 'version_conflict', currentVersionId: live ? row.version : undefined };
      }
      // A deleted resource is judged by its last stored version (its index is kept after a
      // delete): update-as-create cannot bring back what the caller could not have touched.
      if (row !== undefined && !this.rowSatisfies(row.pk, type, options.access)) {
        return { kind: 'forbidden', which: 'current' };
      }
      const stored = this.writeVersion(row?.pk, type, id, (row?.version ?? 0) + 1, resource);
      if (!this.rowSatisfies(stored.pk, type, options.access)) {
        throw new Rollback<WriteOutcome>({ kind: 'forbidden', which: 'new' });
      }
      return { kind: live ? 'updated' : 'created', resource: stored.resource };
    });
  }

  async delete(type: string, id: string, options: WriteOptions): Promise<DeleteOutcome> {
    return this.transaction((): DeleteOutcome => {
      const row = this.findRow(type, id);
      const live = row !== undefined && !row.deleted;
      if (options.ifMatch !== undefined && (!live || row.version !== options.ifMatch)) {
        return { kind: 'version_conflict', currentVersionId: live ? row.version : undefined };
      }
      if (!row) return { kind: 'absent' };
      if (!this.rowSatisfies(row.pk, type, options.access)) return { kind: 'forbidden' };
      if (!live) return { kind: 'absent' };
      const ms = this.now();
      const lastUpdated = new Date(ms).toISOString();
      const version = row.version + 1;
      this.statement(
        'UPDATE resources SET version = ?, last_updated = ?, last_updated_ms = ?, deleted = 1, content = NULL WHERE pk = ?',
      ).run(version, lastUpdated, ms, row.pk);
      this.statement(
        'INSERT INTO resource_versions (resource_pk, version, last_updated, content) VALUES (?, ?, ?, NULL)',
      ).run(row.pk, version, lastUpdated);
      return { kind: 'deleted', versionId: version };
    });
  }

  async search(type: string, query: SearchQuery): Promise<SearchResult> {
    const filter = searchSql(type, query.criteria, query.access, this.now());
    const where = `r.type = ? AND r.deleted = 0 AND ${filter.sql}`;
    const params = [type, ...filter.params];
    return this.db.transaction((): SearchResult => {
      const total = query.total
        ? (
            this.statement(`SELECT count(*) AS n FROM resources r WHERE ${where}`).get(...params) as {
              n: number;
            }
          ).n
        : undefined;
      const rows =
        query.count === 0
          ? []
          : (this.statement(
              `SELECT r.id, r.version, r.last_updated, r.content FROM resources r WHERE ${where} ORDER BY r.pk LIMIT ? OFFSET ?`,
            ).all(...params, query.count, query.offset) as {
              id: string;
              version: number;
              last_updated: string;
              content: string;
            }[]);
      return {
        total,
        resources: rows.map((row) => this.stored(type, row.id, row.version, row.last_updated, row.content)),
      };
    })();
  }

  async createIfAbsent(resources: readonly FhirResource[]): Promise<{ created: number; existing: number }> {
    return this.transaction(() => {
      let created = 0;
      let existing = 0;
      for (const resource of resources) {
        const id = resource.id;
        if (typeof id !== 'string' || !isFhirId(id)) {
          throw new Error(`createIfAbsent needs resources with a valid FHIR id (got ${String(id)})`);
        }
        if (this.findRow(resource.resourceType, id)) {
          existing++;
        } else {
          this.writeVersion(undefined, resource.resourceType, id, 1, resource);
          created++;
        }
      }
      return { created, existing };
    });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────────

  private transaction<T>(body: () => T): T {
    try {
      return this.db.transaction(body)();
    } catch (error) {
      if (error instanceof Rollback) return error.outcome as T;
      throw error;
    }
  }

  private findRow(type: string, id: string): ResourceRow | undefined {
    return this.statement(
      'SELECT pk, version, last_updated, deleted, content FROM resources WHERE type = ? AND id = ?',
    ).get(type, id) as ResourceRow | undefined;
  }

  /** Writes version `version` of type/id (a new row when `pk` is undefined) and re-indexes it. */
  private writeVersion(
    pk: number | undefined,
    type: string,
    id: string,
    version: number,
    resource: FhirResource,
  ): { pk: number; resource: StoredResource } {
    const ms = this.now();
    const lastUpdated = new Date(ms).toISOString();
    const content = withIdentity(resource, type, id, version, lastUpdated);
    const json = JSON.stringify(content);
    let rowPk: number;
    if (pk === undefined) {
      const inserted = this.statement(
        'INSERT INTO resources (type, id, version, last_updated, last_updated_ms, deleted, content) VALUES (?, ?, ?, ?, ?, 0, ?) RETURNING pk',
      ).get(type, id, version, lastUpdated, ms, json) as { pk: number };
      rowPk = inserted.pk;
    } else {
      rowPk = pk;
      this.statement(
        'UPDATE resources SET version = ?, last_updated = ?, last_updated_ms = ?, deleted = 0, content = ? WHERE pk = ?',
      ).run(version, lastUpdated, ms, json, pk);
    }
    this.statement(
      'INSERT INTO resource_versions (resource_pk, version, last_updated, content) VALUES (?, ?, ?, ?)',
    ).run(rowPk, version, lastUpdated, json);
    // Index the stored text itself, so search and scope constraints judge exactly what is stored.
    this.writeIndex(rowPk, type, indexEntries(type, JSON.parse(json) as object));
    return { pk: rowPk, resource: this.stored(type, id, version, lastUpdated, json) };
  }

  /**
   * Re-derives every resource's index from its stored content: the current version, or for a
   * deleted resource its last version with content (the index outlives a delete, see SCHEMA).
   */
  private rebuildIndex(): void {
    const batch = this.db.prepare(
      `SELECT r.pk, r.type, (SELECT v.content FROM resource_versions v
         WHERE v.resource_pk = r.pk AND v.content IS NOT NULL ORDER BY v.version DESC LIMIT 1) AS content
       FROM resources r WHERE r.pk > ? ORDER BY r.pk LIMIT 500`,
    );
    let after = 0;
    for (;;) {
      // In batches: better-sqlite3 cannot write while a read statement is still iterating.
      const rows = batch.all(after) as Array<{ pk: number; type: string; content: string | null }>;
      if (rows.length === 0) return;
      for (const row of rows) {
        const entries = row.content === null ? [] : indexEntries(row.type, JSON.parse(row.content) as object);
        this.writeIndex(row.pk, row.type, entries);
        after = row.pk;
      }
    }
  }

  private writeIndex(pk: number, type: string, entries: readonly IndexEntry[]): void {
    this.statement('DELETE FROM search_index WHERE resource_pk = ?').run(pk);
    const insert = this.statement(
      'INSERT INTO search_index (resource_pk, type, param, system, code, text, text_norm, date_start, date_end, ref_type, ref_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    for (const e of entries) {
      switch (e.kind) {
        case 'token':
          insert.run(pk, type, e.param, e.system, e.code, null, null, null, null, null, null);
          break;
        case 'string':
          insert.run(pk, type, e.param, null, null, e.text, e.normalized, null, null, null, null);
          break;
        case 'date':
          insert.run(pk, type, e.param, null, null, null, null, e.start, e.end, null, null);
          break;
        case 'reference':
          insert.run(pk, type, e.param, null, null, null, null, null, null, e.refType, e.refId);
          break;
      }
    }
  }

  /** Whether the stored row (its indexed search values) satisfies the access filter. */
  private rowSatisfies(pk: number, type: string, access: AccessFilter): boolean {
    if (access === null) return true;
    const filter: SqlFragment = accessSql(type, access, this.now());
    return (
      this.statement(`SELECT 1 AS ok FROM resources r WHERE r.pk = ? AND ${filter.sql}`).get(
        pk,
        ...filter.params,
      ) !== undefined
    );
  }

  /**
   * Whether arbitrary content (an older version) satisfies the access filter: indexed as a scratch
   * row inside a transaction that is always rolled back, then judged by the same SQL.
   */
  private contentSatisfies(type: string, json: string, lastUpdatedMs: number, access: AccessFilter): boolean {
    if (access === null) return true;
    return this.transaction((): boolean => {
      const content = JSON.parse(json) as Record<string, unknown>;
      const { pk } = this.statement(
        "INSERT INTO resources (type, id, version, last_updated, last_updated_ms, deleted, content) VALUES (?, '', 0, '', ?, 0, NULL) RETURNING pk",
      ).get(type, lastUpdatedMs) as { pk: number };
      this.writeIndex(pk, type, indexEntries(type, content));
      throw new Rollback(this.rowSatisfies(pk, type, access));
    });
  }

  private stored(
    type: string,
    id: string,
    versionId: number,
    lastUpdated: string,
    json: string,
  ): StoredResource {
    return { type, id, versionId, lastUpdated, json };
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/** The resource as stored: server-assigned `id`, `meta.versionId` and `meta.lastUpdated` (FHIR R4 http §3.1.0.8). */
function withIdentity(
  resource: FhirResource,
  type: string,
  id: string,
  version: number,
  lastUpdated: string,
): FhirResource {
  const { resourceType: _type, id: _id, meta, ...rest } = resource;
  const keptMeta = typeof meta === 'object' && meta !== null && !Array.isArray(meta) ? meta : {};
  return {
    resourceType: type,
    id,
    meta: { ...keptMeta, versionId: String(version), lastUpdated },
    ...rest,
  };
}
