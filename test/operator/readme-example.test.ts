/**
 * The README's operator-command example ("Example: status, drain, forget, check"), its blocks run
 * as written but for the address: shardvoy on free ports (the built-in configuration, without
 * the warm-up and with a longer lease) instead of 8082, and the CLI from source instead of the build.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeBlocks, readmeSection, ROOT } from '../support/readme.js';
import { startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';

const section = readmeSection('Example: status, drain, forget, check');
const [register, change] = codeBlocks(section, 'sh');
const [statusOutput, changeOutput] = codeBlocks(section, '');
const TSX = import.meta.resolve('tsx');
const README_SERVER = 'http://127.0.0.1:8082';

let shardvoy: ShardvoyProcess;

beforeAll(async () => {
  shardvoy = await startShardvoyProcess({
    config: {
      // No warm-up, and a lease no CLI start outlasts on a busy machine (the built-in 10 s can be).
      registry: { warmupSeconds: 0, leaseSeconds: 120 },
      groups: [{ name: 'local-group', database: 'default', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] }],
    },
  });
}, 60_000);

afterAll(async () => {
  await shardvoy?.stop();
});

/** The block run by bash against this test's server; what it printed, with the README's address back in. */
function bash(block: string): Promise<{ code: number | null; output: string }> {
  const script = block
    .replaceAll('node dist/cli.js', `node --import ${TSX} ${path.join(ROOT, 'src', 'cli.ts')}`)
    .replaceAll('localhost:8082', shardvoy.baseUrl.replace('http://', ''));
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, env: { ...process.env, SHARDVOY_SERVER: shardvoy.baseUrl }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output: output.replaceAll(shardvoy.baseUrl, README_SERVER) })));
}

describe('the README example of the operator commands', { timeout: 60_000 }, () => {
  it('registers two nodes and prints the status shown', async () => {
    expect(register).toContain('node dist/cli.js status');
    expect(await bash(register!)).toEqual({ code: 0, output: statusOutput });
  });

  it('drains and forgets the master, and check fails naming the shard, as shown', async () => {
    expect(await bash(change!)).toEqual({ code: 0, output: changeOutput });
  });
});
