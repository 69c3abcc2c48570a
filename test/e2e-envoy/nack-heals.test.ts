/**
 * A real NACK, and how it heals (contract 12): one shard's port is already taken on Envoy's host,
 * so Envoy rejects the listener update. shardvoy shows the rejection with Envoy's own message
 * (GET /v1/xds/clients and CSDS), the other shards keep routing, and shardvoy retries the same
 * version with backoff rather than in a loop. Once the port is free, Envoy takes the listener
 * with no registry change.
 */
import * as grpc from '@grpc/grpc-js';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LISTENER } from '../../src/envoy-api/type-urls.js';
import { clientStatusService } from '../../src/xds/service-definitions.js';
import { startGroupEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { freePortRun } from '../support/free-ports.js';
import { eventually, HeartbeatPump } from '../support/harness.js';
import { startIdNode, whoAnswers, type IdNode } from '../support/id-nodes.js';
import { startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { printFigure } from '../support/traffic.js';

const CsdsClient = grpc.makeClientConstructor(clientStatusService(), 'ClientStatusDiscoveryService');

describe('a listener Envoy cannot bind is rejected, shown, retried with backoff, and heals', () => {
  let shardvoy: ShardvoyProcess;
  let envoy: EnvoyProcess;
  let pump: HeartbeatPump;
  let squatter: net.Server;
  let shard0Port: number;
  let shard1Port: number;
  const nodes: IdNode[] = [];

  beforeAll(async () => {
    shard0Port = await freePortRun(2);
    shard1Port = await freePortRun(2);
    // Something else on Envoy's host holds shard1's masters port.
    squatter = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(shard1Port, '127.0.0.1', resolve));
    shardvoy = await startShardvoyProcess({
      config: {
        registry: { leaseSeconds: 5, warmupSeconds: 0 },
        groups: [
          {
            name: 'edge',
            database: 'default',
            shards: [
              { name: 'shard0', listen: `127.0.0.1:${shard0Port}`, clusters: ['shard0-masters', 'shard0-replicas'] },
              { name: 'shard1', listen: `127.0.0.1:${shard1Port}`, clusters: ['shard1-masters', 'shard1-replicas'] },
            ],
          },
        ],
      },
    });
    pump = new HeartbeatPump(shardvoy, 1_000);
    for (const shard of ['shard0', 'shard1']) {
      const node = await startIdNode(`${shard}-master`);
      nodes.push(node);
      await pump.set({ id: node.id, address: `127.0.0.1:${node.port}`, database: 'default', shard, role: 'master' });
    }
    envoy = await startGroupEnvoy(shardvoy, 'edge');
  });

  afterAll(async () => {
    pump?.stop();
    await envoy?.stop();
    await shardvoy?.stop();
    for (const node of nodes) await node.close();
    await new Promise((resolve) => squatter?.close(resolve));
  });

  it("is NACKed by Envoy; shardvoy and CSDS show Envoy's message; the other shards route; no resend loop; it heals", async () => {
    const lds = async () => (await shardvoy.xdsClients()).find((c) => c.group === 'edge')?.types.lds;
    const nack = await eventually(async () => {
      const status = await lds();
      expect(status?.lastNack?.message).toMatch(/shard1-masters/);
      return status.lastNack;
    }, 10_000);
    expect(nack.message).toMatch(/[Aa]ddress already in use/);
    expect(await envoy.admin.stat('listener_manager.lds.update_rejected')).toBeGreaterThanOrEqual(1);

    // CSDS says the same, for an operator's tooling.
    const csds = new CsdsClient(shardvoy.grpcAddress, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    try {
      const response = await new Promise<any>((resolve, reject) => csds.FetchClientStatus!({}, (error: Error | null, value: any) => (error ? reject(error) : resolve(value))));
      const edge = response.config.find((c: any) => c.node.id === 'edge');
      const rejected = edge.generic_xds_configs.filter((g: any) => g.type_url === LISTENER && g.config_status === 4 /* ERROR */);
      expect(rejected.length).toBeGreaterThan(0);
      expect(rejected[0].error_state.details).toMatch(/shard1-masters/);
    } finally {
      csds.close();
    }

    // The shards whose ports were free route all the same.
    await eventually(async () => expect(await whoAnswers(shard0Port)).toBe('shard0-master'), 5_000);

    // Meanwhile shardvoy resends that version with backoff (1 s, 2 s, 4 s ...), never in a loop:
    // Envoy's own count of LDS updates it received.
    const attemptsBefore = await envoy.admin.stat('listener_manager.lds.update_attempt');
    const watchMs = 6_000;
    await new Promise((resolve) => setTimeout(resolve, watchMs));
    const resent = (await envoy.admin.stat('listener_manager.lds.update_attempt')) - attemptsBefore;
    expect(resent).toBeGreaterThanOrEqual(1);
    expect(resent).toBeLessThanOrEqual(4);
    // ...and says so.
    expect((await lds())?.nackRetries).toBeGreaterThanOrEqual(resent);

    // The host is fixed: the port is freed; no heartbeat or config changes.
    await new Promise((resolve) => squatter.close(resolve));
    const freedAt = Date.now();
    await eventually(async () => expect((await envoy.admin.listeners()).get('shard1-masters')).toBe(`127.0.0.1:${shard1Port}`), 20_000, 100);
    const healedMs = Date.now() - freedAt;
    expect(await whoAnswers(shard1Port)).toBe('shard1-master');
    await eventually(async () => expect((await lds())?.configStatus).toBe('SYNCED'), 5_000);
    printFigure('nack-heal', { ldsResponsesWhileRejected: resent, overMs: watchMs, healedAfterPortFreedMs: healedMs });
  });
});
