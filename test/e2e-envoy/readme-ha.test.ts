/**
 * The README's "Several instances (etcd)" example, its blocks run as written against a real etcd
 * but for the addresses: etcd on the test's own port instead of 2379, the instances on free ports
 * instead of 8082/8083 and 7979/7980, the CLI from source instead of the build. The state file it
 * imports is the one a memory-store shardvoy writes after the worked example's three heartbeats.
 * Both instances then show the imported nodes, with the same snapshot version; and with etcd
 * killed they do what the section says of an outage (fail-static, 503 with Retry-After, /readyz
 * naming etcd), and take heartbeats again once it is back, with nobody expired.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { freePortRun } from '../support/free-ports.js';
import { eventually, startTestShardvoy } from '../support/harness.js';
import { codeBlocks, readmeSection, ROOT } from '../support/readme.js';
import { scratchDir } from '../support/shardvoy-process.js';

const section = readmeSection('Several instances (etcd)');
const [configYaml] = codeBlocks(section, 'yaml');
const [importBlock, serveBlock] = codeBlocks(section, 'sh');
const [importOutput, tableOutput] = codeBlocks(section, '');
const TSX = import.meta.resolve('tsx');
const scratch = scratchDir();

/** The worked example's heartbeats (`beat '{…}'`), as bodies. */
const workedBeats = codeBlocks(readmeSection('A worked example'), 'sh')
  .flatMap((block) => block.split('\n'))
  .filter((line) => line.startsWith("beat '{"))
  .slice(0, 3)
  .map((line) => JSON.parse(line.slice("beat '".length, -1)) as Record<string, unknown>);

function bash(script: string): { child: ChildProcess; done: Promise<string> } {
  // A process group of its own: the instances the block starts in the background are stopped with it.
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: scratch.dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
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

describe('the README example of several instances on etcd', () => {
  let cluster: EtcdCluster;
  let serve: ReturnType<typeof bash> | undefined;
  let ports: { http: [number, number]; grpc: [number, number] };
  const stateFile = path.join(scratch.dir, 'state.json');

  /** A block as this test runs it. */
  const asRun = (block: string) => {
    let text = block
      .replaceAll('node dist/cli.js', `node --import ${TSX} ${path.join(ROOT, 'src', 'cli.ts')}`)
      .replaceAll('/var/lib/shardvoy/state.json', stateFile);
    for (const [from, to] of [
      ['8082', ports.http[0]],
      ['8083', ports.http[1]],
      ['7979', ports.grpc[0]],
      ['7980', ports.grpc[1]],
    ] as const) {
      text = text.replaceAll(`:${from}`, `:${to}`);
    }
    return text;
  };

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    const base = await freePortRun(4, '127.0.0.1');
    ports = { http: [base, base + 1], grpc: [base + 2, base + 3] };
    // ha.yaml as the README gives it, but for etcd's address.
    expect(configYaml).toContain('"127.0.0.1:2379"');
    writeFileSync(path.join(scratch.dir, 'ha.yaml'), configYaml!.replace('127.0.0.1:2379', cluster.endpoints[0]!));
  });

  afterAll(async () => {
    if (serve?.child.pid) {
      try {
        process.kill(-serve.child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    await cluster?.stop();
    scratch.remove();
  });

  it('has a configuration that loads as the etcd store', () => {
    const config = parseConfig(parse(configYaml!), 'README');
    expect(config.registry.store).toBe('etcd');
    expect(config.registry.etcd).toMatchObject({ endpoints: ['127.0.0.1:2379'], prefix: '/shardvoy/' });
  });

  it("imports a single instance's state file, saying what it did", async () => {
    // The single instance: the worked example's three nodes, its state file written at shutdown.
    expect(workedBeats.map((b) => b.id)).toEqual(['dkv-a1', 'dkv-a2', 'dkv-a3']);
    const single = await startTestShardvoy({ registry: { stateFile }, groups: parse(configYaml!).groups });
    for (const body of workedBeats) expect((await single.heartbeat(body)).status).toBe(200);
    await single.stop();

    expect(importBlock!.trim()).toMatch(/^node dist\/cli\.js state import --config ha\.yaml \/var\/lib\/shardvoy\/state\.json$/);
    const out = await bash(asRun(importBlock!)).done;
    expect(out.trim()).toBe(importOutput!.trim().replace('127.0.0.1:2379', cluster.endpoints[0]!));
  });

  it('starts two instances on that etcd: both show the imported nodes, with one snapshot version', async () => {
    // The nodes go on heartbeating, now to the first instance, as they would after the move; on a
    // slow machine the instances could otherwise start judging a lease before the table is read.
    const beating = setInterval(() => {
      for (const body of workedBeats) {
        void fetch(`http://127.0.0.1:${ports.http[0]}/v1/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).catch(() => undefined);
      }
    }, 1000);
    onTestFinished(() => clearInterval(beating));
    serve = bash(asRun(serveBlock!));
    const out = await serve.done;
    const table = out.slice(out.indexOf('version'));
    expect(stableRows(table)).toEqual(stableRows(tableOutput!));
    // The other instance: the same rows, the same version.
    const first = await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${ports.http[0]}/clusters?format=text`);
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(stableRows(text)).toEqual(stableRows(tableOutput!));
      return text;
    }, 15_000, 200);
    expect(first.split('\n')[0]).toBe(table.split('\n')[0]);
  });

  it('does what the README says when etcd is out of reach: last snapshot served, 503 with Retry-After, /readyz says why, nobody expired', async () => {
    const url = (i: 0 | 1, p: string) => `http://127.0.0.1:${ports.http[i]}${p}`;
    const [heartbeat] = workedBeats;
    const before = await (await fetch(url(1, '/clusters?format=text'))).text();
    await cluster.members[0]!.kill();
    try {
      await eventually(async () => {
        const ready = await fetch(url(1, '/readyz'));
        expect(ready.status).toBe(503);
        expect((await ready.json()).message).toMatch(/^etcd \(.*\) unreachable since .*: .*serving the last snapshot/);
      }, 30_000, 250);
      const refused = await fetch(url(0, '/v1/heartbeat'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(heartbeat) });
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      // Fail-static: the same routes, the same version.
      for (const i of [0, 1] as const) {
        const now = await (await fetch(url(i, '/clusters?format=text'))).text();
        expect(now.split('\n')[0]).toBe(before.split('\n')[0]);
        expect(stableRows(now)).toEqual(stableRows(before));
      }
    } finally {
      await cluster.members[0]!.start();
    }
    for (const i of [0, 1] as const) await eventually(async () => expect((await fetch(url(i, '/readyz'))).status).toBe(200), 30_000, 250);
    for (const body of workedBeats) expect((await fetch(url(0, '/v1/heartbeat'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status).toBe(200);
    const after = await (await fetch(url(1, '/clusters?format=text'))).text();
    expect(stableRows(after)).toEqual(stableRows(tableOutput!));
  });
});
