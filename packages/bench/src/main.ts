import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { clientFigures } from './figures/client.js';
import { fhirApiFigures } from './figures/fhir-api.js';
import { memoryFigures } from './figures/memory.js';
import { tokenEndpointFigures, type SectionResult } from './figures/token-endpoint.js';
import { currentLoadAverage, machineInfo } from './machine.js';
import { USAGE, parseBenchOptions, type BenchOptions } from './options.js';
import { PROFILES_DIR, REPO_ROOT, RESULTS_FILE } from './paths.js';
import { killAll, removeTempDirs } from './processes.js';
import { resultsMarkdown, writeResults, type BenchResults } from './report.js';
import { updateReadmes } from './update-readmes.js';

/**
 * `pnpm bench`: every figure next to its reference, measured in one run on this machine (issue 6).
 * Progress goes to stderr; the results table (Markdown) to stdout; the data to results/latest.json
 * and the READMEs' Performance sections.
 */
async function main(): Promise<number> {
  let options: BenchOptions | 'help';
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }

  const log = (line: string) => process.stderr.write(`${line}\n`);
  const machine = machineInfo(REPO_ROOT);
  log(
    `bench: ${machine.cpuModel}, ${machine.cores} cores, ${machine.ramGiB} GiB, Node ${machine.node}, ` +
      `load average ${machine.loadAverageStart}; ${options.durationSeconds} s per measurement, ` +
      `${options.rounds} round(s), ${options.connections} connections`,
  );
  if (machine.loadAverageStart > 0.5 * machine.cores) {
    log(
      `bench: warning: the machine is busy (load average ${machine.loadAverageStart}); figures will be noisy`,
    );
  }
  const profile = options.profile ? { dir: PROFILES_DIR } : {};

  const sections: SectionResult[] = [];
  const { sections: wanted } = options;
  if (wanted.has('token')) sections.push(await tokenEndpointFigures(options, log, profile));
  if (wanted.has('fhir')) sections.push(await fhirApiFigures(options, log, profile));
  if (wanted.has('client')) sections.push(await clientFigures(options, log));
  if (wanted.has('memory')) sections.push(await memoryFigures(options, log));
  machine.loadAverageEnd = currentLoadAverage();

  const results: BenchResults = {
    schema: 1,
    machine,
    settings: {
      quick: options.quick,
      durationSeconds: options.durationSeconds,
      rounds: options.rounds,
      connections: options.connections,
      warmupRequests: options.warmupRequests,
      memoryRequests: options.memoryRequests,
      sections: [...options.sections],
    },
    figures: sections.flatMap((s) => s.figures),
    measurements: sections.flatMap((s) => s.measurements),
    problems: sections.flatMap((s) => s.problems),
  };
  process.stdout.write(`${resultsMarkdown(results)}\n`);
  if (options.write) {
    mkdirSync(dirname(RESULTS_FILE), { recursive: true });
    writeResults(RESULTS_FILE, results);
    const problems = updateReadmes();
    for (const problem of problems) log(`bench: warning: ${problem}`);
    log(`bench: wrote ${RESULTS_FILE} and the READMEs' Performance sections`);
  }
  const missed = results.figures.filter((f) => f.met === false);
  if (missed.length > 0)
    log(`bench: ${missed.length} target(s) missed: ${missed.map((f) => f.id).join(', ')}`);
  // Missing a target is a finding, not a failure of the benchmark: exit 0 unless something broke.
  return 0;
}

const cleanUp = () => {
  killAll();
  removeTempDirs();
};
process.once('SIGINT', () => {
  cleanUp();
  process.exit(130);
});
main().then(
  (code) => {
    cleanUp();
    process.exit(code);
  },
  (error: unknown) => {
    cleanUp();
    process.stderr.write(
      `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
