/**
 * Failover under traffic on a real Envoy (issue scenarios 2, 3 and 5): a client opens a
 * connection through the masters' listener every 20 ms while (a) a new master heartbeats with a
 * higher epoch and (b) the master dies and its lease runs out. Measured: from the change to the
 * first connection on the new master, and anything that reached another node after that. And
 * connections opened before the change: the one to the deposed master is closed by Envoy
 * (contract 11), the ones to a replica and to another shard keep echoing. Once over SotW ADS
 * (envoy-local.yaml) and once over delta ADS (envoy-local-delta.yaml), as committed.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvoyInSync } from '../support/envoy-checks.js';
import { startEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { eventually, HeartbeatPump } from '../support/harness.js';
import { NodeConnection, startIdNode, type IdNode } from '../support/id-nodes.js';
import { ROOT } from '../support/readme.js';
import { startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { printFigure, TrafficProbe } from '../support/traffic.js';

const LEASE_SECONDS = 2;
const FENCED_CLOSE_SECONDS = 1;
const SHARD0_MASTERS = 10000;
const SHARD0_REPLICAS = 10001;
const SHARD1_MASTERS = 10010;

const config = {
  // envoy-local*.yaml reach the control plane at 127.0.0.1:7979, as committed.
  grpc: { listen: '127.0.0.1:7979' },
  http: { listen: '127.0.0.1:0' },
  registry: { leaseSeconds: LEASE_SECONDS, warmupSeconds: 0 },
  xds: { fencedConnectionCloseSeconds: FENCED_CLOSE_SECONDS },
  groups: [
    {
      name: 'local-group',
      database: 'default',
      shards: [
        { name: 'shard0', listen: `0.0.0.0:${SHARD0_MASTERS}`, clusters: ['shard0-masters', 'shard0-replicas'] },
        { name: 'shard1', listen: `0.0.0.0:${SHARD1_MASTERS}`, clusters: ['shard1-masters', 'shard1-replicas'] },
      ],
    },
  ],
};

describe.each(['envoy/envoy-local.yaml', 'envoy/envoy-local-delta.yaml'])('failover under traffic through a real Envoy with %s', (bootstrap) => {
  let shardvoy: ShardvoyProcess;
  let envoy: EnvoyProcess;
  let pump: HeartbeatPump;
  const nodes = new Map<string, IdNode>();

  const beat = (id: string, shard: string, role: 'master' | 'replica', epoch: number) =>
    pump.set({ id, address: `127.0.0.1:${nodes.get(id)!.port}`, database: 'default', shard, role, epoch });

  beforeAll(async () => {
    for (const id of ['s0-a', 's0-b', 's0-c', 's1-a']) nodes.set(id, await startIdNode(id));
    shardvoy = await startShardvoyProcess({ config, args: [] });
    pump = new HeartbeatPump(shardvoy, 300);
    await beat('s0-a', 'shard0', 'master', 1);
    await beat('s0-b', 'shard0', 'replica', 1);
    await beat('s0-c', 'shard0', 'master', 0); // a standby, fenced by the live master's higher epoch
    await beat('s1-a', 'shard1', 'master', 1);
    envoy = await startEnvoy({ bootstrapFile: path.join(ROOT, bootstrap), drainTimeSeconds: FENCED_CLOSE_SECONDS });
    await eventually(async () => expect((await envoy.admin.clusterHosts('shard0-masters')).map((h) => h.address)).toEqual([`127.0.0.1:${nodes.get('s0-a')!.port}`]), 10_000);
    await expectEnvoyInSync(envoy, shardvoy, 'local-group');
  });

  afterAll(async () => {
    pump?.stop();
    await envoy?.stop();
    await shardvoy?.stop();
    for (const node of nodes.values()) await node.close();
  });

  it('(a) a new master with a higher epoch: traffic follows, the deposed master gets nothing, its open connection is closed', async () => {
    const toMaster = await NodeConnection.open(SHARD0_MASTERS);
    const toReplica = await NodeConnection.open(SHARD0_REPLICAS);
    const toOtherShard = await NodeConnection.open(SHARD1_MASTERS);
    expect([await toMaster.ask(), await toReplica.ask(), await toOtherShard.ask()]).toEqual(['s0-a', 's0-b', 's1-a']);

    const probe = new TrafficProbe(SHARD0_MASTERS);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const changeAt = Date.now();
    await beat('s0-b', 'shard0', 'master', 2);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await probe.stop();

    const convergence = probe.convergence(changeAt, 's0-b');
    const closedAfterMs = toMaster.isClosed ? (await toMaster.closed) - changeAt : undefined;
    printFigure(`failover-epoch ${bootstrap}`, { ...convergence, deposedConnectionClosedAfterMs: closedAfterMs });
    expect(convergence.convergedMs).toBeDefined();
    expect(convergence.convergedMs!).toBeLessThan(1_000);
    expect(convergence.astrayAfter).toBe(0);
    expect(convergence.failedAfter).toBe(0);
    expect(convergence.failedBefore).toBe(0);

    // Contract 11: Envoy itself closed the connection it held to the deposed master...
    expect(closedAfterMs, 'the connection to the deposed master was closed').toBeDefined();
    expect(closedAfterMs!).toBeLessThan(FENCED_CLOSE_SECONDS * 1_000 + 1_500);
    // ...and kept the others.
    expect(await toReplica.ask()).toBe('s0-b');
    expect(await toOtherShard.ask()).toBe('s1-a');
    toReplica.close();
    toOtherShard.close();
    await expectEnvoyInSync(envoy, shardvoy, 'local-group');
  });

  it('(b) the master dies: once its lease has run out, traffic moves to the standby', async () => {
    // s0-b (epoch 2) is master; s0-a, deposed, leaves; s0-c stands by with a lower epoch.
    pump.silence('s0-a');
    await beat('s0-c', 'shard0', 'master', 1);
    await expectEnvoyInSync(envoy, shardvoy, 'local-group');
    const probe = new TrafficProbe(SHARD0_MASTERS);
    await new Promise((resolve) => setTimeout(resolve, 300));
    pump.silence('s0-b');
    await nodes.get('s0-b')!.close();
    // Let an in-flight heartbeat land before reading when the lease ends.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const leaseEndsAt = pump.lastAcceptedAt('s0-b')! + LEASE_SECONDS * 1_000;
    await new Promise((resolve) => setTimeout(resolve, leaseEndsAt - Date.now() + 2_500));
    await probe.stop();

    const convergence = probe.convergence(leaseEndsAt, 's0-c');
    printFigure(`failover-lease ${bootstrap}`, convergence);
    expect(convergence.convergedMs).toBeDefined();
    expect(convergence.convergedMs!).toBeLessThan(1_000);
    expect(convergence.astrayAfter).toBe(0);
    expect(convergence.failedAfter).toBe(0);
    await expectEnvoyInSync(envoy, shardvoy, 'local-group');
  });
});
