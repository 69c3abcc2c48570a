/**
 * The state file's atomicity, with the failure injected where it matters: between writing the
 * new contents and renaming them over the old file. A writer killed there (kill -9, in a child
 * process), or whose rename fails, must leave the old file whole, byte for byte, and loadable.
 * A writer that wrote straight over the target would leave the new file, or half of it.
 */
import { spawn } from 'node:child_process';
import fs, { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { loadState, serializeState, StateSaver } from '../../src/registry/state-file.js';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

/**
 * Replaces fs.renameSync for every importer of node:fs, src included (ES module bindings of a
 * builtin follow its CommonJS exports after syncBuiltinESMExports); returns the undo.
 */
function replaceRename(replacement: typeof fs.renameSync): () => void {
  const real = fs.renameSync;
  fs.renameSync = replacement;
  syncBuiltinESMExports();
  return () => {
    fs.renameSync = real;
    syncBuiltinESMExports();
  };
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const freshDir = () => mkdtempSync(path.join(tmpdir(), 'shardvoy-crash-write-'));

function record(registry: MemoryRegistry, count: number): void {
  for (let i = 0; i < count; i++) registry.record(heartbeat({ id: `n${i}`, address: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}:9000`, epoch: i }));
}

/** The old state on disk, as the saver writes it: one node. */
function oldStateIn(dir: string): { file: string; text: string } {
  const file = path.join(dir, 'state.json');
  const registry = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock: new FakeClock() });
  const saver = new StateSaver(file, registry, pino({ level: 'silent' }), 0);
  saver.start();
  record(registry, 1); // a change: the saver is dirty, and flush writes now
  saver.flush();
  saver.stop();
  return { file, text: readFileSync(file, 'utf8') };
}

/**
 * A child process that saves `count` nodes over `file` through the real StateSaver, and kills
 * itself with SIGKILL at `point`: in the middle of writing the bytes, or when it asks to rename.
 */
function killedWriter(file: string, count: number, point: 'mid-write' | 'rename'): Promise<{ signal: NodeJS.Signals | null; stderr: string }> {
  const script = `
    import fs from 'node:fs';
    import { syncBuiltinESMExports } from 'node:module';
    const logger = { error() {}, warn() {}, info() {}, child() { return logger; } };
    const die = () => { process.kill(process.pid, 'SIGKILL'); for (;;) {} };
    if (${JSON.stringify(point)} === 'rename') {
      fs.renameSync = die;
    } else {
      const write = fs.writeSync;
      fs.writeSync = (fd, data, ...rest) => {
        const text = typeof data === 'string' ? data : Buffer.from(data).toString();
        if (text.length < 100) return write(fd, data, ...rest);
        write(fd, text.slice(0, text.length >> 1));
        fs.fsyncSync(fd);
        die();
      };
    }
    syncBuiltinESMExports();
    const { MemoryRegistry } = await import(${JSON.stringify(path.join(ROOT, 'src/registry/memory-registry.ts'))});
    const { StateSaver } = await import(${JSON.stringify(path.join(ROOT, 'src/registry/state-file.ts'))});
    const registry = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock: { now: () => Date.now() } });
    for (let i = 0; i < ${count}; i++) {
      registry.record({ id: 'n' + i, address: '10.1.0.' + ((i % 250) + 1) + ':9000', host: '10.1.0.' + ((i % 250) + 1), port: 9000,
        database: 'default', shard: 'shard0', role: 'replica', status: 'active', dc: undefined, epoch: 0, labels: {} });
    }
    const saver = new StateSaver(${JSON.stringify(file)}, registry, logger, 0);
    saver.start();
    registry.record({ id: 'last', address: '10.2.0.1:9000', host: '10.2.0.1', port: 9000,
      database: 'default', shard: 'shard0', role: 'replica', status: 'active', dc: undefined, epoch: 0, labels: {} });
    saver.flush();
    console.log('wrote without dying');
  `;
  const scriptFile = path.join(path.dirname(file), 'writer.mjs');
  writeFileSync(scriptFile, script);
  const child = spawn(process.execPath, ['--import', 'tsx', scriptFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (_code, signal) => resolve({ signal, stderr: stderr + stdout })));
}

describe('state file atomicity under a crash between write and rename', () => {
  // Under mutation testing (stryker.config.mjs) the child writer would run unmutated code: skipped there.
  it.skipIf(process.env.STRYKER_MUTATOR_WORKER !== undefined).each(['rename', 'mid-write'] as const)('a writer killed (SIGKILL) at %s leaves the old file whole and loadable', async (point) => {
    const dir = freshDir();
    const { file, text } = oldStateIn(dir);
    const result = await killedWriter(file, 2_000, point);
    expect(result.signal, `the writer was to die at ${point}; it said: ${result.stderr}`).toBe('SIGKILL');

    expect(readFileSync(file, 'utf8')).toBe(text);
    const loaded = loadState(file, Date.now());
    expect(loaded.kind).toBe('loaded');
    expect((loaded as Extract<typeof loaded, { kind: 'loaded' }>).state.nodes.map((n) => n.id)).toEqual(['n0']);
    // What the dead writer left is a temporary file beside it, never the state file itself.
    const left = readdirSync(dir).filter((name) => name !== 'state.json' && name !== 'writer.mjs');
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^state\.json\.[0-9a-f]{32}\.tmp$/);
    if (point === 'rename') {
      // Killed at the rename, the new contents were already complete (and fsynced) in it.
      const pending = JSON.parse(readFileSync(path.join(dir, left[0]!), 'utf8'));
      expect(pending.nodes).toHaveLength(2_001);
    }
  });
});

describe('state file atomicity when the rename fails', () => {
  let restore: (() => void) | undefined;
  afterEach(() => restore?.());

  it('keeps the old file whole, removes its temporary file, logs, and retries until it is written', async () => {
    const dir = freshDir();
    const { file, text } = oldStateIn(dir);
    const clock = new FakeClock();
    const registry = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock });
    const errors: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(JSON.parse(line).msg) });
    const real = fs.renameSync;
    let renames = 0;
    let failing = true;
    restore = replaceRename((from, to) => {
      renames++;
      if (failing) throw Object.assign(new Error('EIO: i/o error, rename (injected)'), { code: 'EIO' });
      real(from, to);
    });

    const saver = new StateSaver(file, registry, logger, 20);
    saver.start();
    record(registry, 30);
    saver.flush();
    expect(renames).toBe(1);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(readdirSync(dir)).toEqual(['state.json']);
    expect(errors).toEqual(['state file not written; will retry']);

    // The disk is back: the retry (a timer, not another change) writes the whole new state.
    failing = false;
    const deadline = Date.now() + 5_000;
    while (readFileSync(file, 'utf8') === text && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    saver.stop();
    expect(renames).toBe(2);
    const loaded = loadState(file, clock.now());
    expect(loaded.kind).toBe('loaded');
    expect((loaded as Extract<typeof loaded, { kind: 'loaded' }>).state.nodes.map((n) => n.id)).toHaveLength(30);
    const written = readFileSync(file, 'utf8');
    expect(written).toBe(serializeState(registry.state(), Date.parse(JSON.parse(written).savedAt)));
    expect(readdirSync(dir)).toEqual(['state.json']);
  });
});
