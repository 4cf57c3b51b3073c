import { READMES, RESULTS_FILE } from './paths.js';
import { readResults, writeResultsIntoReadme } from './report.js';

/**
 * Regenerates the results block of the root README ("Performance") and of packages/bench/README.md
 * from results/latest.json, so the tables cannot drift from the data. `pnpm bench` does this
 * itself; run `node packages/bench/dist/update-readmes.js` after editing the README text.
 */
export function updateReadmes(): void {
  const results = readResults(RESULTS_FILE);
  for (const readme of READMES) writeResultsIntoReadme(readme, results);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  updateReadmes();
  process.stdout.write(`updated ${READMES.join(', ')} from ${RESULTS_FILE}\n`);
}
