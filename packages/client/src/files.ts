import { readFile, stat } from 'node:fs/promises';
import { InvalidInputError } from './errors.js';

/** Reads a small text file (keys, JWK Sets, FHIR resources) with a clear message for each failure. */
export async function readSmallTextFile(path: string, what: string, maxBytes: number): Promise<string> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new InvalidInputError(`${what} ${path} is not a regular file`);
    if (info.size > maxBytes) throw new InvalidInputError(`${what} ${path} is larger than ${maxBytes} bytes`);
    return await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InvalidInputError(`${what} ${path} does not exist`);
    if (code === 'EACCES' || code === 'EPERM')
      throw new InvalidInputError(`${what} ${path} is not readable (permission denied)`);
    throw new InvalidInputError(`${what} ${path} cannot be read (${code ?? 'unknown error'})`);
  }
}
