// Regenerates the reason-code catalogue in README.md from @smart-backend/protocol's REASONS table
// (between the reason-codes markers). Run after `pnpm build`: node scripts/reason-table.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { REASONS } from '../packages/protocol/dist/index.js';

const START = '<!-- reason-codes:start -->';
const END = '<!-- reason-codes:end -->';
const rows = Object.entries(REASONS).map(
  ([code, { error, status, summary }]) =>
    `| \`${code}\` | \`${error}\` | ${status} | ${summary.replaceAll('|', '\\|')} |`,
);
const table = ['| reason | error | HTTP | meaning |', '|---|---|---|---|', ...rows].join('\n');
const readme = readFileSync('README.md', 'utf8');
const start = readme.indexOf(START);
const end = readme.indexOf(END);
if (start < 0 || end < 0) throw new Error('README.md has no reason-codes markers');
writeFileSync('README.md', `${readme.slice(0, start + START.length)}\n${table}\n${readme.slice(end)}`);
console.log(`README.md: ${rows.length} reason codes (run prettier --write README.md)`);
