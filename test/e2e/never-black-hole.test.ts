/**
 * Contract section 9: a control plane in trouble never tells Envoy that healthy nodes are gone.
 * Warm-up after a start without state, self-preservation when many nodes fall silent at once,
 * split brain fenced by epoch, and the registry's size limit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EnvoyLikeClient } from '../support/ads-client.js';
import { eventually, HeartbeatPump, startTestShardvoy, type Running } from '../support/harness.js';

const GROUP = { name: 'edge', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] };
const replica = (i: number) => ({ id: `r${i}`, address: `10.0.0.${i}:9000`, database: 'default', shard: 'shard0', role: 'replica' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('never black-hole traffic', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  async function start(registry: Record<string, unknown>): Promise<Running> {
    const running = await startTestShardvoy({ registry, groups: [GROUP] });
    cleanups.push(() => running.stop());
    return running;
  }
  function envoy(running: Running): EnvoyLikeClient {
    const client = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'edge' });
    cleanups.push(() => {
      expect(client.violations).toEqual([]);
      client.close();
    });
    return client;
  }
  function pump(running: Running): HeartbeatPump {
    const p = new HeartbeatPump(running, 100);
    cleanups.push(() => p.stop());
    return p;
  }

  it('answers no xDS request during the warm-up of a start without state, then the full topology', async () => {
    const startedAt = Date.now();
    const running = await start({ leaseSeconds: 5, warmupSeconds: 3 });
    const client = envoy(running); // connects at once
    const nodes = pump(running);
    for (let i = 1; i <= 3; i++) await nodes.set(replica(i));

    const ready = await fetch(`${running.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).message).toContain('warming up');
    await sleep(Math.max(0, startedAt + 2_500 - Date.now()));
    expect(client.responses).toEqual([]); // held, not answered

    await client.waitFor((c) => c.endpointsOf('shard0-replicas').length === 3 && c.listeners.size === 2, 5_000, 'topology after warm-up');
    expect(client.responses[0]!.atMs - startedAt).toBeGreaterThanOrEqual(3_000);
    expect((await fetch(`${running.baseUrl}/readyz`)).status).toBe(200);
  });

  it('stops expiry when 60% of the nodes go silent at once, marks them preserved, and resumes when they return', async () => {
    const running = await start({ leaseSeconds: 1, selfPreservation: { maxExpiredFraction: 0.5 } });
    const nodes = pump(running);
    for (let i = 1; i <= 10; i++) await nodes.set(replica(i));
    const client = envoy(running);
    await client.waitFor((c) => c.endpointsOf('shard0-replicas').length === 10, 5_000, 'ten replicas');
    const responsesBefore = client.responses.length;

    for (let i = 1; i <= 6; i++) nodes.silence(`r${i}`);
    await sleep(2_500); // two and a half leases
    expect(client.endpointsOf('shard0-replicas')).toHaveLength(10);
    expect(client.responses.slice(responsesBefore).filter((r) => r.typeUrl.endsWith('ClusterLoadAssignment'))).toEqual([]);
    const view = await running.getJson('/clusters?shard=shard0');
    const replicas = view.clusters.find((c: any) => c.name === 'shard0-replicas').endpoints;
    expect(replicas.filter((e: any) => e.preserved).map((e: any) => e.id).sort()).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    expect(replicas.every((e: any) => e.routed)).toBe(true);

    // They come back: preservation ends. Then one node dying alone expires as usual.
    for (let i = 1; i <= 6; i++) await nodes.set(replica(i));
    await eventually(async () => {
      const again = await running.getJson('/clusters?shard=shard0');
      expect(again.clusters[1].endpoints.some((e: any) => e.preserved)).toBe(false);
    });
    nodes.silence('r1');
    await client.waitFor((c) => c.endpointsOf('shard0-replicas').length === 9, 3_000, 'r1 expired');
  });

  it('lets 10% of the nodes going silent expire as usual', async () => {
    const running = await start({ leaseSeconds: 1 });
    const nodes = pump(running);
    for (let i = 1; i <= 10; i++) await nodes.set(replica(i));
    const client = envoy(running);
    await client.waitFor((c) => c.endpointsOf('shard0-replicas').length === 10, 5_000, 'ten replicas');
    nodes.silence('r10');
    await client.waitFor((c) => c.endpointsOf('shard0-replicas').length === 9, 3_000, 'r10 expired');
  });

  it('expires preserved nodes at once when an operator resumes expiry', async () => {
    const running = await start({ leaseSeconds: 1 });
    const nodes = pump(running);
    for (let i = 1; i <= 4; i++) await nodes.set(replica(i));
    const client = envoy(running);
    await client.waitFor((c) => c.endpointsOf('shard0-replicas').length === 4, 5_000, 'four replicas');
    for (let i = 1; i <= 3; i++) nodes.silence(`r${i}`);
    await sleep(1_800);
    expect(client.endpointsOf('shard0-replicas')).toHaveLength(4);

    const resumed = await fetch(`${running.baseUrl}/v1/registry/resume-expiry`, { method: 'POST' });
    expect(await resumed.json()).toEqual({ resumed: true, wasPreserving: true });
    await client.waitFor((c) => c.endpointsOf('shard0-replicas').length === 1, 3_000, 'silent replicas expired');
    await sleep(1_200); // and it does not start preserving them again
    expect(client.endpointsOf('shard0-replicas')).toHaveLength(1);
  });

  it('routes only the highest epoch in a split brain, and ignores the deposed master heartbeating again', async () => {
    const running = await start({ leaseSeconds: 5 });
    const master = (epoch: number, n: number) => ({ id: `m${epoch}`, address: `10.0.1.${n}:9000`, database: 'default', shard: 'shard0', role: 'master', epoch });
    await running.heartbeat(master(4, 4));
    await running.heartbeat(master(5, 5));
    const client = envoy(running);
    await client.waitFor((c) => c.endpointsOf('shard0-masters').length === 1, 5_000, 'one master');
    expect(client.endpointsOf('shard0-masters')[0]!.address).toBe('10.0.1.5:9000');
    const version = running.shardvoy.cache.get('edge')!.version;
    const masters = (await running.getJson('/clusters?shard=shard0')).clusters[0].endpoints;
    expect(Object.fromEntries(masters.map((e: any) => [e.id, e.health]))).toEqual({ m4: 'fenced', m5: 'healthy' });

    await running.heartbeat(master(4, 4));
    // A barrier instead of a sleep: a change heartbeated after it must reach the client, and by
    // then the deposed master's heartbeat has been judged and published too, however slowly.
    await running.heartbeat(replica(9));
    await client.waitFor((c) => c.endpointsOf('shard0-replicas').length === 1, 5_000, 'the barrier replica');
    expect(running.shardvoy.cache.get('edge')!.version).not.toBe(version);
    expect(client.endpointsOf('shard0-masters').map((e) => e.address)).toEqual(['10.0.1.5:9000']);
  });

  it('refuses a new node beyond registry.maxNodes with 429, and still renews the known ones', async () => {
    const running = await start({ maxNodes: 2 });
    expect((await running.heartbeat(replica(1))).status).toBe(200);
    expect((await running.heartbeat(replica(2))).status).toBe(200);
    const refused = await running.heartbeat(replica(3));
    expect(refused.status).toBe(429);
    expect((await refused.json()).message).toContain('registry.maxNodes (2)');
    expect((await running.heartbeat(replica(1))).status).toBe(200);
    expect((await running.getJson('/v1/nodes')).nodes.map((n: any) => n.id)).toEqual(['r1', 'r2']);
  });
});
