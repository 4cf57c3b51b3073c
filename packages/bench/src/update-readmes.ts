import { READMES, RESULTS_FILE } from './paths.js';
import { readResults, writeResultsIntoReadme } from './report.js';

/**
 * Regenerates the results block of the root README ("Performance") and of packages/bench/README.md
 * from results/latest.json, so the tables cannot drift from the data. `pnpm bench` does this
 * itself; run `node packages/bench/dist/update-readmes.js` after editing the README text.
 */
export function updateReadmes(): string[] {
  const results = readResults(RESULTS_FILE);
  const problems: string[] = [];
  for (const readme of READMES) {
    try {
      writeResultsIntoReadme(readme, results);
    } catch (error) {
      // A README without the markers must not throw away a finished run: results/latest.json is written.
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const problems = updateReadmes();
  for (const problem of problems) process.stderr.write(`update-readmes: ${problem}\n`);
  process.stdout.write(`updated ${READMES.join(', ')} from ${RESULTS_FILE}\n`);
  process.exitCode = problems.length > 0 ? 1 : 0;
}
