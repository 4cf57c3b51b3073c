import { currentLoadAverage } from './machine.js';
import { median, runLoad, runProblem, type LoadResult, type LoadSpec } from './load.js';

/**
 * A target measured several times in one run. Every measurement is sized (number of requests) to
 * last about `durationSeconds` at the rate this target last showed; the first is preceded by a
 * warm-up. Results are the medians over the rounds.
 */
export interface Target {
  readonly id: string;
  readonly label: string;
  /** The load for `amount` requests (bodies signed on demand, before the clock starts). */
  prepare(amount: number): Promise<Omit<LoadSpec, 'amount' | 'connections'>>;
}

export interface Measurement extends LoadResult {
  readonly target: string;
  readonly round: number;
  readonly loadAverage: number;
}

export interface Summary {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Server CPU time per request (all its threads), microseconds. */
  readonly serverCpuUs: number;
  /** Load-generator CPU time per request, microseconds. */
  readonly loadGeneratorCpuUs: number;
  readonly problems: string[];
}

export interface MeasureSettings {
  readonly durationSeconds: number;
  readonly warmupRequests: number;
  readonly connections: number;
}

export class Campaign {
  private readonly rates = new Map<string, number>();
  readonly measurements: Measurement[] = [];

  constructor(
    private readonly settings: MeasureSettings,
    private readonly log: (line: string) => void,
  ) {}

  async measure(target: Target, round: number): Promise<Measurement> {
    let rate = this.rates.get(target.id);
    if (rate === undefined) {
      // Warm-up: a probe of a fixed number of requests, then about 2 s at the rate it showed.
      for (const amount of [this.settings.warmupRequests, undefined]) {
        const warm = await this.run(target, amount ?? Math.max(200, Math.round((rate ?? 0) * 2)));
        const problem = runProblem(warm);
        if (problem) throw new Error(`${target.label}: warm-up failed: ${problem}`);
        rate = warm.rps;
      }
      this.log(`  ${target.label}: warmed up at ${Math.round(rate ?? 0)} req/s`);
    }
    if (rate === undefined) throw new Error('unreachable');
    // A run much shorter than asked for (the rate estimate came from a colder process) is one more
    // warm-up: it is repeated with the rate it showed.
    let result: LoadResult;
    for (let attempt = 1; ; attempt++) {
      const amount = Math.max(200, Math.round(rate * this.settings.durationSeconds));
      result = await this.run(target, amount);
      rate = result.rps;
      if (result.seconds >= 0.75 * this.settings.durationSeconds || attempt === 3 || runProblem(result))
        break;
      this.log(
        `  ${target.label}: ${result.seconds.toFixed(1)} s at ${Math.round(rate)} req/s, too short; again`,
      );
    }
    this.rates.set(target.id, result.rps);
    const measurement: Measurement = {
      ...result,
      target: target.id,
      round,
      loadAverage: currentLoadAverage(),
    };
    this.measurements.push(measurement);
    const problem = runProblem(result);
    this.log(
      `  ${target.label} (round ${round}): ${Math.round(result.rps)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, ` +
        `p99 ${result.p99Ms.toFixed(2)} ms, ${result.requests} requests in ${result.seconds.toFixed(1)} s, ` +
        `CPU/request: server ${cpuPerRequest(result.serverCpuSeconds, result.requests)}, ` +
        `load generator ${cpuPerRequest(result.loadGeneratorCpuSeconds, result.requests)}` +
        (problem ? ` — ${problem}` : ''),
    );
    return measurement;
  }

  summary(targetId: string): Summary {
    const runs = this.measurements.filter((m) => m.target === targetId);
    return {
      rps: median(runs.map((m) => m.rps)),
      p50Ms: median(runs.map((m) => m.p50Ms)),
      p99Ms: median(runs.map((m) => m.p99Ms)),
      serverCpuUs: median(runs.map((m) => ((m.serverCpuSeconds ?? Number.NaN) * 1e6) / m.requests)),
      loadGeneratorCpuUs: median(runs.map((m) => (m.loadGeneratorCpuSeconds * 1e6) / m.requests)),
      problems: runs.flatMap((m) => {
        const problem = runProblem(m);
        return problem ? [`${targetId} round ${m.round}: ${problem}`] : [];
      }),
    };
  }

  private async run(target: Target, amount: number): Promise<LoadResult> {
    const spec = await target.prepare(amount);
    // Let the signing threads' garbage and the previous run's sockets settle.
    await new Promise((resolve) => setTimeout(resolve, 500));
    return runLoad({ ...spec, amount, connections: this.settings.connections });
  }
}

/** Runs `pairs` for `rounds` rounds; within each pair the side that goes first alternates. */
export async function alternate(
  campaign: Campaign,
  rounds: number,
  pairs: readonly (readonly [Target, Target])[],
  extra: readonly Target[] = [],
): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    for (const [a, b] of pairs) {
      const order = round % 2 === 1 ? [a, b] : [b, a];
      for (const target of order) await campaign.measure(target, round);
    }
    for (const target of extra) await campaign.measure(target, round);
  }
}

function cpuPerRequest(seconds: number | undefined, requests: number): string {
  return seconds === undefined ? '?' : `${Math.round((seconds * 1e6) / requests)} µs`;
}
