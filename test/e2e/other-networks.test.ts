/**
 * Reaching each node from another network (contract section 6), with the seed's PrivateLink
 * layout: bootstrap 9091 to every broker, 6001-6003 one broker each, advertised as
 * kafka.test.com:600N. Brokers restart with new addresses and shardvoy restarts from its state
 * file in between; ports, listeners, clusters and advertised addresses must all hold. There is
 * no Envoy here, so the listener -> cluster -> endpoint chain is asserted for every broker.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { EnvoyLikeClient } from '../support/ads-client.js';
import { eventually, startTestShardvoy, type Running } from '../support/harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-networks-'));

function config(stateFile: string) {
  return {
    registry: { leaseSeconds: 5, stateFile },
    groups: [
      {
        name: 'privatelink',
        database: 'kafka',
        advertisedHost: 'kafka.test.com',
        bootstrapListener: '0.0.0.0:9091',
        nodeListeners: { listenHost: '0.0.0.0', ports: '6001-6003' },
      },
      { name: 'internal', database: 'kafka', shards: [{ name: 'brokers', listen: '0.0.0.0:10000', clusters: ['brokers-masters'] }] },
    ],
  };
}

const broker = (n: number, address = `10.0.0.${n}:9092`) => ({ id: `broker-${n}`, address, database: 'kafka', shard: 'brokers', role: 'master', dc: 'use1' });

/** listener -> tcp_proxy cluster -> endpoint addresses, for every listener the client holds. */
function chains(envoy: EnvoyLikeClient): Record<string, { port: number; cluster: string; endpoints: string[] }> {
  const result: Record<string, { port: number; cluster: string; endpoints: string[] }> = {};
  for (const [name, listener] of envoy.listeners) {
    const cluster = listener.filter_chains[0].filters[0].typed_config.cluster as string;
    expect(envoy.clusters.has(cluster), `listener ${name} routes to a cluster the client holds`).toBe(true);
    result[name] = { port: listener.address.socket_address.port_value, cluster, endpoints: envoy.endpointsOf(cluster).map((e) => e.address) };
  }
  return result;
}

describe('reaching each node from another network (PrivateLink layout)', () => {
  const running: Running[] = [];
  const clients: EnvoyLikeClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) {
      expect(client.violations).toEqual([]);
      client.close();
    }
    for (const r of running.splice(0)) await r.stop();
  });
  const start = async (stateFile: string) => {
    const r = await startTestShardvoy(config(stateFile));
    running.push(r);
    return r;
  };
  const connect = (r: Running, group: string) => {
    const client = new EnvoyLikeClient(r.grpcAddress, { nodeId: group });
    clients.push(client);
    return client;
  };

  it('gives each broker a port, a listener and a cluster of its own, a bootstrap listener to all, and advertises them', async () => {
    const shardvoy = await start(path.join(dir, 'first.json'));
    const answers = [];
    for (const n of [1, 2, 3]) answers.push(await (await shardvoy.heartbeat(broker(n))).json());
    expect(answers.map((a) => a.advertised)).toEqual([
      { privatelink: 'kafka.test.com:6001' },
      { privatelink: 'kafka.test.com:6002' },
      { privatelink: 'kafka.test.com:6003' },
    ]);

    const external = connect(shardvoy, 'privatelink');
    await external.waitFor((c) => c.listeners.size === 4 && c.endpointsOf('bootstrap').length === 3 && c.endpoints.size === 4, 5_000, 'external topology');
    expect(chains(external)).toEqual({
      bootstrap: { port: 9091, cluster: 'bootstrap', endpoints: ['10.0.0.1:9092', '10.0.0.2:9092', '10.0.0.3:9092'] },
      'node-broker-1': { port: 6001, cluster: 'node-broker-1', endpoints: ['10.0.0.1:9092'] },
      'node-broker-2': { port: 6002, cluster: 'node-broker-2', endpoints: ['10.0.0.2:9092'] },
      'node-broker-3': { port: 6003, cluster: 'node-broker-3', endpoints: ['10.0.0.3:9092'] },
    });

    // The internal group routes to the brokers' own addresses and gets no per-node listener.
    const internal = connect(shardvoy, 'internal');
    await internal.waitFor((c) => c.listeners.size === 1 && c.endpointsOf('brokers-masters').length === 3, 5_000, 'internal topology');
    expect([...internal.listeners.keys()]).toEqual(['brokers-masters']);
    expect([...internal.clusters.keys()]).toEqual(['brokers-masters']);

    expect(await shardvoy.getJson('/v1/advertised?group=privatelink')).toEqual({
      'broker-1': 'kafka.test.com:6001',
      'broker-2': 'kafka.test.com:6002',
      'broker-3': 'kafka.test.com:6003',
    });
    const view = await shardvoy.getJson('/clusters');
    const endpoints = view.clusters.find((c: any) => c.name === 'brokers-masters').endpoints;
    expect(endpoints.map((e: any) => e.advertised)).toEqual([
      { privatelink: 'kafka.test.com:6001' },
      { privatelink: 'kafka.test.com:6002' },
      { privatelink: 'kafka.test.com:6003' },
    ]);
  });

  it('keeps ports through broker restarts with new addresses and a shardvoy restart; a forgotten broker\'s port waits', async () => {
    const stateFile = path.join(dir, 'restart.json');
    const first = await start(stateFile);
    for (const n of [1, 2, 3]) await first.heartbeat(broker(n));
    // broker-2 restarts on another host.
    const moved = await (await first.heartbeat(broker(2, '10.0.9.2:9092'))).json();
    expect(moved.advertised).toEqual({ privatelink: 'kafka.test.com:6002' });
    await first.stop();
    running.splice(0);

    const second = await start(stateFile);
    const external = connect(second, 'privatelink');
    await external.waitFor((c) => c.listeners.size === 4 && c.endpoints.size === 4, 5_000, 'topology from the state file');
    expect(chains(external)['node-broker-2']).toEqual({ port: 6002, cluster: 'node-broker-2', endpoints: ['10.0.9.2:9092'] });

    // broker-3 is forgotten; a new broker arrives: the range is full until portReuseSeconds pass.
    expect((await fetch(`${second.baseUrl}/v1/nodes/broker-3`, { method: 'DELETE' })).status).toBe(200);
    const newcomer = await (await second.heartbeat(broker(4))).json();
    expect(newcomer.advertised).toEqual({});
    await eventually(async () => {
      const view = await second.getJson('/clusters');
      const b4 = view.clusters.find((c: any) => c.name === 'brokers-masters').endpoints.find((e: any) => e.id === 'broker-4');
      expect(b4.advertised).toEqual({ privatelink: null });
    });
    await external.waitFor((c) => !c.listeners.has('node-broker-3') && c.endpointsOf('bootstrap').length === 3, 5_000, 'broker-3 gone, broker-4 in bootstrap');
    expect(external.listeners.has('node-broker-4')).toBe(false);
  });

  it('ships deploy/privatelink.yaml and deploy/agent-groups.yaml as loadable configurations', () => {
    const privatelink = loadConfigFile('deploy/privatelink.yaml');
    expect(privatelink.groups[0]).toMatchObject({ advertisedHost: 'kafka.test.com', bootstrapListener: { port: 9091 }, nodeListeners: { frontEnds: [{ firstPort: 6001, lastPort: 6003 }] } });
    const agents = loadConfigFile('deploy/agent-groups.yaml');
    expect(agents.groups.map((g) => [g.name, g.nodeListeners?.frontEnds.map((f) => f.advertisedHost) ?? []])).toEqual([
      ['internal', []],
      ['vpc', ['agents.vpc.internal']],
      ['internet', ['lb-1.example.com', 'lb-2.example.com']],
    ]);
  });
});
