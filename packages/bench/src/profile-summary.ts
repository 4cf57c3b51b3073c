import { readFileSync } from 'node:fs';

/**
 * `node packages/bench/dist/profile-summary.js <file.cpuprofile> [top]`: where a V8 CPU profile
 * (node --cpu-prof, e.g. from `pnpm bench -- --profile`) spent its time — self time by function,
 * and by package or source file — so a profile can be read without DevTools.
 */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly byFunction: { name: string; ms: number }[];
  readonly byOrigin: { name: string; ms: number }[];
  /** Inclusive time of functions whose name matches the watch list. */
  readonly inclusive: { name: string; ms: number }[];
}

/** Where a frame comes from: a workspace package's source file, a dependency, node itself, or V8. */
function originOf(frame: CallFrame): string {
  const url = frame.url;
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  if (url.startsWith('node:')) return url;
  const dependency = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return dependency[1] as string;
  const workspace = /\/(apps|packages)\/([^/]+)\/(?:dist|src)\/(.+)$/.exec(url);
  if (workspace) return `${workspace[2]}/${workspace[3]}`;
  return url;
}

export function summarizeProfile(profile: CpuProfile, watch: readonly string[] = []): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const selfMs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const fn = new Map<string, number>();
  const origin = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idleMs = 0;
  for (const [id, ms] of selfMs) {
    const node = byId.get(id) as ProfileNode;
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') idleMs += ms;
    const where = originOf(frame);
    const name = `${frame.functionName || '(anonymous)'} ${where}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + ms);
    origin.set(where, (origin.get(where) ?? 0) + ms);
    // Inclusive: charge every watched ancestor once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const ancestor = (byId.get(at) as ProfileNode).callFrame.functionName;
      if (watch.includes(ancestor) && !seen.has(ancestor)) {
        seen.add(ancestor);
        inclusive.set(ancestor, (inclusive.get(ancestor) ?? 0) + ms);
      }
    }
  }
  const sorted = (m: Map<string, number>) =>
    [...m].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms);
  return { totalMs, idleMs, byFunction: sorted(fn), byOrigin: sorted(origin), inclusive: sorted(inclusive) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, topText, ...watch] = process.argv.slice(2);
  if (!file) {
    process.stderr.write(
      'usage: profile-summary <file.cpuprofile> [top] [function names for inclusive time…]\n',
    );
    process.exit(2);
  }
  const top = Number(topText ?? 25);
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, watch);
  const busy = summary.totalMs - summary.idleMs;
  const pct = (ms: number) => `${((100 * ms) / busy).toFixed(1).padStart(5)} %`;
  process.stdout.write(
    `${file}: ${(summary.totalMs / 1000).toFixed(1)} s, busy ${(busy / 1000).toFixed(1)} s\n`,
  );
  process.stdout.write('\nself time by origin (% of busy)\n');
  for (const { name, ms } of summary.byOrigin.filter((o) => o.name !== '(idle)').slice(0, top)) {
    process.stdout.write(`${pct(ms)}  ${name}\n`);
  }
  process.stdout.write('\nself time by function (% of busy)\n');
  for (const { name, ms } of summary.byFunction.filter((f) => !f.name.startsWith('(idle)')).slice(0, top)) {
    process.stdout.write(`${pct(ms)}  ${name}\n`);
  }
  if (summary.inclusive.length > 0) {
    process.stdout.write('\ninclusive time (% of busy)\n');
    for (const { name, ms } of summary.inclusive) process.stdout.write(`${pct(ms)}  ${name}\n`);
  }
}
