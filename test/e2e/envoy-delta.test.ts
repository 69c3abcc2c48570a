/** The whole pipeline over delta ADS: heartbeats in, per-resource updates out, failover included. */
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLUSTER, ENDPOINT, LISTENER } from '../../src/envoy-api/type-urls.js';
import { PER_TYPE_SERVICES, perTypeService } from '../../src/xds/service-definitions.js';
import { HeartbeatPump, startTestShardvoy, type Running } from '../support/harness.js';
import { RawDeltaStream } from '../support/raw-xds.js';

describe('heartbeats to Envoy over delta ADS', () => {
  let running: Running;
  let pump: HeartbeatPump;
  let stream: RawDeltaStream | undefined;

  beforeEach(async () => {
    running = await startTestShardvoy({
      registry: { leaseSeconds: 1 },
      groups: [{ name: 'edge', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] }],
    });
    pump = new HeartbeatPump(running, 200);
    await pump.set({ id: 'm', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master', epoch: 1 });
    await pump.set({ id: 'r', address: '10.0.0.2:9000', database: 'default', shard: 'shard0', role: 'replica' });
    await new Promise((r) => setTimeout(r, 50));
  });
  afterEach(async () => {
    expect(stream?.violations ?? []).toEqual([]);
    stream?.close();
    pump.stop();
    await running.stop();
  });

  it('sends clusters, endpoints and listeners, then only the load assignments and the masters listener that a failover changes', async () => {
    stream = new RawDeltaStream(running.grpcAddress);
    stream.request({ type_url: CLUSTER, node: { id: 'edge' } });
    const cds = await stream.next();
    expect(cds.names.sort()).toEqual(['shard0-masters', 'shard0-replicas']);
    stream.ack(cds);
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: cds.names });
    const eds = await stream.next();
    expect(eds.names.sort()).toEqual(['shard0-masters', 'shard0-replicas']);
    stream.ack(eds);
    stream.request({ type_url: LISTENER });
    const lds = await stream.next();
    expect(lds.names.sort()).toEqual(['shard0-masters', 'shard0-replicas']);
    stream.ack(lds);

    await pump.set({ id: 'r', address: '10.0.0.2:9000', database: 'default', shard: 'shard0', role: 'master', epoch: 2 });
    const failover = await stream.next();
    expect([failover.type_url, failover.names.sort(), failover.removed]).toEqual([ENDPOINT, ['shard0-masters', 'shard0-replicas'], []]);
    expect(failover.versions['shard0-masters']).not.toBe(eds.versions['shard0-masters']);
    stream.ack(failover);
    // Contract 11: the masters listener's filter chain is renamed, so Envoy closes the connections to the deposed master.
    const renamed = await stream.next();
    expect([renamed.type_url, renamed.names, renamed.removed]).toEqual([LISTENER, ['shard0-masters'], []]);
    expect(renamed.versions['shard0-masters']).not.toBe(lds.versions['shard0-masters']);
    stream.ack(renamed);
    await stream.expectNothing(300);
  });

  it('serves the per-type delta services (DeltaClusters)', async () => {
    const spec = PER_TYPE_SERVICES.find((s) => s.typeUrl === CLUSTER)!;
    const Client = grpc.makeClientConstructor(perTypeService(spec), spec.service);
    const client = new Client(running.grpcAddress, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    const call = client.DeltaClusters!() as grpc.ClientDuplexStream<object, any>;
    call.on('error', () => undefined); // the cancel below ends it with CANCELLED
    const response = await new Promise<any>((resolve) => {
      call.once('data', resolve);
      call.write({ node: { id: 'edge' }, type_url: '', resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {} });
    });
    expect(response.type_url).toBe(CLUSTER);
    expect(response.resources.map((r: any) => r.name).sort()).toEqual(['shard0-masters', 'shard0-replicas']);
    call.cancel();
    client.close();
  });
});
