/**
 * Golden files: checked against what the code produces, or, with UPDATE_GOLDEN=1, rewritten.
 * Rewriting is refused when CI is set (a CI run that rewrote its own expectations would pass
 * whatever the code does), and a rewrite names every file it changed, so the diff to review is
 * never a surprise.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const REFUSED_IN_CI =
  'UPDATE_GOLDEN=1 is refused because CI is set: in CI golden files are checked, never rewritten. Rewrite them locally, review the diff, commit it.';

/** CI is "set" unless absent, empty, "0" or "false" (any case). */
export function isCi(env: NodeJS.ProcessEnv): boolean {
  const value = env.CI?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/** Whether this run rewrites golden files; throws (failing the run) for UPDATE_GOLDEN=1 under CI. */
export function updateRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  const update = env.UPDATE_GOLDEN === '1';
  if (update && isCi(env)) throw new Error(REFUSED_IN_CI);
  return update;
}

export class GoldenFiles {
  /** Files this run rewrote (update mode), relative to `root`, with how. */
  readonly rewritten: Array<{ file: string; how: 'created' | 'changed' }> = [];

  constructor(
    readonly update: boolean,
    private readonly root: string,
  ) {}

  /** JSON as golden files hold it: two-space indent, a final newline. */
  static format(value: unknown): string {
    return JSON.stringify(value, null, 2) + '\n';
  }

  /** The expected value of `file`, or undefined if there is none. Never call it in update mode. */
  expected(file: string): unknown {
    if (this.update) throw new Error('in update mode there is nothing to compare with: the file is being rewritten from the actual value');
    return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
  }

  /** Update mode: writes `actual` to `file` if it differs, and records it. */
  write(file: string, actual: unknown): void {
    if (!this.update) throw new Error('golden files are rewritten only with UPDATE_GOLDEN=1');
    const text = GoldenFiles.format(actual);
    const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    if (before === text) return;
    writeFileSync(file, text);
    this.rewritten.push({ file: path.relative(this.root, file), how: before === undefined ? 'created' : 'changed' });
  }

  /** What an update run did, in one message (empty when not updating). */
  report(): string {
    if (!this.update) return '';
    if (this.rewritten.length === 0) return 'UPDATE_GOLDEN=1: no golden file changed';
    return [`UPDATE_GOLDEN=1: ${this.rewritten.length} golden file(s) rewritten; review the diff before committing:`, ...this.rewritten.map((r) => `  ${r.how} ${r.file}`)].join('\n');
  }
}
