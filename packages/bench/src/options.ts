import { parseArgs } from 'node:util';

/** What one `pnpm bench` run does. Flags only: turbo does not pass environment variables through. */
export interface BenchOptions {
  /** Seconds of load per measurement (each target, each round). */
  readonly durationSeconds: number;
  /** Rounds per comparison; the order of ours and the reference alternates between rounds. */
  readonly rounds: number;
  /** Requests per target before its first measurement (JIT, caches, connection pools). */
  readonly warmupRequests: number;
  /** Concurrent keep-alive connections of the load generator. */
  readonly connections: number;
  /** Token requests for the memory figure. */
  readonly memoryRequests: number;
  /** Lifetime of the memory figure's assertions (their exp − iat), seconds. */
  readonly memoryAssertionLifetimeSeconds: number;
  readonly sections: ReadonlySet<Section>;
  /** Write results/latest.json and the README tables (off for trial runs). */
  readonly write: boolean;
  /** Start our servers with --cpu-prof; profiles go to results/profiles/. */
  readonly profile: boolean;
  readonly quick: boolean;
}

export const SECTIONS = ['token', 'fhir', 'client', 'memory'] as const;
export type Section = (typeof SECTIONS)[number];

export const USAGE = `Usage: pnpm bench [-- options]     (or: node packages/bench/dist/main.js [options])

  --quick              3 s per measurement, 1 round, shorter warm-up (a smoke run, ~3 min)
  --duration S         seconds of load per measurement (default 10)
  --rounds N           rounds per comparison, alternating which side goes first (default 3)
  --connections N      concurrent connections of the load generator (default 16)
  --warmup N           requests per target before its first measurement (default 2000)
  --memory-requests N  token requests for the memory figure (default 20000)
  --only LIST          comma-separated sections: ${SECTIONS.join(',')} (default all)
  --no-write           print the table only; leave results/latest.json and the READMEs alone
  --profile            run our servers with node --cpu-prof (profiles in packages/bench/results/profiles)
  --help
`;

export function parseBenchOptions(argv: readonly string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      warmup: { type: 'string' },
      'memory-requests': { type: 'string' },
      only: { type: 'string' },
      'no-write': { type: 'boolean' },
      profile: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  const sections = values.only ? values.only.split(',').map((s) => s.trim()) : [...SECTIONS];
  for (const section of sections) {
    if (!(SECTIONS as readonly string[]).includes(section)) {
      throw new Error(`--only: unknown section ${JSON.stringify(section)}; use ${SECTIONS.join(', ')}`);
    }
  }
  return {
    quick,
    durationSeconds: positive('--duration', values.duration, quick ? 3 : 10),
    rounds: positive('--rounds', values.rounds, quick ? 1 : 3),
    connections: positive('--connections', values.connections, 16),
    warmupRequests: positive('--warmup', values.warmup, quick ? 500 : 2000),
    memoryRequests: positive('--memory-requests', values['memory-requests'], 20_000),
    memoryAssertionLifetimeSeconds: 5,
    sections: new Set(sections as Section[]),
    write: !(values['no-write'] ?? false),
    profile: values.profile ?? false,
  };
}

function positive(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, got ${value}`);
  return n;
}
