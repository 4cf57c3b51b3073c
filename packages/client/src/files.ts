import { constants } from 'node:fs';
import { lstat, mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InvalidInputError } from './errors.js';

/** What a failed file-system call means, in words a user can act on. */
const ERRNO_MEANINGS: Record<string, string> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'is below something that is not a directory',
  EACCES: 'is not accessible: permission denied',
  EPERM: 'is not accessible: operation not permitted',
  EROFS: 'is on a read-only file system',
  ELOOP: 'has too many levels of symbolic links',
  ENAMETOOLONG: 'has a name that is too long',
  EISDIR: 'is a directory',
  ENXIO: 'is not a readable file',
  EIO: 'cannot be read: I/O error',
  EAGAIN: 'cannot be read without blocking',
  ENOSPC: 'cannot be written: no space left on device',
  EDQUOT: 'cannot be written: disk quota exceeded',
};

/** `${what} ${path} <meaning> (CODE)`: one line that names the path. */
export function fileProblem(what: string, path: string, error: unknown): InvalidInputError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const meaning = (code !== undefined && ERRNO_MEANINGS[code]) || 'cannot be used';
  return new InvalidInputError(`${what} ${path} ${meaning}${code ? ` (${code})` : ''}`, { cause: error });
}

/** A small file's text and the permission bits of the very file it was read from. */
export interface SmallFile {
  text: string;
  mode: number;
}

/**
 * Reads a small text file (keys, JWK Sets, FHIR resources) with a clear message for each failure.
 * Only regular files are opened: a FIFO or a device could block or never end. The file is opened
 * non-blocking and checked again through the open handle (the path may change between the two), and
 * at most `maxBytes + 1` bytes are read, whatever size it claims: files under /proc say 0.
 */
export async function readSmallFile(path: string, what: string, maxBytes: number): Promise<SmallFile> {
  try {
    if (!(await stat(path)).isFile()) throw new InvalidInputError(`${what} ${path} is not a regular file`);
    const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new InvalidInputError(`${what} ${path} is not a regular file`);
      const bytes = await readAtMost(handle, maxBytes + 1);
      if (bytes.length > maxBytes)
        throw new InvalidInputError(`${what} ${path} is larger than ${maxBytes} bytes`);
      return { text: bytes.toString('utf8'), mode: info.mode & 0o7777 };
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    throw fileProblem(what, path, error);
  }
}

export async function readSmallTextFile(path: string, what: string, maxBytes: number): Promise<string> {
  return (await readSmallFile(path, what, maxBytes)).text;
}

async function readAtMost(handle: FileHandle, limit: number): Promise<Buffer> {
  const buffer = Buffer.alloc(limit);
  let filled = 0;
  while (filled < limit) {
    const { bytesRead } = await handle.read(buffer, filled, limit - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/**
 * Makes sure `dir` is a directory, creating it and any missing parents with `mode`. Each missing
 * level is created on its own: Node 20's `mkdir({ recursive: true })` retries forever when a parent
 * exists but refuses the child with ENOENT (`/proc/x`). Throws {@link InvalidInputError} naming `dir`.
 */
export async function ensureDirectory(dir: string, mode: number): Promise<void> {
  const what = 'directory';
  const missing: string[] = [];
  for (let current = dir; ; current = dirname(current)) {
    let info;
    try {
      info = await stat(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || dirname(current) === current) throw fileProblem(what, dir, error);
      missing.push(current);
      continue;
    }
    if (!info.isDirectory()) {
      throw new InvalidInputError(
        current === dir
          ? `${dir} is not a directory`
          : `${what} ${dir} is below ${current}, which is not a directory`,
      );
    }
    break;
  }
  for (const level of missing.reverse()) {
    try {
      await mkdir(level, { mode });
    } catch (error) {
      // Another process may have made it meanwhile; a directory there is all that is asked for.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && (await isDirectory(level))) continue;
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new InvalidInputError(`${what} ${dir} cannot be created here (ENOENT)`, { cause: error });
      }
      throw fileProblem(what, dir, error);
    }
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch {
    return false;
  }
}
