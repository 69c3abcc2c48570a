/**
 * `shardvoy state import` as a user meets it before any etcd answers: bad flags, a configuration
 * that names no etcd store, a state file that is not one (left where it is), an etcd nobody
 * listens on. Each exits non-zero with one line naming the problem. (Against a real etcd:
 * test/e2e-envoy/state-import.test.ts.)
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseInvocation } from '../src/invocation.js';
import { serializeState } from '../src/registry/state-file.js';
import { parseStateInvocation, summary } from '../src/state-cli.js';
import { runCli, type CliRun } from './support/cli-process.js';

const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-state-cli-'));
const running: CliRun[] = [];
const write = (name: string, text: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
};
const GROUPS = 'groups:\n  - name: g\n    shards:\n      - { name: s0, listen: "127.0.0.1:10000", clusters: [s0-masters] }\n';
// Port 1 on loopback: nothing listens, the connection is refused at once.
const NOBODY = write('nobody.yaml', `registry:\n  store: etcd\n  etcd:\n    endpoints: ["127.0.0.1:1"]\n${GROUPS}`);
const MEMORY = write('memory.yaml', `registry:\n  stateFile: ${path.join(dir, 'state.json')}\n${GROUPS}`);
const node = { id: 'n1', address: '10.0.0.1:9092', host: '10.0.0.1', port: 9092, database: 'default', shard: 's0', role: 'master', status: 'active', dc: undefined, epoch: 1, labels: {}, firstSeenMs: 1 } as const;
const STATE = write('state.json', serializeState({ nodes: [node], ports: [] }, Date.now()));

function cli(args: string[]): CliRun {
  const run = runCli(args);
  running.push(run);
  return run;
}

afterEach(() => {
  for (const run of running.splice(0)) if (run.child.exitCode === null) run.child.kill('SIGKILL');
});

describe('shardvoy state import: arguments', () => {
  it.each([
    [[], 'a subcommand is required: import'],
    [['export'], 'unknown subcommand "export"'],
    [['import', STATE], '--config FILE is required'],
    [['import', '--config', NOBODY], 'the state file to import is required'],
    [['import', '--config', NOBODY, STATE, STATE], `unexpected argument "${STATE}"`],
    [['import', '--config', NOBODY, '--force', STATE], "Unknown option '--force'"],
    [['import', '--config'], "Option '--config <value>' argument missing"],
  ])('refuses %j', (args, message) => {
    expect(() => parseStateInvocation(args, {})).toThrow(message);
  });

  it('takes --config from SHARDVOY_CONFIG, as serve does, and --merge and --dry-run', () => {
    expect(parseStateInvocation(['import', STATE], { SHARDVOY_CONFIG: NOBODY })).toEqual({ command: 'import', configFile: NOBODY, stateFile: STATE, merge: false, dryRun: false });
    expect(parseStateInvocation(['import', '--merge', '--dry-run', '--config', MEMORY, STATE], { SHARDVOY_CONFIG: NOBODY })).toMatchObject({ configFile: MEMORY, merge: true, dryRun: true });
  });

  it('sums up in one line, counting in words a person reads', () => {
    const report = { nodes: 1, ports: 0, transactions: 1, dropped: [{ entry: 'e', reason: 'r' }], existing: [], leaseSeconds: 10 };
    expect(summary(report, '127.0.0.1:2379', '/shardvoy/', false)).toBe(
      'imported 1 node and 0 ports into etcd (127.0.0.1:2379) under /shardvoy/ in 1 transaction; 1 entry dropped, 0 already there; every node has a fresh 10 s lease',
    );
    expect(summary({ ...report, nodes: 0, transactions: 0, dropped: [] }, 'e:1', '/p/', true)).toBe(
      'would import 0 nodes and 0 ports into etcd (e:1) under /p/ in 0 transactions; 0 entries dropped, 0 already there; nothing written (--dry-run)',
    );
  });

  it('points a `state` placed after another command\'s flags to where it belongs', () => {
    expect(() => parseInvocation(['--log-level', 'info', 'state'], {})).toThrow(/state: its flags follow it/);
  });
});

// Each case starts the CLI through tsx: seconds apiece on a busy 2-core machine.
describe('shardvoy state import: the command', { timeout: 90_000 }, () => {
  const oneLine = (run: CliRun) => {
    const lines = run.stderr.trim().split('\n');
    expect(lines, run.stderr).toHaveLength(1);
    return lines[0]!;
  };

  it('prints its usage with --help, and is listed in shardvoy --help', async () => {
    const help = cli(['state', '--help']);
    const top = cli(['--help']);
    expect(await help.exited).toBe(0);
    expect(help.stdout).toContain('shardvoy state import --config FILE [--merge] [--dry-run] STATEFILE');
    expect(await top.exited).toBe(0);
    expect(top.stdout).toContain('shardvoy state import --config FILE');
  });

  it.each([
    [['state', 'import', STATE], 'state import: --config FILE is required'],
    [['state', 'import', '--config', path.join(dir, 'missing.yaml'), STATE], 'missing.yaml'],
    [['state', 'import', '--config', NOBODY, path.join(dir, 'missing.json')], 'missing.json: cannot be read'],
  ])('exits 2 with one line naming the problem for %j', async (args, text) => {
    const run = cli(args);
    expect(await run.exited).toBe(2);
    expect(oneLine(run)).toContain(text);
  });

  it('exits 2 naming registry.store when the configuration is not an etcd store', async () => {
    const run = cli(['state', 'import', '--config', MEMORY, STATE]);
    expect(await run.exited).toBe(2);
    expect(oneLine(run)).toMatch(/^shardvoy: config: registry\.store: is "memory": state import writes into the etcd store/);
  });

  it('exits 2 on a file that is no state file, and leaves it where it is (a start would move it aside)', async () => {
    const bad = write('not-state.json', '{"version": 1, "nodes": []}');
    const notJson = write('not-json.json', '{"version": 1,');
    const run = cli(['state', 'import', '--config', NOBODY, bad]);
    const again = cli(['state', 'import', '--config', NOBODY, notJson]);
    expect(await run.exited).toBe(2);
    expect(oneLine(run)).toContain(`${bad} does not hold a shardvoy state`);
    expect(existsSync(bad)).toBe(true);
    expect(await again.exited).toBe(2);
    expect(readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
    expect(oneLine(again)).toContain('is not JSON');
  });

  it('exits 1 within seconds when etcd is unreachable, naming it, writing nothing', async () => {
    const startedAt = Date.now();
    const run = cli(['state', 'import', '--config', NOBODY, STATE]);
    expect(await run.exited).toBe(1);
    expect(oneLine(run)).toMatch(/^shardvoy: state import: etcd \(127\.0\.0\.1:1\) unreachable: .*; nothing was written$/);
    expect(run.stdout).toBe('');
    expect(Date.now() - startedAt).toBeLessThan(25_000);
  });
});
