/**
 * Reaching each node from another network (contract section 6), for real: the client runs in a
 * network namespace that reaches only the address Envoy's listeners bind, never the nodes' own.
 * Through the bootstrap port it reaches some node; through each node's advertised port exactly
 * that node; a node that moves keeps its port; a new node gets the next one and Envoy listens on
 * it, with nothing reconfigured.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvoyInSync } from '../support/envoy-checks.js';
import { startGroupEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { freePortRun } from '../support/free-ports.js';
import { eventually, HeartbeatPump } from '../support/harness.js';
import { startIdNode, type IdNode } from '../support/id-nodes.js';
import { createOtherNetwork, type OtherNetwork } from '../support/netns.js';
import { startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';

describe('a client in another network reaches every node through Envoy', () => {
  let network: OtherNetwork;
  let shardvoy: ShardvoyProcess;
  let envoy: EnvoyProcess;
  let pump: HeartbeatPump;
  let bootstrapPort: number;
  let firstNodePort: number;
  const nodes = new Map<string, IdNode>();

  const beat = async (id: string) => {
    const body = { id, address: `127.0.0.1:${nodes.get(id)!.port}`, database: 'kafka', shard: 'brokers', role: 'master' };
    await pump.set(body);
    const answer = await (await shardvoy.heartbeat(body)).json();
    return answer.advertised.external as string;
  };
  const advertised = async (): Promise<Record<string, string>> => shardvoy.getJson('/v1/advertised?group=external');
  const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

  beforeAll(async () => {
    network = await createOtherNetwork();
    bootstrapPort = await freePortRun(1);
    firstNodePort = await freePortRun(10);
    shardvoy = await startShardvoyProcess({
      config: {
        registry: { leaseSeconds: 3, warmupSeconds: 0 },
        groups: [
          {
            name: 'external',
            database: 'kafka',
            advertisedHost: network.hostAddress,
            bootstrapListener: `${network.hostAddress}:${bootstrapPort}`,
            nodeListeners: { listenHost: network.hostAddress, ports: `${firstNodePort}-${firstNodePort + 9}` },
          },
        ],
      },
    });
    pump = new HeartbeatPump(shardvoy, 500);
    for (const id of ['broker-1', 'broker-2', 'broker-3']) nodes.set(id, await startIdNode(id));
    for (const id of nodes.keys()) await beat(id);
    envoy = await startGroupEnvoy(shardvoy, 'external');
    await eventually(async () => expect((await envoy.admin.listeners()).size).toBe(4), 10_000);
    await expectEnvoyInSync(envoy, shardvoy, 'external');
  });

  afterAll(async () => {
    pump?.stop();
    await envoy?.stop();
    await shardvoy?.stop();
    for (const node of nodes.values()) await node.close();
    await network?.remove();
  });

  it("cannot reach the nodes' own addresses from there", async () => {
    for (const node of nodes.values()) {
      await expect(network.client.ask('127.0.0.1', node.port)).rejects.toThrow(/ECONNREFUSED/);
      await expect(network.client.ask(network.hostAddress, node.port)).rejects.toThrow(/ECONNREFUSED/);
    }
  });

  it('reaches some node through the bootstrap port, and each node through its own advertised port', async () => {
    const ids = [...nodes.keys()];
    for (let i = 0; i < 6; i++) expect(ids).toContain(await network.client.ask(network.hostAddress, bootstrapPort));
    const ports = await advertised();
    expect(Object.keys(ports).sort()).toEqual(ids);
    for (const [id, address] of Object.entries(ports)) {
      expect(address.startsWith(`${network.hostAddress}:`)).toBe(true);
      for (let i = 0; i < 3; i++) expect(await network.client.ask(network.hostAddress, portOf(address))).toBe(id);
    }
    // Ports are handed out lowest first.
    expect(Object.values(ports).map(portOf).sort()).toEqual([firstNodePort, firstNodePort + 1, firstNodePort + 2]);
    // And Envoy itself says where it listens: one listener per node on its port, and the bootstrap.
    const listeners = await envoy.admin.listeners();
    expect(listeners.get('bootstrap')).toBe(`${network.hostAddress}:${bootstrapPort}`);
    for (const [id, address] of Object.entries(ports)) expect(listeners.get(`node-${id}`)).toBe(address);
  });

  it('a node that changes its address keeps its port, and the client follows it', async () => {
    const before = (await advertised())['broker-2']!;
    await nodes.get('broker-2')!.close();
    nodes.set('broker-2', await startIdNode('broker-2'));
    expect(await beat('broker-2')).toBe(before);
    await eventually(async () => expect(await network.client.ask(network.hostAddress, portOf(before))).toBe('broker-2'), 5_000);
    await expectEnvoyInSync(envoy, shardvoy, 'external');
  });

  it('a new node gets the next port, and Envoy listens on it with nothing reconfigured', async () => {
    nodes.set('broker-4', await startIdNode('broker-4'));
    const address = await beat('broker-4');
    expect(address).toBe(`${network.hostAddress}:${firstNodePort + 3}`);
    await eventually(async () => expect((await envoy.admin.listeners()).get('node-broker-4')).toBe(address), 5_000);
    expect(await network.client.ask(network.hostAddress, portOf(address))).toBe('broker-4');
    await expectEnvoyInSync(envoy, shardvoy, 'external');
  });
});
