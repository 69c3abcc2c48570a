/** The state file's atomic write never follows a path someone else planted next to it. */
import { lstatSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempPathFor, writeAtomically } from '../../src/registry/atomic-write.js';

const freshDir = () => mkdtempSync(path.join(tmpdir(), 'shardvoy-atomic-'));

describe('writeAtomically', () => {
  it('writes through a temporary file: the target is always whole, and no temporary file is left', () => {
    const dir = freshDir();
    const file = path.join(dir, 'state.json');
    writeAtomically(file, 'first version');
    writeAtomically(file, 'second version');
    expect(readFileSync(file, 'utf8')).toBe('second version');
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('leaves a symlink planted at the pid-named temporary path, and its target, alone', () => {
    const dir = freshDir();
    const file = path.join(dir, 'state.json');
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'precious');
    // The name the writer once used: guessable by anyone who can list processes.
    symlinkSync(victim, `${file}.${process.pid}.tmp`);
    writeAtomically(file, 'state');
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(file).isFile()).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('state');
  });

  it('refuses a temporary path that already exists instead of following it', () => {
    const dir = freshDir();
    const file = path.join(dir, 'state.json');
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'precious');
    writeFileSync(file, 'old state');
    const planted = path.join(dir, 'planted.tmp');
    symlinkSync(victim, planted);
    expect(() => writeAtomically(file, 'new state', () => planted)).toThrow(/planted\.tmp.*exists/);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(readFileSync(file, 'utf8')).toBe('old state');
    expect(lstatSync(planted).isSymbolicLink()).toBe(true);
  });

  it('names each temporary file unpredictably, beside the target', () => {
    const file = path.join(freshDir(), 'state.json');
    const names = new Set(Array.from({ length: 50 }, () => tempPathFor(file)));
    expect(names.size).toBe(50);
    for (const name of names) expect(name).toMatch(/\/state\.json\.[0-9a-f]{32}\.tmp$/);
  });

  it('creates the file readable by its owner only', () => {
    const file = path.join(freshDir(), 'state.json');
    writeAtomically(file, 'state');
    expect(lstatSync(file).mode & 0o777).toBe(0o600);
  });
});
