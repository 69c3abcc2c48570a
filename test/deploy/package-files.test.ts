/**
 * What `npm pack` ships is what a user installs: the built CLI (prepack builds it from a clean
 * dist/), the DKV protos it loads at run time and the Envoy bootstraps; not the tests, benches or
 * sources. Packed from a copy of the project (its own dist/ is left alone), unpacked, checked to
 * import no devDependency, and run: `serve` starts and answers /healthz from what was packed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
const COPIED = ['package.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'src', 'protos', 'envoy'];

/** Every bare module a built file imports (static and dynamic), by its package name. */
function importedPackages(dir: string): Set<string> {
  const found = new Set<string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const text = readFileSync(path.join(entry.parentPath, entry.name), 'utf8');
    const statements = /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)/gm;
    for (const match of text.matchAll(statements)) {
      const specifier = match[1] ?? match[2] ?? match[3] ?? match[4]!;
      if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
      found.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
    }
  }
  return found;
}

describe('the npm package', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-pack-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the built CLI, its protos and the Envoy bootstraps, imports only its dependencies, and serves from what it holds', async () => {
    const project = path.join(dir, 'project');
    mkdirSync(project);
    for (const name of COPIED) cpSync(path.join(ROOT, name), path.join(project, name), { recursive: true });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(project, 'node_modules'));
    const packed = spawnSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: project, encoding: 'utf8', timeout: 120_000 });
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
    const installed = path.join(dir, 'package');
    // The project's node_modules holds the devDependencies too: what the code imports is checked instead.
    const imported = importedPackages(path.join(installed, 'dist'));
    expect([...imported]).toEqual(expect.arrayContaining(['fastify', '@grpc/grpc-js', 'etcd3', 'undici']));
    expect([...imported].filter((name) => !(name in PACKAGE.dependencies))).toEqual([]);
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(installed, 'node_modules'));
    const version = spawnSync(process.execPath, [path.join(installed, 'dist', 'cli.js'), '--version'], { encoding: 'utf8', timeout: 30_000 });
    expect(version.stdout.trim(), version.stderr).toBe(PACKAGE.version);

    const serve = spawn(process.execPath, [path.join(installed, 'dist', 'cli.js'), 'serve', '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let log = '';
      serve.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
      const http = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not listen within 20 s: ${log}`)), 20_000);
        serve.stdout.on('data', () => {
          const address = /"msg":"listening for HTTP on ([^"]+)"/.exec(log)?.[1];
          if (address) {
            clearTimeout(timer);
            resolve(address);
          }
        });
      });
      expect((await fetch(`http://${http}/healthz`)).status).toBe(200);
      expect((await fetch(`http://${http}/ui/`)).status).toBe(200); // the dashboard's files, from dist
    } finally {
      serve.kill('SIGTERM');
    }
    expect(await new Promise((resolve) => serve.on('exit', (code) => resolve(code)))).toBe(0);
  }, 150_000);
});
