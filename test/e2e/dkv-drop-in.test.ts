/**
 * shardvoy replacing dkvoy with no change on DKV's side: DKV nodes register over gRPC with DKV's
 * wire format, the seed's dkvoy config is taken as is, and Envoy gets dkvoy's shape (one HTTP/2
 * listener per shard routed by :authority) without dkvoy's bugs; a second shardvoy follows the
 * first through multi:/// with a dead address first in the list.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvoyLikeClient } from '../support/ads-client.js';
import { dkvClient } from '../support/dkv-client.js';
import { eventually, startTestShardvoy, type Running } from '../support/harness.js';

const SEED = JSON.parse(readFileSync('test/config/fixtures/dkvoy-seed.json', 'utf8')) as Record<string, unknown>;
const region = (address: string, status: string, dc: string, vBucket = 'shard0') => ({
  regionInfo: { dcID: dc, nodeAddress: address, database: 'default', vBucket, status, httpAddress: '' },
  timestamp: String(Date.now()),
});

describe('DKV drop-in', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  async function start(config: Record<string, unknown>, pollIntervalSeconds?: number): Promise<Running> {
    const running = await startTestShardvoy(config, pollIntervalSeconds === undefined ? {} : { registry: { pollIntervalSeconds } });
    cleanups.push(() => running.stop());
    return running;
  }
  function envoy(running: Running, group: string): EnvoyLikeClient {
    const client = new EnvoyLikeClient(running.grpcAddress, { nodeId: group });
    cleanups.push(() => {
      expect(client.violations).toEqual([]);
      client.close();
    });
    return client;
  }

  it("gives the seed's local-group an HTTP/2 listener on 10000 routed by :authority, with retries and health checks", async () => {
    // The seed's config, as is, with shard0-slaves added so both virtual hosts appear.
    const running = await start({ ...SEED, discoveryServerAddr: 'local', 'shard0.clusters': ['shard0-masters', 'shard0-slaves'] });
    const dkv = dkvClient(running.grpcAddress);
    cleanups.push(() => dkv.close());
    expect(await dkv.updateStatus(region('10.0.0.1:8080', 'LEADER', 'in-hyderabad-1'))).toEqual({ code: 0, message: '' });
    expect(await dkv.updateStatus(region('10.0.0.2:8080', 'ACTIVE_SLAVE', 'in-hyderabad-1'))).toEqual({ code: 0, message: '' });
    expect(await dkv.updateStatus(region('10.0.1.2:8080', 'ACTIVE_SLAVE', 'in-chennai-1'))).toEqual({ code: 0, message: '' });

    const client = envoy(running, 'local-group');
    await client.waitFor((c) => c.listeners.size === 1 && c.endpointsOf('shard0-slaves').length === 2, 5_000, 'seed topology');
    const listener = client.listeners.get('shard0')!;
    expect(listener.address.socket_address).toEqual({ address: '0.0.0.0', port_value: 10000 });
    const hcm = listener.filter_chains[0].filters[0].typed_config;
    expect(hcm['@type']).toBe('type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
    expect(hcm.codec_type).toBe('AUTO');
    expect(hcm.route_config.virtual_hosts.map((v: any) => [v.domains, v.routes[0].route.cluster])).toEqual([
      [['shard0-masters'], 'shard0-masters'],
      [['shard0-slaves'], 'shard0-slaves'],
    ]);
    const route = hcm.route_config.virtual_hosts[0].routes[0];
    expect(route.match).toEqual({ prefix: '/' });
    expect(route.route.timeout).toBe('60s');
    expect(route.route.retry_policy.retry_on).toBe('connect-failure,refused-stream,unavailable');
    for (const cluster of client.clusters.values()) {
      expect(cluster.health_checks).toEqual([{ timeout: '1s', interval: '5s', interval_jitter: '1s', unhealthy_threshold: 3, healthy_threshold: 2, tcp_health_check: {} }]);
      expect(cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config).toEqual({ http2_protocol_options: {} });
    }
    expect(client.clusters.get('shard0-masters')!.connect_timeout).toBe('10s');
    expect(client.endpointsOf('shard0-masters')).toEqual([{ address: '10.0.0.1:8080', priority: 0, zone: 'in-hyderabad-1', health: 'HEALTHY' }]);
    expect(client.endpointsOf('shard0-slaves').map((e) => [e.address, e.priority])).toEqual([
      ['10.0.0.2:8080', 0],
      ['10.0.1.2:8080', 1],
    ]);

    // INACTIVE leaves routing at once.
    await dkv.updateStatus(region('10.0.0.2:8080', 'INACTIVE', 'in-hyderabad-1'));
    await client.waitFor((c) => c.endpointsOf('shard0-slaves').length === 1, 3_000, 'inactive slave removed');
  });

  it('still sends the listener and the masters cluster of a shard whose replicas cluster is empty', async () => {
    const running = await start({ ...SEED, discoveryServerAddr: 'local', 'shard0.clusters': ['shard0-masters', 'shard0-slaves'] });
    const dkv = dkvClient(running.grpcAddress);
    cleanups.push(() => dkv.close());
    await dkv.updateStatus(region('10.0.0.1:8080', 'LEADER', 'in-hyderabad-1'));
    const client = envoy(running, 'local-group');
    await client.waitFor((c) => c.listeners.size === 1 && c.endpoints.size === 2 && c.endpointsOf('shard0-masters').length === 1, 5_000, 'listener and clusters');
    expect(client.endpointsOf('shard0-slaves')).toEqual([]);
    expect([...client.clusters.keys()].sort()).toEqual(['shard0-masters', 'shard0-slaves']);
  });

  it('follows another shardvoy through multi:/// past a dead address, and keeps its view when that one stops', async () => {
    const first = await start({ groups: [{ name: 'local-group', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] }] });
    await first.heartbeat({ id: 'm', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master', dc: 'in-hyderabad-1', epoch: 2 });
    await first.heartbeat({ id: 'old', address: '10.0.0.9:9000', database: 'default', shard: 'shard0', role: 'master', dc: 'in-hyderabad-1', epoch: 1 });
    await first.heartbeat({ id: 'r', address: '10.0.0.2:9000', database: 'default', shard: 'shard0', role: 'replica', dc: 'in-chennai-1' });

    // 127.0.0.1:1 refuses connections: the follower must go down the list to the first instance.
    const second = await start({
      ...SEED,
      discoveryServerAddr: `multi:///127.0.0.1:1,${first.grpcAddress}`,
      'shard0.clusters': ['shard0-masters', 'shard0-slaves'],
    }, 0.3);
    const client = envoy(second, 'local-group');
    await client.waitFor((c) => c.endpointsOf('shard0-masters').length === 1 && c.endpointsOf('shard0-slaves').length === 1, 8_000, "the first instance's nodes");
    expect(client.endpointsOf('shard0-masters')[0]!.address).toBe('10.0.0.1:9000'); // the fenced master is not followed
    expect(client.endpointsOf('shard0-slaves')[0]).toMatchObject({ address: '10.0.0.2:9000', priority: 1 });

    const refused = await second.heartbeat({ id: 'x', address: '10.0.0.7:9000', database: 'default', shard: 'shard0', role: 'replica' });
    expect(refused.status).toBe(409);
    expect((await refused.json()).message).toContain(`follows the discovery servers 127.0.0.1:1, ${first.grpcAddress}`);

    const responses = client.responses.length;
    await first.stop();
    await new Promise((r) => setTimeout(r, 1_000)); // three failed polls
    expect(client.responses.length).toBe(responses);
    await eventually(async () => {
      const nodes = (await second.getJson('/v1/nodes')).nodes.map((n: any) => n.id);
      expect(nodes.sort()).toEqual(['10.0.0.1:9000', '10.0.0.2:9000']);
    });
    expect(client.endpointsOf('shard0-masters')).toHaveLength(1);
  });
});
