import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** packages/bench (this file is dist/paths.js). */
export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = join(BENCH_DIR, '..', '..');
export const RESULTS_FILE = join(BENCH_DIR, 'results', 'latest.json');
export const PROFILES_DIR = join(BENCH_DIR, 'results', 'profiles');
/** The READMEs whose bench markers show the latest results. */
export const READMES = [join(REPO_ROOT, 'README.md'), join(BENCH_DIR, 'README.md')];
