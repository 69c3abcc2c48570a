/**
 * The per-type services (CDS, EDS, LDS, RDS streams and unary fetches) on the same port as ADS, for
 * clients configured with a non-aggregated API, and /v1/xds/clients showing what each stream holds.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateEncoded } from '../../src/envoy-api/pgv.js';
import { CLUSTER, ENDPOINT, messageNameOf } from '../../src/envoy-api/type-urls.js';
import { PER_TYPE_SERVICES, perTypeService } from '../../src/xds/service-definitions.js';
import { EnvoyLikeClient } from '../support/ads-client.js';
import { decodeToJson } from '../support/golden-json.js';
import { startTestShardvoy, type Running } from '../support/harness.js';

function serviceClient(running: Running, typeUrl: string): grpc.Client & Record<string, Function> {
  const spec = PER_TYPE_SERVICES.find((s) => s.typeUrl === typeUrl)!;
  const Client = grpc.makeClientConstructor(perTypeService(spec), spec.service);
  return new Client(running.grpcAddress, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
}

describe('per-type xDS services', () => {
  let running: Running;
  beforeAll(async () => {
    running = await startTestShardvoy({
      groups: [{ name: 'edge', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] }],
    });
    await running.heartbeat({ id: 'm', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master' });
    await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(() => running.stop());

  it('streams clusters on StreamClusters with the type implied, and ACKs are recorded', async () => {
    const client = serviceClient(running, CLUSTER);
    const call = client.StreamClusters!() as grpc.ClientDuplexStream<object, any>;
    const response = await new Promise<any>((resolve) => {
      call.once('data', resolve);
      call.write({ node: { id: 'edge' }, type_url: '', resource_names: [] });
    });
    expect(response.type_url).toBe(CLUSTER);
    const names = response.resources.map((r: any) => decodeToJson(messageNameOf(r.type_url), r.value).name);
    expect(names.sort()).toEqual(['shard0-masters', 'shard0-replicas']);
    for (const r of response.resources) expect(validateEncoded(messageNameOf(r.type_url), r.value)).toEqual([]);
    call.write({ type_url: CLUSTER, version_info: response.version_info, response_nonce: response.nonce, resource_names: [] });
    await new Promise((r) => setTimeout(r, 100));
    const { clients } = await running.getJson('/v1/xds/clients');
    const cds = clients.find((c: any) => c.types.cds)?.types.cds;
    expect(cds).toMatchObject({ subscribed: '*', lastSentVersion: response.version_info, lastAckedVersion: response.version_info });
    call.end();
    client.close();
  });

  it('answers FetchEndpoints for the named clusters only', async () => {
    const client = serviceClient(running, ENDPOINT);
    const response = await new Promise<any>((resolve, reject) =>
      client.FetchEndpoints!({ node: { id: 'edge' }, type_url: ENDPOINT, resource_names: ['shard0-masters'] }, (error: Error | null, value: any) => (error ? reject(error) : resolve(value))),
    );
    const decoded = response.resources.map((r: any) => decodeToJson(messageNameOf(r.type_url), r.value));
    expect(decoded.map((d: any) => d.cluster_name)).toEqual(['shard0-masters']);
    expect(decoded[0].endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: '10.0.0.1', port_value: 9000 });
    client.close();
  });

  it('shows each ADS stream in /v1/xds/clients with what was sent and ACKed per type', async () => {
    const envoy = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'edge' });
    await envoy.waitFor((c) => c.listeners.size === 2 && c.endpoints.size === 2, 5_000, 'topology');
    await new Promise((r) => setTimeout(r, 100)); // the last ACK is on its way
    const { clients } = await running.getJson('/v1/xds/clients');
    const mine = clients.find((c: any) => c.types.lds && c.types.eds);
    expect(mine).toMatchObject({ nodeId: 'edge', group: 'edge' });
    expect(mine.peer).toMatch(/127\.0\.0\.1:\d+/);
    expect(Date.parse(mine.connectedSince)).toBeLessThanOrEqual(Date.now());
    for (const type of ['cds', 'eds', 'lds']) {
      expect(mine.types[type].lastAckedVersion).toBe(mine.types[type].lastSentVersion);
      expect(mine.types[type].lastNack).toBeUndefined();
    }
    expect(mine.types.eds.subscribed).toEqual(['shard0-masters', 'shard0-replicas']);
    envoy.close();
  });
});
