import fs from 'node:fs';
import path from 'node:path';

/**
 * What the server keeps under DATA_DIR (health data, private signing keys) is for its own user
 * only: the directory it creates is 0700 and every file in it 0600, whatever the umask.
 */

export const PRIVATE_DIRECTORY_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Files SQLite keeps beside a database (sqlite.org/tempfiles.html: rollback journal, WAL, wal-index). */
const SQLITE_COMPANION_SUFFIXES = ['-journal', '-wal', '-shm'] as const;

/**
 * Creates `dir` (and missing parents) with mode 0700. An existing directory keeps its mode: it
 * may be shared or chosen by the operator, so {@link looseDirectoryWarning} reports it instead.
 * Each missing level is created on its own: Node 20's `mkdirSync(…, { recursive: true })` retries
 * for ever when a parent exists but refuses the child with ENOENT (`/proc/x`), which would hang
 * start-up instead of failing it.
 */
export function ensurePrivateDirectory(dir: string): void {
  const missing: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    try {
      if (!fs.statSync(current).isDirectory()) {
        throw new Error(`DATA_DIR ${dir} cannot be created: ${current} is not a directory`);
      }
      break;
    } catch (error) {
      const root = path.dirname(current) === current;
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || root) throw error;
      missing.push(current);
    }
  }
  for (const level of missing.reverse()) {
    try {
      fs.mkdirSync(level, { mode: PRIVATE_DIRECTORY_MODE });
    } catch (error) {
      // Made meanwhile by another process: a directory there is all that is asked for.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(level).isDirectory()) continue;
      throw error;
    }
  }
}

/**
 * Prepares a SQLite database file before SQLite opens it: creates it with mode 0600 (so it never
 * exists with the umask's mode) and tightens it and any companion left by an earlier run to 0600.
 * SQLite creates the companions it makes later with exactly the mode of the database file, umask
 * notwithstanding (it fchmods a new, empty -wal/-shm/-journal to the database's mode), but leaves
 * the mode of an existing non-empty one alone. A file owned by another user cannot be chmodded:
 * that throws, and the store refuses to open.
 */
export function preparePrivateSqliteFile(filePath: string): void {
  ensurePrivateDirectory(path.dirname(filePath));
  fs.closeSync(fs.openSync(filePath, 'a', PRIVATE_FILE_MODE));
  fs.chmodSync(filePath, PRIVATE_FILE_MODE);
  for (const suffix of SQLITE_COMPANION_SUFFIXES) {
    try {
      fs.chmodSync(`${filePath}${suffix}`, PRIVATE_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

export interface LooseDirectory {
  readonly data_dir: string;
  /** e.g. "0755". */
  readonly mode: string;
}

/**
 * An existing DATA_DIR that group or others may enter, list or write (it predates the server, or
 * was made by hand). The files in it are still 0600, but others can see their names and, if they
 * may write, put files beside them. Reported at start-up; the server does not change it.
 */
export function looseDirectoryWarning(dir: string): LooseDirectory | undefined {
  const mode = fs.statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  return { data_dir: dir, mode: `0${mode.toString(8).padStart(3, '0')}` };
}
