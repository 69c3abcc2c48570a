/** GET /metrics: each metric of contract 15, read after the event it counts. */
import { afterEach, describe, expect, it } from 'vitest';
import { CLUSTER, ENDPOINT } from '../../src/envoy-api/type-urls.js';
import { buildTestApp, type TestApp } from '../support/app.js';

/** The value of one sample in Prometheus text, e.g. `shardvoy_nodes{health="fenced"}`. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('metrics', () => {
  let t: TestApp;
  const post = (payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url: '/v1/heartbeat', payload, headers });
  const scrape = async () => {
    t.watcher.rebuild();
    const response = await t.app.inject('/metrics');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain; version=0.0.4');
    return response.body;
  };

  afterEach(async () => {
    t.watcher.stop();
    await t.app.close();
  });

  it('heartbeats by source and outcome; nodes by health; shards without master; fenced masters; no node label', async () => {
    t = await buildTestApp();
    let text = await scrape();
    expect(sample(text, 'shardvoy_shards_without_master')).toBe(1);
    expect(sample(text, 'shardvoy_nodes{health="healthy"}')).toBe(0);
    expect(sample(text, 'shardvoy_self_preservation_engaged')).toBe(0);

    await post({ id: 'a', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master', epoch: 1 });
    text = await scrape();
    expect(sample(text, 'shardvoy_heartbeats_received_total{source="http",outcome="accepted"}')).toBe(1);
    expect(sample(text, 'shardvoy_nodes{health="healthy"}')).toBe(1);
    expect(sample(text, 'shardvoy_shards_without_master')).toBe(0);

    await post({ id: 'b', address: '10.0.0.2:9000', database: 'default', shard: 'shard0', role: 'master', epoch: 2 }, { 'user-agent': 'shardvoy-agent/0.1.0' });
    await post({ id: 'bad', address: 'nowhere', database: 'default', shard: 'shard0', role: 'master' });
    text = await scrape();
    expect(sample(text, 'shardvoy_heartbeats_received_total{source="agent",outcome="accepted"}')).toBe(1);
    expect(sample(text, 'shardvoy_heartbeats_received_total{source="http",outcome="invalid"}')).toBe(1);
    expect(sample(text, 'shardvoy_fenced_masters')).toBe(1);
    expect(sample(text, 'shardvoy_nodes{health="fenced"}')).toBe(1);

    // Both masters fall silent: the shard has none.
    t.clock.advance(11_000);
    text = await scrape();
    expect(sample(text, 'shardvoy_nodes{health="expired"}')).toBe(2);
    expect(sample(text, 'shardvoy_shards_without_master')).toBe(1);

    // Default process and event-loop metrics would be here in a real server (off in this test app).
    expect(text).not.toMatch(/node="|id="/);
    expect(text).toContain('# TYPE shardvoy_heartbeats_received_total counter');
    expect(text).toContain('# TYPE shardvoy_nodes gauge');
  });

  it('snapshot build time: one observation per rebuild', async () => {
    t = await buildTestApp();
    t.watcher.rebuild();
    const before = sample(await scrape(), 'shardvoy_snapshot_build_seconds_count')!;
    t.watcher.rebuild();
    t.watcher.rebuild();
    // scrape() rebuilds once more.
    expect(sample(await scrape(), 'shardvoy_snapshot_build_seconds_count')).toBe(before + 3);
    expect(await scrape()).toContain('# TYPE shardvoy_snapshot_build_seconds histogram');
  });

  it('responses, NACKs and config change to ACK, by type, from the xDS replies', async () => {
    t = await buildTestApp();
    const metrics = t.observers.metrics;
    t.watcher.start();
    // A client connected before the change: its ACK measures the change.
    const reply = { streamId: 1, protocol: 'sotw', group: 'local-group', nodeId: 'envoy-1' } as const;
    metrics.responseSent({ ...reply, typeUrl: CLUSTER, version: 'c0' });
    t.clock.advance(1_000);
    await post({ id: 'a', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master' });
    t.watcher.rebuild();
    const eds = ENDPOINT;
    metrics.responseSent({ ...reply, typeUrl: eds, version: 'e1' });
    t.clock.advance(40);
    metrics.acked({ ...reply, typeUrl: eds, version: 'e1' });
    // The same change resent (a NACK retry, a warming answer) is not measured twice.
    metrics.responseSent({ ...reply, typeUrl: eds, version: 'e1' });
    metrics.acked({ ...reply, typeUrl: eds, version: 'e1' });
    metrics.nacked({ ...reply, typeUrl: CLUSTER, version: 'c0', message: 'no' });
    // A client that connects after the change is not counted: it measures its connection, not convergence.
    metrics.responseSent({ ...reply, streamId: 2, typeUrl: eds, version: 'e1' });
    metrics.acked({ ...reply, streamId: 2, typeUrl: eds, version: 'e1' });

    const text = await scrape();
    expect(sample(text, 'shardvoy_xds_responses_sent_total{type="eds"}')).toBe(3);
    expect(sample(text, 'shardvoy_xds_responses_sent_total{type="cds"}')).toBe(1);
    expect(sample(text, 'shardvoy_xds_responses_sent_total{type="lds"}')).toBe(0);
    expect(sample(text, 'shardvoy_xds_nacks_received_total{type="cds"}')).toBe(1);
    expect(sample(text, 'shardvoy_config_change_to_ack_seconds_count{type="eds"}')).toBe(1);
    expect(sample(text, 'shardvoy_config_change_to_ack_seconds_sum{type="eds"}')).toBeCloseTo(0.04, 5);
    expect(sample(text, 'shardvoy_config_change_to_ack_seconds_bucket{le="0.025",type="eds"}')).toBe(0);
    expect(sample(text, 'shardvoy_config_change_to_ack_seconds_bucket{le="0.05",type="eds"}')).toBe(1);
    expect(text).toContain('shardvoy_config_change_to_ack_seconds_bucket{le="0.005",type="eds"}');
    expect(text).toContain('shardvoy_config_change_to_ack_seconds_bucket{le="30",type="eds"}');
  });

  it('xDS streams by protocol and group', async () => {
    t = await buildTestApp();
    const text = await scrape();
    expect(sample(text, 'shardvoy_xds_streams{protocol="sotw",group="local-group"}')).toBe(0);
    expect(sample(text, 'shardvoy_xds_streams{protocol="delta",group="local-group"}')).toBe(0);
  });

  it('is guarded by auth.readToken', async () => {
    t = await buildTestApp({
      auth: { readToken: 'reader' },
      groups: [{ name: 'g', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }] }],
    });
    expect((await t.app.inject('/metrics')).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/metrics', headers: { authorization: 'Bearer reader' } })).statusCode).toBe(200);
    expect((await t.app.inject('/v1/events')).statusCode).toBe(401);
  });
});
