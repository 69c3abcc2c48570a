/**
 * `shardvoy agent` when servers go away: failover to the next --server, and a shardvoy restart.
 */
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/harness.js';
import { deadPort, fixtures, nodeRecord, privatelinkConfig, PROCESS_TIMEOUT_MS } from './fixtures.js';

describe('shardvoy agent when servers go away', { timeout: PROCESS_TIMEOUT_MS }, () => {
  it('fails over to the second --server when the first goes down, and starts on the second when the first is down', async ({ onTestFinished }) => {
    const f = fixtures(onTestFinished);
    const broker = await f.node();
    const [first, second] = await Promise.all([f.shardvoy({ config: privatelinkConfig({ leaseSeconds: 1.5 }) }), f.shardvoy({ config: privatelinkConfig({ leaseSeconds: 30 }) })]);
    const run = f.agent(`${first.baseUrl},${second.baseUrl}`, 'failover-1', broker.address);
    await eventually(async () => expect((await nodeRecord(first, 'failover-1')).status).toBe('active'), 30_000, 100);
    await expect(nodeRecord(second, 'failover-1')).rejects.toThrow('404');
    await first.kill('SIGKILL');
    // Within the next heartbeat (0.5 s): the failed one is handed to the second server at once.
    expect((await eventually(() => nodeRecord(second, 'failover-1'), 10_000, 100)).status).toBe('active');
    // The agent logs the switch once it has read the answer, a moment after shardvoy stored it.
    await run.waitForLine((l) => l.msg === `heartbeating to ${second.baseUrl} every 10000 ms`, 5_000);

    const other = await f.node();
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const late = f.agent(`${dead},${second.baseUrl}`, 'failover-2', other.address);
    await eventually(async () => expect((await nodeRecord(second, 'failover-2')).status).toBe('active'), 30_000, 100);
    expect(late.lines.find((l) => l.server === dead)?.error).toBe('ECONNREFUSED');
  });

  it('survives a shardvoy restart: the node is back in the new process, which had no state file', async ({ onTestFinished }) => {
    const f = fixtures(onTestFinished);
    const broker = await f.node();
    const config = privatelinkConfig({ leaseSeconds: 1.5 });
    const before = await f.shardvoy({ config });
    const run = f.agent(before.baseUrl, 'restart-1', broker.address);
    await eventually(async () => expect((await nodeRecord(before, 'restart-1')).status).toBe('active'), 30_000, 100);
    await before.kill('SIGKILL');
    // Down for a while: the agent backs off and keeps trying.
    await run.waitForLine((l) => String(l.msg).startsWith('no server took the heartbeat'), 5_000);
    const after = await f.shardvoy({ config, args: ['--http', before.baseUrl.replace('http://', ''), '--grpc', '127.0.0.1:0'] });
    // A third of a 1.5 s lease, or a backoff capped at that: back within a few seconds.
    await eventually(async () => expect((await nodeRecord(after, 'restart-1')).status).toBe('active'), 10_000, 100);
    expect(run.child.exitCode).toBeNull();
  });
});
