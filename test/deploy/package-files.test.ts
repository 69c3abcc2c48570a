/**
 * What `npm pack` ships is what a user installs: the built CLI (prepack builds it from a clean
 * dist/), the DKV protos it loads at run time and the Envoy bootstraps; not the tests, benches or
 * sources. Packed here, unpacked beside the project's own dependencies, and run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('the npm package', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-pack-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the built CLI, its protos and the Envoy bootstraps, nothing of the tests or sources, and runs from what it holds', () => {
    const packed = spawnSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(packed.status, packed.stderr).toBe(0);
    const [report] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
    const files = report.files.map((f) => f.path);
    expect(files).toContain('dist/cli.js');
    expect(files).toContain('dist/sources/http/ui/index.html');
    expect(files).toContain('protos/dkv/serverpb/discovery.proto');
    expect(files).toContain('envoy/envoy-local.yaml');
    const tops = new Set(files.map((f) => f.split('/')[0]));
    expect([...tops].sort()).toEqual(['README.md', 'dist', 'envoy', 'package.json', 'protos']);
    expect(files.filter((f) => f.endsWith('.test.js') || f.endsWith('.ts'))).toEqual([]);

    const unpacked = spawnSync('tar', ['-xzf', path.join(dir, report.filename), '-C', dir], { encoding: 'utf8' });
    expect(unpacked.status, unpacked.stderr).toBe(0);
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'package', 'node_modules'));
    const version = spawnSync(process.execPath, [path.join(dir, 'package', 'dist', 'cli.js'), '--version'], { encoding: 'utf8', timeout: 30_000 });
    expect(version.stdout.trim(), version.stderr).toBe(VERSION);
  }, 150_000);
});
