/**
 * The README's "Nodes that cannot heartbeat: shardvoy agent" example, its blocks run as written
 * but for the addresses: shardvoy and the broker on free ports instead of 8082 and 9092, and the
 * CLI from source instead of the build. The files it writes land in a scratch folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/harness.js';
import { codeBlocks, readmeSection, ROOT } from '../support/readme.js';
import { scratchDir, startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { nodeRecord, NodeStandIn, privatelinkConfig, PROCESS_TIMEOUT_MS } from './fixtures.js';

const section = readmeSection('Nodes that cannot heartbeat: shardvoy agent');
const [writeTemplate, initStep, sidecar, look] = codeBlocks(section, 'sh');
const [initOutput, lookOutput] = codeBlocks(section, '');
const TSX = import.meta.resolve('tsx');

let shardvoy: ShardvoyProcess;
let broker: NodeStandIn;
const scratch = scratchDir();

/** The block with this test's addresses and the CLI run from source. */
function asRun(block: string): string {
  return block
    .replaceAll('node dist/cli.js', `node --import ${TSX} ${path.join(ROOT, 'src', 'cli.ts')}`)
    .replaceAll('localhost:8082', shardvoy.baseUrl.replace('http://', ''))
    .replaceAll('127.0.0.1:9092', broker.address);
}

function bash(script: string): { child: ChildProcess; output: () => string; done: Promise<number | null> } {
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: scratch.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return { child, output: () => out, done: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

/** What a person reads: the lines that are not the agent's JSON log. */
function printed(output: string): string[] {
  return output.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('{"level"'));
}

beforeAll(async () => {
  broker = await new NodeStandIn().start();
  shardvoy = await startShardvoyProcess({ config: privatelinkConfig({ leaseSeconds: 10 }, { token: false }) });
}, PROCESS_TIMEOUT_MS);

afterAll(async () => {
  await shardvoy?.stop();
  await broker?.stop();
  scratch.remove();
});

describe('the README example of shardvoy agent', { timeout: PROCESS_TIMEOUT_MS }, () => {
  let agent: ReturnType<typeof bash> | undefined;
  afterAll(() => {
    if (agent && agent.child.exitCode === null) agent.child.kill('SIGKILL');
  });

  it('renders the broker template in an init step that exits 0', async () => {
    expect(await bash(writeTemplate!).done).toBe(0);
    expect(initStep).toMatch(/^node dist\/cli\.js agent .*--wait-advertised\n/s);
    const init = bash(asRun(initStep!));
    expect(await init.done).toBe(0);
    // The template's own text names 127.0.0.1:9092; only the agent's --address is this test's broker.
    expect(printed(init.output())).toEqual([initOutput!.trim()]);
    expect(readFileSync(path.join(scratch.dir, 'server.properties'), 'utf8')).toContain('EXTERNAL://kafka.test.com:6001');
  });

  it('keeps the node registered beside the broker, follows its probe, and says goodbye on SIGTERM', async () => {
    // `exec`, so that the signal reaches the agent itself, as it would under a supervisor.
    expect(sidecar).toMatch(/^node dist\/cli\.js agent /);
    agent = bash(`exec ${asRun(sidecar!)}`);
    await eventually(() => expect(existsSync(path.join(scratch.dir, 'advertised.json'))).toBe(true), 30_000, 100);
    await eventually(async () => expect((await nodeRecord(shardvoy, 'broker-1')).status).toBe('active'), 10_000, 100);

    const seen = bash(asRun(look!));
    expect(await seen.done).toBe(0);
    const [advertisedLine, nodeLine] = printed(seen.output());
    expect(advertisedLine).toBe(lookOutput!.trim());
    expect(JSON.parse(nodeLine!)).toMatchObject({ id: 'broker-1', address: broker.address, database: 'kafka', shard: 'brokers', role: 'master', status: 'active' });

    await broker.stop();
    await eventually(async () => expect((await nodeRecord(shardvoy, 'broker-1')).status).toBe('inactive'), 8_000, 50);
    await broker.start();
    await eventually(async () => expect((await nodeRecord(shardvoy, 'broker-1')).status).toBe('active'), 8_000, 50);

    agent.child.kill('SIGTERM');
    expect(await agent.done).toBe(0);
    expect((await nodeRecord(shardvoy, 'broker-1')).status).toBe('inactive');
  });
});
