import { readFileSync, writeFileSync } from 'node:fs';
import type { MachineInfo } from './machine.js';

/**
 * One line of the results table: our figure, the reference it is measured next to (in the same
 * run, on the same machine, with the same load generator), their ratio and the target.
 */
export interface Figure {
  /** Stable id, e.g. `token.rs384.throughput`. */
  readonly id: string;
  readonly section: string;
  readonly name: string;
  readonly ours: Quantity;
  readonly reference?: Quantity & { readonly name: string };
  /** ours / reference (for latencies too: below 1 is faster than the reference). */
  readonly ratio?: number;
  /** Human-readable target, e.g. `≥ 2×`; absent for figures reported for information. */
  readonly target?: string;
  /** Absent when there is no target. */
  readonly met?: boolean;
  readonly note?: string;
}

export interface Quantity {
  readonly value: number;
  readonly unit: Unit;
}

export type Unit = 'req/s' | 'tokens/s' | 'ms' | 'µs' | 'MB' | 'rows' | 'requests' | 's';

export interface BenchResults {
  readonly schema: 1;
  readonly machine: MachineInfo;
  readonly settings: Record<string, unknown>;
  readonly figures: Figure[];
  /** Every individual measurement, for whoever wants to look closer. */
  readonly measurements: Record<string, unknown>[];
  readonly problems: string[];
}

export function ratioOf(ours: number, reference: number): number | undefined {
  return reference > 0 && Number.isFinite(ours) ? ours / reference : undefined;
}

export function formatQuantity(q: Quantity): string {
  switch (q.unit) {
    case 'req/s':
    case 'tokens/s':
      return `${Math.round(q.value).toLocaleString('en-US')} ${q.unit}`;
    case 'ms':
      return `${q.value < 10 ? q.value.toFixed(2) : q.value.toFixed(1)} ms`;
    case 'µs':
      return `${Math.round(q.value)} µs`;
    case 'MB':
      return `${q.value.toFixed(1)} MB`;
    case 's':
      return `${q.value.toFixed(1)} s`;
    case 'rows':
    case 'requests': {
      const n = Math.round(q.value);
      return `${n.toLocaleString('en-US')} ${n === 1 ? q.unit.slice(0, -1) : q.unit}`;
    }
  }
}

function formatRatio(ratio: number | undefined): string {
  if (ratio === undefined) return '—';
  return `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}×`;
}

/** The results table, formatted exactly as Prettier formats Markdown tables (so `pnpm lint` passes). */
export function resultsTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    `${f.section}: ${f.name}`,
    formatQuantity(f.ours),
    f.reference ? `${f.reference.name}: ${formatQuantity(f.reference)}` : '—',
    formatRatio(f.ratio),
    f.target ?? '—',
    f.met === undefined ? '—' : f.met ? 'yes' : '**no**',
  ]);
  return markdownTable(['figure', 'ours', 'reference', 'ratio', 'target', 'met?'], rows);
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const escape = (cell: string) => cell.replaceAll('|', '\\|');
  const all = [header, ...rows].map((row) => row.map(escape));
  const widths = header.map((_, i) => Math.max(3, ...all.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    `| ${row.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ')} |`;
  return [
    line(all[0] as string[]),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...all.slice(1).map(line),
  ].join('\n');
}

/** The Markdown block that stdout, the package README and the root README all show. */
export function resultsMarkdown(results: BenchResults): string {
  const m = results.machine;
  const s = results.settings;
  const lines = [
    `Measured ${m.date.slice(0, 10)} on ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ` +
      `Node ${m.node}, ${m.os}; commit ${m.commit}${m.dirty ? ' (with uncommitted changes)' : ''}. ` +
      `${String(s.durationSeconds)} s per measurement, ${String(s.rounds)} round(s), ` +
      `${String(s.connections)} connections; load average ${m.loadAverageStart} → ${m.loadAverageEnd ?? '?'}.` +
      (s.quick ? ' Quick mode: indicative only.' : ''),
    '',
    resultsTable(results.figures),
  ];
  if (results.problems.length > 0) {
    lines.push('', 'Problems in this run:', '', ...results.problems.map((p) => `- ${p}`));
  }
  return lines.join('\n');
}

export const README_START = '<!-- bench:start -->';
export const README_END = '<!-- bench:end -->';

/** Replaces what is between the bench markers of a README with the results block. */
export function writeResultsIntoReadme(file: string, results: BenchResults): void {
  const readme = readFileSync(file, 'utf8');
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) throw new Error(`${file} has no ${README_START} … ${README_END} markers`);
  const updated = `${readme.slice(0, start + README_START.length)}\n\n${resultsMarkdown(results)}\n\n${readme.slice(end)}`;
  writeFileSync(file, updated);
}

export function readResults(file: string): BenchResults {
  return JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
}

export function writeResults(file: string, results: BenchResults): void {
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}
