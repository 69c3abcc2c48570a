/**
 * Through a real xDS stream: every response names the instance (control_plane.identifier), and
 * the responses, NACKs and convergence a client causes show in /metrics and /v1/events.
 */
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { CLUSTER, LISTENER } from '../../src/envoy-api/type-urls.js';
import { EnvoyLikeClient } from '../support/ads-client.js';
import { dkvClient } from '../support/dkv-client.js';
import { eventually, startTestShardvoy, type Running } from '../support/harness.js';
import { RawSotwStream } from '../support/raw-xds.js';
import { metricSample } from '../support/metrics.js';

const GROUPS = [{ name: 'local-group', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] }];

/** Every control_plane.identifier the client's stream received. */
function identifiers(client: EnvoyLikeClient): string[] {
  const seen: string[] = [];
  (client as unknown as { call: NodeJS.EventEmitter }).call.on('data', (response: { control_plane?: { identifier?: string } }) => {
    seen.push(response.control_plane?.identifier ?? '(none)');
  });
  return seen;
}

describe('xDS observers', () => {
  let running: Running | undefined;
  let client: EnvoyLikeClient | undefined;
  afterEach(async () => {
    client?.close();
    await running?.stop();
    running = undefined;
    client = undefined;
  });

  it('names the instance as <host name>:<gRPC port> by default, or as xds.controlPlaneId says', async () => {
    running = await startTestShardvoy({ groups: GROUPS });
    client = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'local-group' });
    const seen = identifiers(client);
    await client.waitFor((c) => c.responses.some((r) => r.typeUrl === LISTENER), 5_000, 'listeners');
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set([`${hostname()}:${running.shardvoy.grpc.port}`]));
    client.close();
    await running.stop();

    running = await startTestShardvoy({ groups: GROUPS, xds: { controlPlaneId: 'shardvoy-eu-1' } });
    client = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'local-group' });
    const named = identifiers(client);
    await client.waitFor((c) => c.responses.some((r) => r.typeUrl === LISTENER), 5_000, 'listeners');
    expect(new Set(named)).toEqual(new Set(['shardvoy-eu-1']));
  });

  it('counts responses and NACKs by type, streams by protocol and group, the change-to-ACK time; NACK and recovery are events', async () => {
    running = await startTestShardvoy({ groups: GROUPS });
    let rejectListeners = true;
    client = new EnvoyLikeClient(running.grpcAddress, {
      nodeId: 'envoy-1',
      nodeCluster: 'local-group',
      rejectIf: (r) => (r.typeUrl === LISTENER && rejectListeners ? 'cannot bind 0.0.0.0:10000: Address already in use' : undefined),
    });
    await client.waitFor((c) => c.responses.some((r) => r.typeUrl === LISTENER), 5_000, 'a listener response');
    await new Promise((r) => setTimeout(r, 100));
    let text = await (await fetch(`${running.baseUrl}/metrics`)).text();
    expect(metricSample(text, 'shardvoy_xds_streams{protocol="sotw",group="local-group"}')).toBe(1);
    expect(metricSample(text, 'shardvoy_xds_nacks_received_total{type="lds"}')).toBe(1);
    expect(metricSample(text, 'shardvoy_xds_responses_sent_total{type="cds"}')).toBe(1);
    expect(metricSample(text, 'shardvoy_xds_responses_sent_total{type="lds"}')).toBe(1);
    // Default process and event-loop metrics.
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    let events = (await running.getJson('/v1/events')).events;
    expect(events.map((e: any) => e.reason)).toEqual(['ConfigRejected']);
    expect(events[0].message).toContain('Address already in use');

    // A change: the client accepts the new listeners, and its EDS ACK measures the change.
    rejectListeners = false;
    const before = client.responses.length;
    expect((await running.heartbeat({ id: 'a', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master' })).status).toBe(200);
    await client.waitFor((c) => c.responses.length > before && c.endpointsOf('shard0-masters').length === 1, 5_000, 'the new endpoint');
    await new Promise((r) => setTimeout(r, 200));
    text = await (await fetch(`${running.baseUrl}/metrics`)).text();
    expect(metricSample(text, 'shardvoy_config_change_to_ack_seconds_count{type="eds"}')).toBe(1);
    expect(metricSample(text, 'shardvoy_config_change_to_ack_seconds_sum{type="eds"}')).toBeLessThan(5);
    expect(metricSample(text, 'shardvoy_heartbeats_received_total{source="http",outcome="accepted"}')).toBe(1);
    events = (await running.getJson('/v1/events?since=1')).events;
    // The masters listener is named after its masters (contract 11): new listeners, accepted this time.
    expect(events.map((e: any) => e.reason)).toEqual(['NodeRegistered', 'MasterChanged', 'ConfigRecovered']);
  });
});

describe('a client that leaves a response unanswered', () => {
  it('shows in shardvoy_xds_reply_wait_seconds of its group and type, growing until it ACKs', async () => {
    const running = await startTestShardvoy({ groups: GROUPS });
    const stream = new RawSotwStream(running.grpcAddress);
    try {
      const wait = async (type: string) => metricSample(await (await fetch(`${running.baseUrl}/metrics`)).text(), `shardvoy_xds_reply_wait_seconds{group="local-group",type="${type}"}`);
      expect(await wait('cds')).toBe(0);
      stream.request({ type_url: CLUSTER, node: { id: 'local-group' } });
      const cds = await stream.next();
      await new Promise((r) => setTimeout(r, 300));
      const waited = await wait('cds');
      expect(waited).toBeGreaterThanOrEqual(0.25);
      expect(waited).toBeLessThan(30);
      await new Promise((r) => setTimeout(r, 200));
      expect(await wait('cds')).toBeGreaterThan(waited!);
      expect(await wait('eds')).toBe(0);
      stream.ack(cds);
      await eventually(async () => expect(await wait('cds')).toBe(0));
    } finally {
      stream.close();
      await running.stop();
    }
  });
});

describe('agent heartbeats', () => {
  it('are counted as source="agent"', async () => {
    const { postHeartbeat } = await import('../../src/agent/heartbeat-client.js');
    const running = await startTestShardvoy({ groups: GROUPS });
    try {
      const outcome = await postHeartbeat(new URL(`${running.baseUrl}/v1/heartbeat`), { address: '10.0.0.7:9000', database: 'default', shard: 'shard0', role: 'replica' }, undefined, 5_000);
      expect(outcome.kind).toBe('answered');
      const text = await (await fetch(`${running.baseUrl}/metrics`)).text();
      expect(metricSample(text, 'shardvoy_heartbeats_received_total{source="agent",outcome="accepted"}')).toBe(1);
      expect(metricSample(text, 'shardvoy_heartbeats_received_total{source="http",outcome="accepted"}')).toBeUndefined();
    } finally {
      await running.stop();
    }
  });
});

describe('DKV heartbeats', () => {
  it('are counted as source="dkv", accepted or invalid', async () => {
    const running = await startTestShardvoy({ groups: GROUPS });
    const dkv = dkvClient(running.grpcAddress);
    try {
      const ok = await dkv.updateStatus({ regionInfo: { dcID: 'dc1', nodeAddress: '10.0.0.8:8080', database: 'default', vBucket: 'shard0', status: 'LEADER' }, timestamp: 1 });
      expect(ok.code).toBe(0);
      const bad = await dkv.updateStatus({ regionInfo: { dcID: 'dc1', nodeAddress: 'nowhere', database: 'default', vBucket: 'shard0', status: 'LEADER' }, timestamp: 1 });
      expect(bad.code).toBe(-1);
      const text = await (await fetch(`${running.baseUrl}/metrics`)).text();
      expect(metricSample(text, 'shardvoy_heartbeats_received_total{source="dkv",outcome="accepted"}')).toBe(1);
      expect(metricSample(text, 'shardvoy_heartbeats_received_total{source="dkv",outcome="invalid"}')).toBe(1);
    } finally {
      dkv.close();
      await running.stop();
    }
  });
});
