/**
 * shardvoy in dkvoy's place on a real Envoy: the seed's dkvoy config, DKV nodes registering with
 * UpdateStatus, and gRPC calls through Envoy's HTTP/2 listener routed by :authority to the
 * masters' or the slaves' cluster (contract 5.3). A master failover at 50 calls a second: every
 * call fails over by itself or through the route's retries, and after convergence every call
 * lands on the new master.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dkvClient, type DkvClient } from '../support/dkv-client.js';
import { expectEnvoyInSync } from '../support/envoy-checks.js';
import { startGroupEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { freePortRun } from '../support/free-ports.js';
import { eventually } from '../support/harness.js';
import { startGrpcIdNode, WhoClient, type GrpcIdNode } from '../support/grpc-id-nodes.js';
import { ROOT } from '../support/readme.js';
import { startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { printFigure } from '../support/traffic.js';

const SEED = JSON.parse(readFileSync(path.join(ROOT, 'test/config/fixtures/dkvoy-seed.json'), 'utf8')) as Record<string, unknown>;
const DC = SEED['dc-id'] as string;

describe('dkvoy dialect over HTTP/2 through a real Envoy', () => {
  let shardvoy: ShardvoyProcess;
  let envoy: EnvoyProcess;
  let dkv: DkvClient;
  let listenPort: number;
  let beating: NodeJS.Timeout;
  const nodes = new Map<string, GrpcIdNode>();
  const statuses = new Map<string, string>();

  const report = (id: string, status: string) => {
    statuses.set(id, status);
    return dkv.updateStatus({
      regionInfo: { dcID: DC, nodeAddress: `127.0.0.1:${nodes.get(id)!.port}`, database: 'default', vBucket: 'shard1', status, httpAddress: '' },
      timestamp: String(Date.now()),
    });
  };

  beforeAll(async () => {
    listenPort = await freePortRun(1);
    // The seed as is, but for what this machine needs: its own registry (the seed follows
    // ds1/ds2, which do not exist here), a free port, and a shard1 with masters and slaves.
    const config = {
      ...SEED,
      discoveryServerAddr: 'local',
      'local.shards': ['shard1'],
      'shard1.listener_addr': `127.0.0.1:${listenPort}`,
      'shard1.clusters': ['shard1-masters', 'shard1-slaves'],
      'shard1-masters.connect_timeout': SEED['shard0-masters.connect_timeout'],
    };
    for (const key of Object.keys(config)) if (key.startsWith('shard0')) delete (config as Record<string, unknown>)[key];
    shardvoy = await startShardvoyProcess({ config });
    for (const id of ['dkv-1', 'dkv-2', 'dkv-3']) nodes.set(id, await startGrpcIdNode(id));
    dkv = dkvClient(shardvoy.grpcAddress);
    expect(await report('dkv-1', 'LEADER')).toEqual({ code: 0, message: '' });
    expect(await report('dkv-2', 'ACTIVE_SLAVE')).toEqual({ code: 0, message: '' });
    expect(await report('dkv-3', 'ACTIVE_SLAVE')).toEqual({ code: 0, message: '' });
    // DKV nodes report every second or so.
    beating = setInterval(() => {
      for (const [id, status] of statuses) void report(id, status).catch(() => undefined);
    }, 1_000);
    // The dkvoy dialect keeps the default warm-up (one lease): Envoy is answered after it.
    await eventually(async () => expect((await fetch(`${shardvoy.baseUrl}/readyz`)).status).toBe(200), 15_000, 200);
    envoy = await startGroupEnvoy(shardvoy, 'local-group');
    await eventually(async () => expect((await envoy.admin.clusterHosts('shard1-slaves')).length).toBe(2), 10_000);
    await expectEnvoyInSync(envoy, shardvoy, 'local-group');
  });

  afterAll(async () => {
    clearInterval(beating);
    dkv?.close();
    await envoy?.stop();
    await shardvoy?.stop();
    for (const node of nodes.values()) await node.close();
  });

  it('routes calls by :authority: shard1-masters to the leader, shard1-slaves to both slaves', async () => {
    const masters = new WhoClient(`127.0.0.1:${listenPort}`, 'shard1-masters');
    const slaves = new WhoClient(`127.0.0.1:${listenPort}`, 'shard1-slaves');
    try {
      for (let i = 0; i < 5; i++) expect(await masters.who()).toBe('dkv-1');
      const answered = new Set<string>();
      for (let i = 0; i < 10; i++) answered.add(await slaves.who());
      expect([...answered].sort()).toEqual(['dkv-2', 'dkv-3']);
    } finally {
      masters.close();
      slaves.close();
    }
    // Envoy's own counters: the calls went out on the clusters they named.
    const stats = await envoy.admin.stats();
    expect(stats.get('cluster.shard1-masters.upstream_rq_total')).toBeGreaterThanOrEqual(5);
    expect(stats.get('cluster.shard1-slaves.upstream_rq_total')).toBeGreaterThanOrEqual(10);
  });

  it('a master failover at 50 calls a second: no call fails, and after convergence every call reaches the new leader', async () => {
    const client = new WhoClient(`127.0.0.1:${listenPort}`, 'shard1-masters');
    const calls: Array<{ at: number; answer?: string; error?: string }> = [];
    const inFlight: Array<Promise<void>> = [];
    const timer = setInterval(() => {
      const at = Date.now();
      inFlight.push(client.who().then((answer) => void calls.push({ at, answer }), (error: Error) => void calls.push({ at, error: error.message })));
    }, 20);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const changeAt = Date.now();
      // The store elects dkv-2; the old leader steps down to a slave, and its process goes away.
      await report('dkv-2', 'LEADER');
      await report('dkv-1', 'ACTIVE_SLAVE');
      await new Promise((resolve) => setTimeout(resolve, 200));
      statuses.delete('dkv-1');
      await nodes.get('dkv-1')!.close();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      clearInterval(timer);
      await Promise.all(inFlight);

      calls.sort((a, b) => a.at - b.at);
      const after = calls.filter((c) => c.at >= changeAt);
      const lastOther = after.map((c) => c.answer !== 'dkv-2').lastIndexOf(true);
      const convergedMs = lastOther + 1 < after.length ? after[lastOther + 1]!.at - changeAt : undefined;
      const failed = calls.filter((c) => c.error);
      const retried = (await envoy.admin.stats()).get('cluster.shard1-masters.upstream_rq_retry') ?? 0;
      printFigure('dkvoy-http2-failover', { calls: calls.length, failed: failed.length, convergedMs, envoyRetries: retried, errors: [...new Set(failed.map((c) => c.error))] });
      expect(calls.length).toBeGreaterThan(100);
      expect(failed.map((c) => c.error)).toEqual([]);
      expect(convergedMs).toBeDefined();
      expect(convergedMs!).toBeLessThan(1_000);
      expect(after.slice(lastOther + 1).every((c) => c.answer === 'dkv-2')).toBe(true);
    } finally {
      clearInterval(timer);
      client.close();
    }
    await expectEnvoyInSync(envoy, shardvoy, 'local-group');
  });
});
