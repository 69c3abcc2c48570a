/**
 * The whole pipeline, scripted as Envoy talks (ACK, then EDS for the clusters it got), on the two
 * paths where Envoy was left holding warming clusters: a node joining a group with nodeListeners
 * (its listener must wait for its cluster's endpoints), and a client reconnecting after the
 * clusters changed while it was away, from a restart or a hot reload (the clusters it is sent
 * must be followed by endpoints, though it states the EDS version it holds).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { CLUSTER, ENDPOINT, LISTENER } from '../../src/envoy-api/type-urls.js';
import { startTestShardvoy, type Running } from '../support/harness.js';
import { RawDeltaStream, RawSotwStream, type DeltaResponse, type SotwResponse } from '../support/raw-xds.js';

const PRIVATELINK = {
  groups: [{ name: 'privatelink', database: 'kafka', advertisedHost: 'kafka.test.com', bootstrapListener: '0.0.0.0:9091', nodeListeners: { listenHost: '0.0.0.0', ports: '6001-6003' } }],
};
const broker = (n: number) => ({ id: `broker-${n}`, address: `10.0.0.${n}:9092`, database: 'kafka', shard: 'brokers', role: 'master' });

const edge = (stateFile: string, connectTimeout = '5s') => ({
  registry: { stateFile },
  groups: [{ name: 'edge', shards: [{ name: 'shard0', listen: '127.0.0.1:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] }],
  clusters: { 'shard0-masters': { connectTimeout } },
});
const EDGE_CLUSTERS = ['shard0-masters', 'shard0-replicas'];

describe('listeners wait for the endpoints of their clusters', () => {
  const running: Running[] = [];
  const streams: Array<RawSotwStream | RawDeltaStream> = [];
  afterEach(async () => {
    for (const stream of streams.splice(0)) {
      expect(stream.violations).toEqual([]);
      stream.close();
    }
    for (const r of running.splice(0)) await r.stop();
  });
  const start = async (config: Record<string, unknown>) => {
    const r = await startTestShardvoy(config);
    running.push(r);
    return r;
  };
  /** Heartbeats, then publishes at once rather than after the debounce, so the script sees one snapshot per step. */
  const beat = async (r: Running, body: Record<string, unknown>) => {
    expect((await r.heartbeat(body)).status).toBe(200);
    r.shardvoy.watcher.rebuild();
  };
  const track = <S extends RawSotwStream | RawDeltaStream>(stream: S): S => {
    streams.push(stream);
    return stream;
  };

  /** Connects as Envoy does and ACKs everything: CDS, then EDS for what it got, then LDS. */
  async function syncedSotw(address: string, node: string) {
    const stream = track(new RawSotwStream(address));
    stream.request({ type_url: CLUSTER, node: { id: node } });
    const cds = await stream.next();
    stream.ack(cds);
    stream.request({ type_url: ENDPOINT, resource_names: cds.names });
    const eds = await stream.next();
    stream.ack(eds, cds.names);
    stream.request({ type_url: LISTENER });
    const lds = await stream.next();
    stream.ack(lds);
    await stream.expectNothing(100);
    return { stream, cds, eds, lds };
  }

  async function syncedDelta(address: string, node: string) {
    const stream = track(new RawDeltaStream(address));
    stream.request({ type_url: CLUSTER, node: { id: node } });
    const cds = await stream.next();
    stream.ack(cds);
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: cds.names });
    const eds = await stream.next();
    stream.ack(eds);
    stream.request({ type_url: LISTENER });
    const lds = await stream.next();
    stream.ack(lds);
    await stream.expectNothing(100);
    return { stream, cds, eds, lds };
  }

  it('SotW: a node joining a nodeListeners group gets its listener after its cluster is ACKed and its endpoints sent', async () => {
    const r = await start(PRIVATELINK);
    await beat(r, broker(1));
    const { stream } = await syncedSotw(r.grpcAddress, 'privatelink');

    await beat(r, broker(2));
    const cds: SotwResponse = await stream.next();
    expect([cds.type_url, cds.names.includes('node-broker-2')]).toEqual([CLUSTER, true]);
    const fresh = await stream.next();
    expect([fresh.type_url, fresh.names.sort()]).toEqual([ENDPOINT, ['bootstrap', 'node-broker-1']]);
    await stream.expectNothing(200); // not the listener: node-broker-2 is warming
    // As Envoy does after processing the clusters: ACK them, then ask for the endpoints of all.
    stream.ack(cds);
    stream.ack(fresh, cds.names);
    const endpoints = await stream.next();
    expect([endpoints.type_url, endpoints.names.includes('node-broker-2')]).toEqual([ENDPOINT, true]);
    const listeners = await stream.next();
    expect([listeners.type_url, listeners.names.includes('node-broker-2')]).toEqual([LISTENER, true]);
  });

  it('delta: a node joining a nodeListeners group gets its listener after its cluster is ACKed and its endpoints sent', async () => {
    const r = await start(PRIVATELINK);
    await beat(r, broker(1));
    const { stream } = await syncedDelta(r.grpcAddress, 'privatelink');

    await beat(r, broker(2));
    const cds: DeltaResponse = await stream.next();
    expect([cds.type_url, cds.names]).toEqual([CLUSTER, ['node-broker-2']]);
    const bootstrap = await stream.next();
    expect([bootstrap.type_url, bootstrap.names]).toEqual([ENDPOINT, ['bootstrap']]);
    await stream.expectNothing(200);
    stream.ack(cds);
    stream.request({ type_url: ENDPOINT, resource_names_subscribe: ['node-broker-2'] });
    stream.ack(bootstrap);
    const endpoints = await stream.next();
    expect([endpoints.type_url, endpoints.names]).toEqual([ENDPOINT, ['node-broker-2']]);
    const listeners = await stream.next();
    expect([listeners.type_url, listeners.names]).toEqual([LISTENER, ['node-broker-2']]);
  });

  for (const how of ['restart from the state file', 'hot reload'] as const) {
    it(`SotW: after a ${how} that changed a connect timeout, a client reconnecting with its versions is sent clusters, then endpoints`, async () => {
      const stateFile = path.join(mkdtempSync(path.join(tmpdir(), 'shardvoy-warming-')), 'state.json');
      const first = await start(edge(stateFile));
      await beat(first, { id: 'm', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master' });
      const held = await syncedSotw(first.grpcAddress, 'edge');
      held.stream.close();
      const server = how === 'hot reload' ? first : await start(edge(stateFile, '2s'));
      if (how === 'hot reload') first.shardvoy.reload(parseConfig(edge(stateFile, '2s')));
      else await first.stop();
      server.shardvoy.watcher.rebuild();

      const again = track(new RawSotwStream(server.grpcAddress));
      again.request({ type_url: CLUSTER, node: { id: 'edge' }, version_info: held.cds.version_info });
      again.request({ type_url: LISTENER, version_info: held.lds.version_info });
      const cds = await again.next();
      expect(cds.type_url).toBe(CLUSTER);
      again.ack(cds);
      again.request({ type_url: ENDPOINT, resource_names: EDGE_CLUSTERS, version_info: held.eds.version_info });
      const eds = await again.next();
      expect([eds.type_url, eds.names.sort()]).toEqual([ENDPOINT, EDGE_CLUSTERS]);
      again.ack(eds, EDGE_CLUSTERS);
    });

    it(`delta: after a ${how} that changed a connect timeout, a client reconnecting with its versions is sent the cluster, then its endpoints`, async () => {
      const stateFile = path.join(mkdtempSync(path.join(tmpdir(), 'shardvoy-warming-')), 'state.json');
      const first = await start(edge(stateFile));
      await beat(first, { id: 'm', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master' });
      const held = await syncedDelta(first.grpcAddress, 'edge');
      held.stream.close();
      const server = how === 'hot reload' ? first : await start(edge(stateFile, '2s'));
      if (how === 'hot reload') first.shardvoy.reload(parseConfig(edge(stateFile, '2s')));
      else await first.stop();
      server.shardvoy.watcher.rebuild();

      const again = track(new RawDeltaStream(server.grpcAddress));
      again.request({ type_url: CLUSTER, node: { id: 'edge' }, initial_resource_versions: held.cds.versions });
      again.request({ type_url: LISTENER, initial_resource_versions: held.lds.versions });
      const cds = await again.next();
      expect([cds.type_url, cds.names]).toEqual([CLUSTER, ['shard0-masters']]);
      again.ack(cds);
      again.request({ type_url: ENDPOINT, resource_names_subscribe: EDGE_CLUSTERS, initial_resource_versions: held.eds.versions });
      const eds = await again.next();
      expect([eds.type_url, eds.names]).toEqual([ENDPOINT, ['shard0-masters']]);
      again.ack(eds);
    });
  }
});
