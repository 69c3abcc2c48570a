/** The command line as a user meets it: flags, env vars, exit codes, listening lines, signals, demo. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from './support/cli-process.js';
import { eventually } from './support/harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-cli-'));
const running: CliRun[] = [];

function cli(args: string[], env: Record<string, string> = {}): CliRun {
  const run = runCli(args, env);
  running.push(run);
  return run;
}

afterEach(() => {
  for (const run of running.splice(0)) if (run.child.exitCode === null) run.child.kill('SIGKILL');
});

describe('shardvoy command line', () => {
  it('prints its version and its usage', async () => {
    const version = cli(['--version']);
    expect(await version.exited).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const help = cli(['--help']);
    expect(await help.exited).toBe(0);
    expect(help.stdout).toContain('shardvoy serve [--config FILE]');
  });

  it.each([
    [['serve', '--bogus'], '--bogus'],
    [['launch'], 'unknown command "launch"'],
    [['serve', '--log-level', 'loud'], '--log-level: "loud"'],
    [['serve', '--http', '127.0.0.1:99999'], '--http'],
    [['serve', '--config', path.join(dir, 'missing.yaml')], 'missing.yaml'],
    [['demo', '--nodes', 'many'], '--nodes'],
  ])('exits 2 with one line naming the problem for %j', async (args, text) => {
    const run = cli(args);
    expect(await run.exited).toBe(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(text);
  });

  it('exits 2 naming the key path of a bad configuration file', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'groups:\n  - name: g\n    shards:\n      - name: shard0\n        listen: "0.0.0.0:10000"\n        clusters: [shard0-leaders]\n');
    const run = cli(['serve', '--config', file]);
    expect(await run.exited).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('groups[0].shards[0].clusters[0]');
  });

  it('logs one listening line per server, serves /clusters, and exits 0 on SIGTERM', async () => {
    // The HTTP address comes from the environment, the gRPC one from a flag.
    const run = cli(['serve', '--grpc', '127.0.0.1:0'], { SHARDVOY_HTTP: '127.0.0.1:0' });
    const grpc = await run.waitForLine((l) => l.service === 'grpc');
    const http = await run.waitForLine((l) => l.service === 'http');
    expect(grpc.msg).toMatch(/^listening/);
    expect(http.msg).toMatch(/^listening/);
    expect(grpc.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const response = await fetch(`http://${http.address}/clusters`);
    const body = await response.json();
    expect(body.clusters.map((c: any) => c.name)).toEqual(['shard0-masters', 'shard0-replicas']);

    const signalledAt = Date.now();
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(5_000);
    for (const line of run.lines) expect(typeof line.level).toBe('number'); // every stdout line is pino JSON
  });

  it('serve writes nothing to stderr, from start to shutdown (no deprecation warning either)', async () => {
    const run = cli(['serve', '--grpc', '127.0.0.1:0', '--http', '127.0.0.1:0']);
    const http = await run.waitForLine((l) => l.service === 'http');
    expect((await fetch(`http://${http.address}/v1/nodes/some-node`)).status).toBe(404);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stderr).toBe('');
  });

  it('demo: simulated nodes heartbeat, and killing the master promotes a replica', async () => {
    const file = path.join(dir, 'demo.yaml');
    writeFileSync(file, 'registry:\n  leaseSeconds: 1\ngroups:\n  - name: local-group\n    shards:\n      - name: shard0\n        listen: "127.0.0.1:10000"\n        clusters: [shard0-masters, shard0-replicas]\n');
    const run = cli(['demo', '--config', file, '--nodes', '3', '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0']);
    const http = await run.waitForLine((l) => l.service === 'http');
    const master = await run.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('simulated master'));
    const clusters = async () => (await (await fetch(`http://${http.address}/clusters`)).json()).clusters as any[];
    await eventually(async () => {
      const [masters, replicas] = await clusters();
      expect(masters.endpoints.map((e: any) => e.health)).toEqual(['healthy']);
      expect(replicas.endpoints.map((e: any) => e.health)).toEqual(['healthy', 'healthy']);
    }, 10_000);

    process.kill(master.pid, 'SIGKILL');
    await run.waitForLine((l) => typeof l.msg === 'string' && l.msg.includes('promoting'));
    await eventually(async () => {
      const [masters] = await clusters();
      const healthy = masters.endpoints.filter((e: any) => e.health === 'healthy');
      expect(healthy).toHaveLength(1);
      expect(healthy[0].id).not.toBe(master.node);
      expect(healthy[0].epoch).toBe(2);
    }, 10_000);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });
});

describe('state file on the command line', () => {
  it('exits 2 naming registry.stateFile when its folder cannot be written', async () => {
    const blocker = path.join(dir, 'not-a-folder');
    writeFileSync(blocker, 'a file where a folder should be');
    const file = path.join(dir, 'state-config.yaml');
    writeFileSync(file, `registry:\n  stateFile: ${path.join(blocker, 'state.json')}\ngroups:\n  - name: g\n    shards:\n      - { name: s0, listen: "127.0.0.1:10000", clusters: [s0-masters] }\n`);
    const run = cli(['serve', '--config', file, '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0']);
    expect(await run.exited).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('registry.stateFile: cannot write in');
  });
});
