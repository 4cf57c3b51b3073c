#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadKeysCliConfig, parseAccessTokenAlg, redactUrl } from './config.js';
import { activationTime, rotateSigningKey, signingKeyStatuses } from './signing/signing-keys.js';
import type { KeyStore } from './store/interfaces.js';
import { describeError } from './store/open.js';
import {
  POSTGRES_SCHEMA_VERSION,
  createPostgresPool,
  migratePostgres,
  openPostgresStores,
} from './store/postgres.js';
import { SQLITE_FILES, SqliteKeyStore } from './store/sqlite.js';

/**
 * `smart-auth`: operator commands for the authorization server's signing keys. Works on the same
 * store as the running servers — DATA_DIR, or the PostgreSQL database of DATABASE_URL shared by
 * every replica — which notice a rotation within 5 s, or at once on their next JWKS request, publish
 * the new key then and sign with it from its activation time (KEY_ACTIVATION_DELAY after the
 * rotation, read from the environment as the servers do).
 * Exit codes: 0 done, 1 failed, 2 usage or configuration error.
 */

const USAGE = `Usage:
  smart-auth keys rotate [--data-dir DIR] [--alg ALG] [--json]
      Generate a new access-token signing key and make it the current one. The servers publish
      it in the JWKS at once and sign with it from KEY_ACTIVATION_DELAY seconds after the
      rotation (printed as activates_at); the key signing until then keeps signing and stays
      published until every token it signed has expired (KEY_ACTIVATION_DELAY +
      ACCESS_TOKEN_TTL + CLOCK_SKEW + 5 s after the rotation), then it is removed.
  smart-auth keys list [--data-dir DIR] [--json]
      List the signing keys: kid, alg, status (signing, published (activates at …),
      retiring (until …), expired), created, retire-after. Never prints key material.
  smart-auth db migrate [--json]
      Create or migrate the PostgreSQL schema of DATABASE_URL (what every server start does), so
      the servers can run with a role that may not create tables. Idempotent.
  smart-auth --help

Options:
  --data-dir DIR   the server's DATA_DIR (default: $DATA_DIR, else ./data)
  --alg ALG        algorithm of the new key (default: $ACCESS_TOKEN_ALG, else ES256)
  --json           machine-readable output

Environment: DATA_DIR, DATABASE_URL, ACCESS_TOKEN_ALG, ACCESS_TOKEN_TTL, CLOCK_SKEW,
KEY_ACTIVATION_DELAY (as for the servers: use the same values). With DATABASE_URL set, the keys are those in that PostgreSQL database (--data-dir does
not apply); the database must already hold the server's schema.
Exit codes: 0 success, 1 failure, 2 usage or configuration error.
`;

class UsageError extends Error {}

/** A --data-dir (or DATA_DIR) that holds no usable key store: exit 2 with one line naming the path. */
class DataDirError extends Error {}

/**
 * The key store of a DATA_DIR, refusing anything but an existing regular `keys.db` in a directory
 * before SQLite touches it: the CLI never creates a key store (a mistyped path fails loudly), and
 * opening a FIFO or a device there would block.
 */
function openSqliteKeyStore(dataDir: string): KeyStore {
  const keysFile = path.join(dataDir, SQLITE_FILES.keys);
  let keysFileInfo: fs.Stats;
  try {
    if (!fs.statSync(dataDir).isDirectory())
      throw new DataDirError(`the data directory ${dataDir} is not a directory`);
    keysFileInfo = fs.statSync(keysFile);
  } catch (error) {
    if (error instanceof DataDirError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DataDirError(
        `no key store at ${keysFile} (start the server once on this DATA_DIR, or check --data-dir)`,
      );
    }
    throw new DataDirError(`cannot use the data directory ${dataDir}: ${describeError(error).message}`);
  }
  if (!keysFileInfo.isFile()) throw new DataDirError(`the key store ${keysFile} is not a regular file`);
  try {
    return new SqliteKeyStore(dataDir);
  } catch (error) {
    throw new DataDirError(`cannot open the key store ${keysFile}: ${describeError(error).message}`);
  }
}

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'data-dir': { type: 'string' },
        alg: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const [group, command, ...extra] = positionals;
  if (group === 'db' && command === 'migrate' && extra.length === 0) {
    if (values['data-dir'] !== undefined || values.alg !== undefined)
      throw new UsageError('db migrate takes neither --data-dir nor --alg');
    return migrate(values.json === true);
  }
  if (group !== 'keys' || (command !== 'rotate' && command !== 'list') || extra.length > 0) {
    throw new UsageError(
      positionals.length === 0 ? 'no command given' : `unknown command: ${positionals.join(' ')}`,
    );
  }
  if (command === 'list' && values.alg !== undefined)
    throw new UsageError('--alg applies to keys rotate only');

  const env = loadKeysCliConfig();
  if (env.databaseUrl !== undefined && values['data-dir'] !== undefined)
    throw new UsageError('--data-dir does not apply when DATABASE_URL is set (the keys are in PostgreSQL)');
  const alg = values.alg !== undefined ? parseAccessTokenAlg(values.alg) : env.accessTokenAlg;

  let store: KeyStore;
  if (env.databaseUrl !== undefined) {
    try {
      const opened = await openPostgresStores(env.databaseUrl, { migrate: false });
      await opened.clients.close(); // the pool stays open for the key store
      store = opened.keys;
    } catch (error) {
      process.stderr.write(
        `smart-auth: no usable key store in PostgreSQL at ${redactUrl(env.databaseUrl)}: ${describeError(error).message} (start the server once on this database, or check DATABASE_URL)\n`,
      );
      return 1;
    }
  } else {
    const dataDir = values['data-dir'] !== undefined ? path.resolve(values['data-dir']) : env.dataDir;
    store = openSqliteKeyStore(dataDir);
  }
  try {
    const timings = {
      keyActivationDelaySeconds: env.keyActivationDelaySeconds,
      accessTokenTtlSeconds: env.accessTokenTtlSeconds,
      clockSkewSeconds: env.clockSkewSeconds,
    };
    if (command === 'rotate') {
      const { key, retired, retireAfter, activatesAt } = await rotateSigningKey(store, { alg, ...timings });
      const result = {
        event: 'rotate',
        kid: key.kid,
        alg: key.alg,
        retired,
        activates_at: isoDate(activatesAt),
        retire_after: isoDate(retireAfter),
      };
      process.stdout.write(
        values.json
          ? `${JSON.stringify(result)}\n`
          : `new signing key ${key.kid} (${key.alg}) is published and signs from ${result.activates_at}${
              activatesAt > key.createdAt ? ' (the key signing now keeps signing until then)' : ''
            }${retired.length ? `; ${retired.join(', ')} stays published until ${result.retire_after}` : ''}\n`,
      );
      return 0;
    }
    const now = Math.floor(Date.now() / 1000);
    const keys = signingKeyStatuses(await store.list(), now, timings).map(({ key, status }) => ({
      kid: key.kid,
      alg: key.alg,
      status,
      created_at: isoDate(key.createdAt),
      activates_at: status === 'published' ? isoDate(activationTime(key, timings)) : null,
      retire_after: key.retireAfter === null ? null : isoDate(key.retireAfter),
    }));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(keys)}\n`);
    } else {
      const rows = [
        ['KID', 'ALG', 'STATUS', 'CREATED', 'RETIRE AFTER'],
        ...keys.map((k) => [k.kid, k.alg, statusText(k), k.created_at, k.retire_after ?? '-']),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const row of rows)
        process.stdout.write(
          `${row
            .map((cell, i) => cell.padEnd(widths[i]!))
            .join('  ')
            .trimEnd()}\n`,
        );
    }
    return 0;
  } finally {
    await store.close();
  }
}

/** Error texts from the file system or SQLite can carry a path with a newline; stderr gets one line. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function isoDate(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}

/** `signing`, `published (activates at …)`, `retiring (until …)` or `expired`. */
function statusText(key: {
  status: string;
  activates_at: string | null;
  retire_after: string | null;
}): string {
  if (key.status === 'published') return `published (activates at ${key.activates_at})`;
  if (key.status === 'retiring') return `retiring (until ${key.retire_after})`;
  return key.status;
}

/** `smart-auth db migrate`: the start-up migration on its own (deploy pipelines, least privilege). */
async function migrate(json: boolean): Promise<number> {
  const { databaseUrl } = loadKeysCliConfig();
  if (databaseUrl === undefined) throw new UsageError('db migrate needs DATABASE_URL');
  const pool = createPostgresPool(databaseUrl);
  try {
    const applied = await migratePostgres(pool);
    process.stdout.write(
      json
        ? `${JSON.stringify({ event: 'migrate', applied, version: POSTGRES_SCHEMA_VERSION })}\n`
        : `schema at version ${POSTGRES_SCHEMA_VERSION}${applied.length ? ` (applied ${applied.join(', ')})` : ' (nothing to do)'}\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(
      `smart-auth: cannot migrate PostgreSQL at ${redactUrl(databaseUrl)}: ${describeError(error).message}\n`,
    );
    return 1;
  } finally {
    await pool.end();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`smart-auth: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    if (error instanceof DataDirError) {
      process.stderr.write(`smart-auth: ${oneLine(error.message)}\n`);
      process.exit(2);
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`smart-auth: invalid configuration: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`smart-auth: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
