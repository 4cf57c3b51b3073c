import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

/**
 * One load-generator run: autocannon, in this process, `connections` keep-alive connections, a
 * fixed number of requests. Throughput is completed requests over the time from the start to the
 * last response (autocannon's own duration is rounded to its 1 s sampling tick); p50/p99 come from
 * every response's exact latency, not autocannon's integer-millisecond histogram.
 */
export interface LoadSpec {
  /** The server's origin, e.g. http://127.0.0.1:4000. */
  readonly origin: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers?: Record<string, string>;
  /**
   * Request bodies handed out one per request, in order, never twice while they last (a body
   * built but not sent when the run ends is skipped). Omit for bodiless requests.
   */
  readonly bodies?: readonly string[];
  /** When true, bodies are cycled (for targets that do not care about uniqueness). */
  readonly cycleBodies?: boolean;
  readonly amount: number;
  readonly connections: number;
  /** The server's process id: its CPU time during the run is recorded. */
  readonly serverPid?: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  /** Completed requests per second. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses with a status other than 2xx. */
  readonly non2xx: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
  readonly statusCodes: Record<string, number>;
  /** True when the run needed more unique bodies than it was given (its results are not valid). */
  readonly bodiesExhausted: boolean;
  /** CPU seconds (user + system, all threads) the server process used during the run. */
  readonly serverCpuSeconds?: number;
  /** CPU seconds the load generator (this process) used during the run. */
  readonly loadGeneratorCpuSeconds: number;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const latencies = new Float64Array(spec.amount + spec.connections);
  let completed = 0;
  let next = 0;
  let bodiesExhausted = false;
  const bodies = spec.bodies;

  const request: autocannon.Request = {
    method: spec.method,
    path: spec.path,
    headers: spec.headers ?? {},
  };
  if (bodies) {
    request.setupRequest = (req) => {
      if (next >= bodies.length) {
        if (!spec.cycleBodies) bodiesExhausted = true;
        next = 0;
      }
      req.body = bodies[next++];
      return req;
    };
  }

  const serverCpuBefore = spec.serverPid === undefined ? undefined : processCpuSeconds(spec.serverPid);
  const ownCpuBefore = process.cpuUsage();
  const started = performance.now();
  let last = started;
  const instance = autocannon({
    url: spec.origin,
    connections: spec.connections,
    amount: spec.amount,
    timeout: 30,
    requests: [request],
  });
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    if (completed < latencies.length) latencies[completed] = responseTime;
    completed++;
    last = performance.now();
  });
  const result = await instance;
  const ownCpu = process.cpuUsage(ownCpuBefore);
  const serverCpuSeconds =
    serverCpuBefore === undefined || spec.serverPid === undefined
      ? undefined
      : processCpuSeconds(spec.serverPid) - serverCpuBefore;

  const seconds = (last - started) / 1000;
  const sorted = latencies.subarray(0, Math.min(completed, latencies.length)).sort();
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]),
  );
  return {
    requests: completed,
    seconds,
    rps: seconds > 0 ? completed / seconds : 0,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    non2xx: result.non2xx,
    errors: result.errors,
    statusCodes,
    bodiesExhausted,
    ...(serverCpuSeconds !== undefined && { serverCpuSeconds }),
    loadGeneratorCpuSeconds: (ownCpu.user + ownCpu.system) / 1e6,
  };
}

/** utime + stime of a process (all its threads), from /proc/<pid>/stat, in seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** USER_HZ: 100 on Linux for every architecture Node supports. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array | readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** A short human description of what went wrong in a run, or undefined if it was clean. */
export function runProblem(result: LoadResult): string | undefined {
  if (result.bodiesExhausted) return 'ran out of pre-signed assertions';
  if (result.errors > 0) return `${result.errors} connection errors or timeouts`;
  if (result.non2xx > 0) return `${result.non2xx} non-2xx responses (${JSON.stringify(result.statusCodes)})`;
  return undefined;
}
