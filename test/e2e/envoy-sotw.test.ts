/**
 * The whole pipeline, driven as in production: nodes heartbeat over HTTP, an Envoy-like ADS client
 * subscribes (wildcard CDS and LDS, EDS by name) and must hold the expected listeners, clusters and
 * endpoints, every resource passing the Envoy protos' validate rules.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvoyLikeClient } from '../support/ads-client.js';
import { eventually, HeartbeatPump, startTestShardvoy, type Running } from '../support/harness.js';

const SHARDS = ['shard0', 'shard1', 'shard2'];

function config(leaseSeconds: number) {
  return {
    registry: { leaseSeconds, expiredRetentionSeconds: 60 },
    groups: [
      {
        name: 'edge',
        dc: 'dc1',
        database: 'default',
        shards: SHARDS.map((name, i) => ({ name, listen: `0.0.0.0:${10000 + 10 * i}`, clusters: [`${name}-masters`, `${name}-replicas`] })),
      },
    ],
  };
}

/** A master and a replica in dc1, a replica in dc2, for every shard; ports tell shard and role apart. */
function topology() {
  return SHARDS.flatMap((shard, i) => [
    { id: `${shard}-m`, address: `10.0.${i}.1:9000`, database: 'default', shard, role: 'master', dc: 'dc1', epoch: 3 },
    { id: `${shard}-r1`, address: `10.0.${i}.2:9000`, database: 'default', shard, role: 'replica', dc: 'dc1' },
    { id: `${shard}-r2`, address: `10.1.${i}.3:9000`, database: 'default', shard, role: 'replica', dc: 'dc2' },
  ]);
}

describe('heartbeats to Envoy over SotW ADS', () => {
  let running: Running;
  let pump: HeartbeatPump;
  let envoy: EnvoyLikeClient | undefined;

  beforeEach(async () => {
    running = await startTestShardvoy(config(1));
    pump = new HeartbeatPump(running, 200);
    for (const body of topology()) await pump.set(body);
  });

  afterEach(async () => {
    envoy?.close();
    pump.stop();
    await running.stop();
  });

  it('gives an Envoy of the group a listener and a master and a replica cluster per shard, with DC priorities', async () => {
    envoy = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'edge' });
    await envoy.waitFor((c) => c.listeners.size === 6 && c.endpoints.size === 6 && c.endpointsOf('shard2-replicas').length === 2, 5_000, 'full topology');

    expect(envoy.violations).toEqual([]);
    expect([...envoy.clusters.keys()].sort()).toEqual(SHARDS.flatMap((s) => [`${s}-masters`, `${s}-replicas`]).sort());
    for (const cluster of envoy.clusters.values()) {
      expect(cluster.type).toBe('EDS');
      expect(cluster.eds_cluster_config.eds_config.ads).toEqual({});
      expect(cluster.connect_timeout).toBe('5s');
    }
    SHARDS.forEach((shard, i) => {
      const masters = envoy!.listeners.get(`${shard}-masters`)!;
      const replicas = envoy!.listeners.get(`${shard}-replicas`)!;
      expect(masters.address.socket_address).toMatchObject({ address: '0.0.0.0', port_value: 10000 + 10 * i });
      expect(replicas.address.socket_address).toMatchObject({ address: '0.0.0.0', port_value: 10001 + 10 * i });
      const proxy = masters.filter_chains[0].filters[0];
      expect(proxy.name).toBe('envoy.filters.network.tcp_proxy');
      expect(proxy.typed_config).toMatchObject({ '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', cluster: `${shard}-masters` });
      expect(replicas.filter_chains[0].filters[0].typed_config.cluster).toBe(`${shard}-replicas`);

      expect(envoy!.endpointsOf(`${shard}-masters`)).toEqual([{ address: `10.0.${i}.1:9000`, priority: 0, zone: 'dc1', health: 'HEALTHY' }]);
      expect(envoy!.endpointsOf(`${shard}-replicas`)).toEqual([
        { address: `10.0.${i}.2:9000`, priority: 0, zone: 'dc1', health: 'HEALTHY' },
        { address: `10.1.${i}.3:9000`, priority: 1, zone: 'dc2', health: 'HEALTHY' },
      ]);
    });
  });

  it('drops a master that stops heartbeating within lease + 1 s, and follows a replica promoted with a higher epoch', async () => {
    envoy = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'edge' });
    await envoy.waitFor((c) => c.endpointsOf('shard0-masters').length === 1, 5_000, 'shard0 master');

    const silencedAt = Date.now();
    pump.silence('shard0-m');
    await envoy.waitFor((c) => c.endpointsOf('shard0-masters').length === 0, 3_000, 'master removed');
    const removedAfterMs = Date.now() - silencedAt;
    expect(removedAfterMs).toBeLessThan(2_000 + 200); // lease 1 s + 1 s, plus the last in-flight heartbeat interval
    // The other shards' masters are untouched.
    expect(envoy.endpointsOf('shard1-masters')).toHaveLength(1);

    // shard0-r1 wins the election: it heartbeats as master with epoch 4.
    await pump.set({ id: 'shard0-r1', address: '10.0.0.2:9000', database: 'default', shard: 'shard0', role: 'master', dc: 'dc1', epoch: 4 });
    await envoy.waitFor((c) => c.endpointsOf('shard0-masters')[0]?.address === '10.0.0.2:9000', 3_000, 'new master');
    expect(envoy.endpointsOf('shard0-replicas').map((e) => e.address)).toEqual(['10.1.0.3:9000']);

    // The deposed master comes back, still claiming epoch 3: it is fenced, never routed.
    await pump.set({ id: 'shard0-m', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master', dc: 'dc1', epoch: 3 });
    await eventually(async () => {
      const view = await running.getJson('/clusters?shard=shard0');
      const masters = view.clusters.find((c: any) => c.name === 'shard0-masters');
      expect(Object.fromEntries(masters.endpoints.map((e: any) => [e.id, e.health]))).toEqual({ 'shard0-m': 'fenced', 'shard0-r1': 'healthy' });
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(envoy.endpointsOf('shard0-masters').map((e) => e.address)).toEqual(['10.0.0.2:9000']);
    expect(envoy.violations).toEqual([]);
  });

  it('closes a stream whose node names no configured group with INVALID_ARGUMENT, not listing the groups to an unauthenticated peer', async () => {
    envoy = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'stranger', nodeCluster: 'nobody' });
    await envoy.waitFor((c) => c.status !== undefined, 3_000, 'stream status');
    expect(envoy.status?.code).toBe(3); // INVALID_ARGUMENT
    expect(envoy.status?.details).toContain('node.id "stranger" and node.cluster "nobody" name no configured group');
    expect(envoy.status?.details).not.toContain('edge');
    expect(envoy.responses).toHaveLength(0);
  });

  it('finds the group from node.cluster when node.id names none', async () => {
    envoy = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'envoy-pod-7f9c', nodeCluster: 'edge' });
    await envoy.waitFor((c) => c.listeners.size === 6, 5_000, 'listeners');
    expect(envoy.violations).toEqual([]);
  });
});
