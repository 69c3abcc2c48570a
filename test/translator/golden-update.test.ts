/**
 * UPDATE_GOLDEN=1 (test/support/golden-files.ts): refused when CI is set, so a CI run can never
 * rewrite its own expectations and pass; outside CI it rewrites only what differs and names it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GoldenFiles, isCi, REFUSED_IN_CI, updateRequested } from '../support/golden-files.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('UPDATE_GOLDEN', () => {
  it('is refused when CI is set, whatever CI says short of "false"', () => {
    for (const CI of ['true', '1', 'yes', 'TRUE', 'github']) expect(() => updateRequested({ UPDATE_GOLDEN: '1', CI }), CI).toThrow(REFUSED_IN_CI);
    for (const CI of [undefined, '', '0', 'false', 'False']) expect(updateRequested({ UPDATE_GOLDEN: '1', ...(CI === undefined ? {} : { CI }) }), String(CI)).toBe(true);
    expect(updateRequested({ CI: 'true' })).toBe(false);
    expect(updateRequested({ UPDATE_GOLDEN: '0' })).toBe(false);
    expect(updateRequested({})).toBe(false);
    expect([isCi({ CI: ' true ' }), isCi({ CI: ' ' })]).toEqual([true, false]);
  });

  it('rewrites only the files that differ and names each one; compares nothing while rewriting', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-golden-'));
    const same = path.join(dir, 'same.json');
    const changed = path.join(dir, 'changed.json');
    writeFileSync(same, GoldenFiles.format([{ name: 'a' }]));
    writeFileSync(changed, GoldenFiles.format([{ name: 'old' }]));
    const sameBefore = statSync(same).mtimeMs;

    const golden = new GoldenFiles(true, dir);
    golden.write(same, [{ name: 'a' }]);
    golden.write(changed, [{ name: 'new' }]);
    golden.write(path.join(dir, 'created.json'), []);
    expect(() => golden.expected(same)).toThrow(/nothing to compare with/);

    expect(golden.rewritten).toEqual([
      { file: 'changed.json', how: 'changed' },
      { file: 'created.json', how: 'created' },
    ]);
    expect(golden.report()).toBe(
      'UPDATE_GOLDEN=1: 2 golden file(s) rewritten; review the diff before committing:\n  changed changed.json\n  created created.json',
    );
    expect(JSON.parse(readFileSync(changed, 'utf8'))).toEqual([{ name: 'new' }]);
    expect(statSync(same).mtimeMs).toBe(sameBefore);
    expect(readdirSync(dir).sort()).toEqual(['changed.json', 'created.json', 'same.json']);
    expect(new GoldenFiles(true, dir).report()).toBe('UPDATE_GOLDEN=1: no golden file changed');
  });

  it('checks without rewriting by default', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-golden-'));
    const file = path.join(dir, 'x.json');
    writeFileSync(file, GoldenFiles.format({ a: 1 }));
    const golden = new GoldenFiles(false, dir);
    expect(golden.expected(file)).toEqual({ a: 1 });
    expect(golden.expected(path.join(dir, 'absent.json'))).toBeUndefined();
    expect(() => golden.write(file, { a: 2 })).toThrow(/only with UPDATE_GOLDEN=1/);
    expect(golden.report()).toBe('');
  });

  it('fails the golden suite itself, naming the reason, when run with UPDATE_GOLDEN=1 under CI, and rewrites nothing', () => {
    const goldenDir = path.join(ROOT, 'test', 'golden');
    // Every file under test/golden: the cases' folders and the goldens beside them (openapi.json).
    const snapshot = () =>
      readdirSync(goldenDir, { recursive: true, encoding: 'utf8' })
        .filter((f) => statSync(path.join(goldenDir, f)).isFile())
        .sort()
        .map((f) => `${f}:${readFileSync(path.join(goldenDir, f), 'utf8')}`);
    const before = snapshot();
    const run = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/translator/golden.test.ts'], {
      cwd: ROOT,
      env: { ...process.env, UPDATE_GOLDEN: '1', CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status, run.stdout + run.stderr).not.toBe(0);
    expect(run.stdout + run.stderr).toContain(REFUSED_IN_CI);
    expect(snapshot()).toEqual(before);
  }, 60_000);
});
