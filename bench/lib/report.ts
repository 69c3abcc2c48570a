/**
 * What scenarios hand back (tables and judged targets) and how it becomes bench/RESULTS.md.
 * Scenarios produce plain data; this file alone decides the Markdown.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fmt } from './stats.js';

export interface Table {
  readonly caption?: string;
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** One target of the issue, judged against a figure of this run. */
export interface Verdict {
  readonly target: string;
  readonly measured: string;
  readonly pass: boolean;
  /** "PASS", or "MISS by ..." saying how far off. */
  readonly result: string;
}

export interface Section {
  readonly id: string;
  readonly title: string;
  /** How the figures were measured, in a sentence or two. */
  readonly method: string;
  readonly tables: readonly Table[];
  readonly verdicts: readonly Verdict[];
  readonly notes: readonly string[];
  /** The machine's 1-minute load average when the scenario started and ended: how contended it was. */
  readonly loadAverage: { readonly start: number; readonly end: number };
  /** Set when the scenario could not finish; its figures so far are still reported. */
  readonly error?: string;
}

/** value must be at most `limit` (a ratio or an absolute figure with `unit`). */
export function atMost(target: string, value: number, limit: number, unit = ''): Verdict {
  const measured = `${fmt(value)}${unit}`;
  if (!Number.isFinite(value)) return { target, measured, pass: false, result: 'MISS (no figure)' };
  if (value <= limit) return { target, measured, pass: true, result: 'PASS' };
  // A ratio target misses by a percentage of its limit; an absolute one by the excess itself.
  const by = unit === '×' ? `${fmt((value / limit - 1) * 100)}% over the ${fmt(limit)}× limit` : `${fmt(value - limit)}${unit} (${fmt(value / limit)}× the ${fmt(limit)}${unit} limit)`;
  return { target, measured, pass: false, result: `MISS by ${by}` };
}

/** A target whose figure could not be measured in this run, and why (the peer's missing toolchain, say). */
export function notRun(target: string, why: string): Verdict {
  return { target, measured: `not run: ${why}`, pass: false, result: `NOT RUN (${why})` };
}

/** value must be at least `limit`. */
export function atLeast(target: string, value: number, limit: number, unit = ''): Verdict {
  const measured = `${fmt(value)}${unit}`;
  if (!Number.isFinite(value)) return { target, measured, pass: false, result: 'MISS (no figure)' };
  if (value >= limit) return { target, measured, pass: true, result: 'PASS' };
  return { target, measured, pass: false, result: `MISS by ${fmt((1 - value / limit) * 100)}% (${measured} against at least ${fmt(limit)}${unit})` };
}

export function exactly(target: string, value: number, expected: number): Verdict {
  const measured = fmt(value);
  return value === expected
    ? { target, measured, pass: true, result: 'PASS' }
    : { target, measured, pass: false, result: `MISS (${fmt(value)} instead of ${fmt(expected)})` };
}

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memory: string;
  readonly node: string;
  readonly os: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memory: `${fmt(os.totalmem() / 1024 ** 3)} GiB`,
    node: process.version,
    os: `${os.type()} ${os.release()} (${os.arch()})`,
  };
}

/** Which code was measured: the commit, and whether src/ had uncommitted changes (read-only git). */
export function codeUnderTest(repoRoot: string): string {
  const note = process.env.BENCH_SOURCE_NOTE;
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean).length;
    const state = dirty === 0 ? 'src/ as committed' : `src/ with uncommitted changes in ${dirty} file(s)`;
    return `commit ${commit}, ${state}${note ? `; ${note}` : ''}`;
  } catch {
    return note ?? 'not a git checkout (commit unknown)';
  }
}

function table(t: Table): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  const lines = [`| ${t.headers.map(escape).join(' | ')} |`, `| ${t.headers.map(() => '---').join(' | ')} |`];
  for (const row of t.rows) lines.push(`| ${row.map(escape).join(' | ')} |`);
  return (t.caption ? `${t.caption}\n\n` : '') + lines.join('\n');
}

export interface Report {
  readonly command: string;
  readonly date: string;
  readonly profile: string;
  /** False for the smaller profiles: the targets are stated for the full sizes. */
  readonly fullSize: boolean;
  readonly machine: MachineInfo;
  readonly code: string;
  readonly durationSec: number;
  readonly sections: readonly Section[];
}

export function renderMarkdown(report: Report): string {
  const m = report.machine;
  const out: string[] = [];
  out.push('# shardvoy benchmark results', '');
  out.push(`- Command: \`${report.command}\``);
  out.push(`- Date: ${report.date}`);
  out.push(`- Machine: ${m.cpu}, ${m.cores} cores, ${m.memory} RAM, Node ${m.node}, ${m.os}`);
  out.push(`- Code under test: ${report.code}`);
  out.push(`- Profile: ${report.profile}; the whole run took ${fmt(report.durationSec)} s`);
  out.push('');
  out.push(
    '> One run on a shared, noisy machine: every figure comes from this single run (percentiles over the streams ' +
      'or requests of one measurement; "median of k" where stated), with servers and load generators sharing the ' +
      'same cores, and with whatever else the machine was running (see the load average of each scenario). Compare ratios to the ' +
      'floor measured in the same run, not absolute figures across machines or runs.',
  );
  out.push('');
  const verdicts = report.sections.flatMap((s) => s.verdicts.map((v) => ({ section: s.title, ...v })));
  if (verdicts.length > 0) {
    out.push('## Targets', '');
    out.push(
      table({
        headers: ['scenario', 'target', 'measured', 'result'],
        rows: verdicts.map((v) => [v.section, v.target, v.measured, v.result]),
      }),
    );
    const missed = verdicts.filter((v) => !v.pass).length;
    out.push('', `${verdicts.length - missed} of ${verdicts.length} targets met.`, '');
    if (!report.fullSize) out.push('The targets are stated for the full sizes (`npm run bench` without --quick); at these sizes they are indicative only.', '');
  }
  for (const section of report.sections) {
    out.push(`## ${section.title}`, '');
    out.push(section.method, '');
    out.push(`Load average (1 min) at its start / end: ${fmt(section.loadAverage.start)} / ${fmt(section.loadAverage.end)} on ${m.cores} cores.`, '');
    if (section.error) out.push(`**The scenario did not finish:** ${section.error}`, '');
    for (const t of section.tables) out.push(table(t), '');
    if (section.verdicts.length > 0) {
      out.push(table({ headers: ['target', 'measured', 'result'], rows: section.verdicts.map((v) => [v.target, v.measured, v.result]) }), '');
    }
    for (const note of section.notes) out.push(`- ${note}`);
    if (section.notes.length > 0) out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
