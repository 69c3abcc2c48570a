/**
 * The state file at its edges (found by mutation testing, test/MUTATION.md): what it says about a
 * file it cannot use; a saver that writes only after a change, at most once per interval, and
 * stops cleanly even if never started; and a start-up that says what it loaded, dropped or
 * moved aside, refuses a folder it cannot write, and tells whether it loaded.
 */
import fs, { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { loadState, serializeState, StateSaver } from '../../src/registry/state-file.js';
import { restoreState } from '../../src/registry/state-restore.js';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

const freshDir = () => mkdtempSync(path.join(tmpdir(), 'shardvoy-state-edges-'));
const newRegistry = (clock = new FakeClock()) => new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock });

/** A pino logger whose lines (parsed) land in `lines`. */
function recorder(lines: Array<Record<string, any>>): Logger {
  return pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
}

/** Counts calls of fs.renameSync (every importer of node:fs sees the wrapper); returns the count and the undo. */
function countRenames() {
  const real = fs.renameSync;
  const seen = { renames: 0 };
  fs.renameSync = (from, to) => {
    seen.renames++;
    real(from, to);
  };
  syncBuiltinESMExports();
  return {
    seen,
    undo: () => {
      fs.renameSync = real;
      syncBuiltinESMExports();
    },
  };
}

describe('loading a state file it cannot use', () => {
  const at = Date.UTC(2026, 10, 22, 10, 0, 0);

  it('moves aside a path it cannot read (a folder), saying why; only a missing file is "none"', () => {
    const dir = freshDir();
    const file = path.join(dir, 'state.json');
    mkdirSync(file);
    const result = loadState(file, at);
    expect(result).toMatchObject({ kind: 'corrupt', movedTo: `${file}.corrupt-2026-11-22T10-00-00-000Z` });
    expect((result as { reason: string }).reason).toMatch(/^cannot be read: EISDIR/);
  });

  it('says a file is not JSON, and where the parser stopped', () => {
    const file = path.join(freshDir(), 'state.json');
    writeFileSync(file, '{"version":1,');
    const result = loadState(file, at) as { kind: string; reason: string };
    expect(result.kind).toBe('corrupt');
    expect(result.reason).toMatch(/^is not JSON: .+/);
  });

  it('names the first part of the file that is not a shardvoy state', () => {
    const dir = freshDir();
    const cases: Array<[unknown, string]> = [
      [{ version: 2, savedAt: 'x', nodes: [], ports: [] }, 'does not hold a shardvoy state: /version must be equal to constant'],
      [{ version: 1, savedAt: 'x', nodes: {}, ports: [] }, 'does not hold a shardvoy state: /nodes must be array'],
      [[1, 2], 'does not hold a shardvoy state: (root) must be object'],
    ];
    for (const [i, [contents, reason]] of cases.entries()) {
      const file = path.join(dir, `state-${i}.json`);
      writeFileSync(file, JSON.stringify(contents));
      expect(loadState(file, at)).toMatchObject({ kind: 'corrupt', reason });
    }
  });
});

describe('what the state file holds', () => {
  it('writes every port assignment, held and released', () => {
    const text = serializeState(
      {
        nodes: [],
        ports: [
          { group: 'ext', nodeId: 'a', port: 6001, advertisedHost: 'k.example.com', releasedAtMs: undefined },
          { group: 'ext', nodeId: 'b', port: 6002, advertisedHost: 'k.example.com', releasedAtMs: 1_234 },
        ],
      },
      Date.UTC(2026, 0, 1),
    );
    expect(JSON.parse(text)).toStrictEqual({
      version: 1,
      savedAt: '2026-01-01T00:00:00.000Z',
      nodes: [],
      ports: [
        { group: 'ext', nodeId: 'a', port: 6001, advertisedHost: 'k.example.com' },
        { group: 'ext', nodeId: 'b', port: 6002, advertisedHost: 'k.example.com', releasedAtMs: 1_234 },
      ],
    });
  });
});

describe('the state saver', () => {
  let undo: (() => void) | undefined;
  afterEach(() => {
    undo?.();
    undo = undefined;
  });

  it('writes nothing when nothing changed, and stops cleanly even if it never started', () => {
    const file = path.join(freshDir(), 'state.json');
    const registry = newRegistry();
    registry.record(heartbeat({ id: 'before-start' }));
    const idle = new StateSaver(file, registry, pino({ level: 'silent' }), 0);
    expect(() => idle.stop()).not.toThrow();
    const started = new StateSaver(file, registry, pino({ level: 'silent' }), 0);
    started.start();
    started.flush();
    started.stop();
    expect(readdirSync(path.dirname(file))).toEqual([]);
  });

  it('writes the registry after a change, then at most once per interval however many changes come', async () => {
    const file = path.join(freshDir(), 'state.json');
    const clock = new FakeClock();
    const registry = newRegistry(clock);
    const renames = countRenames();
    undo = renames.undo;
    const saver = new StateSaver(file, registry, pino({ level: 'silent' }), 300);
    saver.start();
    registry.record(heartbeat({ id: 'n0' }));
    await new Promise((r) => setTimeout(r, 50));
    expect(renames.seen.renames).toBe(1); // the first change is written at once
    for (let i = 1; i <= 20; i++) registry.record(heartbeat({ id: `n${i}` }));
    await new Promise((r) => setTimeout(r, 100));
    expect(renames.seen.renames).toBe(1); // within the interval: not yet
    const deadline = Date.now() + 3_000;
    while (renames.seen.renames < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 400)); // and no third write for the same burst
    saver.stop();
    expect(renames.seen.renames).toBe(2);
    const written = readFileSync(file, 'utf8');
    expect(written).toBe(serializeState(registry.state(), Date.parse(JSON.parse(written).savedAt)));
    expect(JSON.parse(written).nodes).toHaveLength(21);
  });

  it('stops listening when stopped: a later change writes nothing', async () => {
    const file = path.join(freshDir(), 'state.json');
    const registry = newRegistry();
    const saver = new StateSaver(file, registry, pino({ level: 'silent' }), 0);
    saver.start();
    registry.record(heartbeat({ id: 'a' }));
    saver.stop();
    const text = readFileSync(file, 'utf8');
    registry.record(heartbeat({ id: 'b' }));
    await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(file, 'utf8')).toBe(text);
  });
});

describe('restoring the state at start', () => {
  it('loads a file, says so with its counts, warns for each entry it drops, and reports that it loaded', () => {
    const dir = freshDir();
    const file = path.join(dir, 'state.json');
    const saved = newRegistry();
    saved.record(heartbeat({ id: 'a' }));
    saved.record(heartbeat({ id: 'b', address: '10.0.0.2:9000' }));
    const state = JSON.parse(serializeState(saved.state(), Date.now()));
    state.nodes.push({ ...state.nodes[0], id: 'bad id!' });
    writeFileSync(file, JSON.stringify(state));
    const lines: Array<Record<string, any>> = [];
    const registry = newRegistry();
    const { loaded, saver } = restoreState(file, registry, new FakeClock(), recorder(lines));
    expect(loaded).toBe(true);
    expect(saver).toBeInstanceOf(StateSaver);
    expect(registry.list().map((n) => n.id)).toEqual(['a', 'b']);
    const warning = lines.find((l) => l.level === 40)!;
    expect(warning).toMatchObject({ file, entry: 'nodes[2] id "bad id!"' });
    expect(warning.msg).toBe(`state file entry dropped: ${warning.entry}: ${warning.reason}`);
    expect(lines.find((l) => l.msg === 'state loaded; every node has a fresh lease')).toMatchObject({ file, nodes: 2, ports: 0, dropped: 1 });
  });

  it('starts empty without a file, saying so, and reports that it did not load', () => {
    const file = path.join(freshDir(), 'sub', 'state.json');
    const lines: Array<Record<string, any>> = [];
    const { loaded } = restoreState(file, newRegistry(), new FakeClock(), recorder(lines));
    expect(loaded).toBe(false);
    expect(lines.map((l) => [l.level, l.msg, l.file])).toEqual([[30, 'no state file yet; starting empty', file]]);
  });

  it('moves a corrupt file aside, logs it as an error, and reports that it did not load', () => {
    const file = path.join(freshDir(), 'state.json');
    writeFileSync(file, 'not json');
    const lines: Array<Record<string, any>> = [];
    const clock = new FakeClock(Date.UTC(2026, 10, 22, 10, 0, 0));
    const { loaded } = restoreState(file, newRegistry(), clock, recorder(lines));
    expect(loaded).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, msg: 'state file unusable; moved aside, starting without it', file, movedTo: `${file}.corrupt-2026-11-22T10-00-00-000Z` });
    expect(lines[0]!.reason).toMatch(/^is not JSON/);
  });

  it("gives the saver a logger of its own: a failed write is logged with component 'state' and the file", () => {
    const dir = freshDir();
    const file = path.join(dir, 'sub', 'state.json');
    const lines: Array<Record<string, any>> = [];
    const registry = newRegistry();
    const { saver } = restoreState(file, registry, new FakeClock(), recorder(lines));
    saver.start();
    fs.rmSync(path.join(dir, 'sub'), { recursive: true });
    registry.record(heartbeat({ id: 'a' }));
    saver.flush();
    saver.stop();
    const failed = lines.find((l) => l.msg === 'state file not written; will retry');
    expect(failed).toMatchObject({ level: 50, component: 'state', file });
    expect(failed!.err.message).toMatch(/ENOENT/);
  });

  it('refuses to start when the folder cannot be written, naming registry.stateFile', () => {
    const dir = freshDir();
    writeFileSync(path.join(dir, 'a-file'), '');
    const file = path.join(dir, 'a-file', 'state.json'); // its folder would be inside a file
    let refused: unknown;
    try {
      restoreState(file, newRegistry(), new FakeClock(), pino({ level: 'silent' }));
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message.startsWith(`config: registry.stateFile: cannot write in ${path.join(dir, 'a-file')}: `)).toBe(true);
  });
});
