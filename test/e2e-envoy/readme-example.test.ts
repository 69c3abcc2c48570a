/**
 * The README's worked example, run as written against a real Envoy: shardvoy on its built-in
 * default, the README's echo servers and heartbeats, `envoy/envoy-local.yaml` as committed; and
 * again with its delta-xDS twin `envoy/envoy-local-delta.yaml`. Envoy's own counters say which
 * node each connection reached.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvoyInSync } from '../support/envoy-checks.js';
import { startEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { eventually } from '../support/harness.js';
import { codeBlocks, readmeSection, ROOT } from '../support/readme.js';
import { startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { echoThrough, waitUntilPort } from '../support/tcp-echo.js';

const section = readmeSection('A worked example');
const [start, waitReady, nodes, look, runEnvoy, failover] = codeBlocks(section, 'sh');
const [tableBefore, tableAfter] = codeBlocks(section, '');
const ECHO_PORTS = [9001, 9002, 9003];

/** Runs a README block with bash in a process group of its own, so its background jobs can be stopped. */
function runBlock(script: string): { child: ChildProcess; done: Promise<string> } {
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const done = new Promise<string>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`README block exited ${code}:\n${script}\n${out}`)))),
  );
  return { child, done };
}

/** The rows of a `/clusters?format=text` table without the columns that change run to run. */
function stableRows(table: string): string[] {
  return table
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('version') && !line.startsWith('CLUSTER'))
    .map((line) => line.trim().split(/\s+/).slice(0, -1).join(' '));
}

describe.each(['envoy/envoy-local.yaml', 'envoy/envoy-local-delta.yaml'])('the README worked example on a real Envoy with %s', (bootstrap) => {
  let shardvoy: ShardvoyProcess;
  let envoy: EnvoyProcess;
  let echoServers: ChildProcess | undefined;
  const beat = nodes!.split('\n').find((line) => line.startsWith('beat()'))!;

  beforeAll(async () => {
    expect(start!.trim()).toBe('npm ci && npm start');
    // `npm start` builds, then runs `serve` with no flags: the same CLI, run here from source.
    shardvoy = await startShardvoyProcess();
    expect(shardvoy.baseUrl).toBe('http://127.0.0.1:8082');
    await runBlock(waitReady!).done;
    const block = runBlock(nodes!);
    echoServers = block.child;
    const answers = await block.done;
    expect(answers.trim().split('\n')).toEqual(Array(3).fill('{"leaseSeconds":10,"advertised":{}}'));
    // The block starts its echo servers in the background; give them the moment a person would.
    for (const port of ECHO_PORTS) await waitUntilPort('accepting', port);

    const command = runEnvoy!.trim().split(/\s+/);
    expect(command.slice(0, 3)).toEqual(['envoy', '-c', 'envoy/envoy-local.yaml']);
    const flags = command.slice(3);
    expect(flags).toEqual(['--drain-time-s', '1']);
    envoy = await startEnvoy({ bootstrapFile: path.join(ROOT, bootstrap), drainTimeSeconds: Number(flags[1]) });
  });

  afterAll(async () => {
    await envoy?.stop();
    if (echoServers?.pid) process.kill(-echoServers.pid, 'SIGTERM');
    // The next run of the README's blocks binds the same ports.
    for (const port of ECHO_PORTS) await waitUntilPort('refusing', port);
    await shardvoy?.stop();
  });

  it('shows the topology the README shows', async () => {
    const out = await runBlock(look!).done;
    expect(stableRows(out.slice(out.indexOf('version')))).toEqual(stableRows(tableBefore!));
  });

  it('forwards 10000 to the master and 10001 to both replicas, as Envoy counts it', async () => {
    await eventually(async () => expect([...(await envoy.admin.listeners()).values()].sort()).toEqual(['0.0.0.0:10000', '0.0.0.0:10001']), 10_000);
    await expectEnvoyInSync(envoy, shardvoy, 'local-group');

    for (let i = 0; i < 3; i++) expect(await echoThrough(10000, `hello ${i}`)).toBe(`hello ${i}`);
    for (let i = 0; i < 4; i++) expect(await echoThrough(10001, `replica ${i}`)).toBe(`replica ${i}`);

    const masters = await envoy.admin.clusterHosts('shard0-masters');
    expect(masters.map((h) => [h.address, h.cxTotal])).toEqual([['127.0.0.1:9001', 3]]);
    const replicas = new Map((await envoy.admin.clusterHosts('shard0-replicas')).map((h) => [h.address, h.cxTotal]));
    expect([...replicas.keys()].sort()).toEqual(['127.0.0.1:9002', '127.0.0.1:9003']);
    // Round robin over both replicas (one Envoy worker: strictly alternating).
    expect([...replicas.values()]).toEqual([2, 2]);
  });

  it('follows the failover: new connections to 10000 reach dkv-a2, the fenced dkv-a1 none', async () => {
    const out = await runBlock(`${beat}\n${failover!}`).done;
    expect(stableRows(out.slice(out.indexOf('CLUSTER')))).toEqual(stableRows(tableAfter!));
    await eventually(async () => {
      const hosts = await envoy.admin.clusterHosts('shard0-masters');
      expect(hosts.map((h) => h.address)).toEqual(['127.0.0.1:9002']);
    }, 5_000);
    await expectEnvoyInSync(envoy, shardvoy, 'local-group');
    for (let i = 0; i < 3; i++) expect(await echoThrough(10000, `after ${i}`)).toBe(`after ${i}`);
    const hosts = await envoy.admin.clusterHosts('shard0-masters');
    expect(hosts.map((h) => [h.address, h.cxTotal])).toEqual([['127.0.0.1:9002', 3]]);
  });
});
