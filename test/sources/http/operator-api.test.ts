/** The operator's endpoints: /clusters (JSON, text, filters), /v1/nodes, DELETE, health. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../support/app.js';

describe('operator API', () => {
  let t: TestApp;
  const post = (payload: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/v1/heartbeat', payload });

  beforeAll(async () => {
    t = await buildTestApp();
    t.watcher.start();
    await post({ id: 'm', address: '10.0.0.1:9000', database: 'default', shard: 'shard0', role: 'master', dc: 'dc1', epoch: 2 });
    await post({ id: 'old', address: '10.0.0.9:9000', database: 'default', shard: 'shard0', role: 'master', dc: 'dc1', epoch: 1 });
    await post({ id: 'r', address: '10.0.0.2:9000', database: 'default', shard: 'shard0', role: 'replica', status: 'draining' });
    await post({ id: 'o', address: '10.0.9.1:9000', database: 'orders', shard: 'shard7', role: 'replica' });
    t.clock.advance(1_500);
    t.watcher.rebuild();
  });
  afterAll(() => {
    t.watcher.stop();
    return t.app.close();
  });

  it('lists every configured cluster and every (database, shard, role) seen, with each node\'s verdict', async () => {
    const body = (await t.app.inject('/clusters')).json();
    expect(body.version).toBe(t.watcher.routingView().version);
    expect(body.clusters.map((c: any) => `${c.database}/${c.name}`)).toEqual(['default/shard0-masters', 'default/shard0-replicas', 'orders/shard7-replicas']);
    const [masters, replicas] = body.clusters;
    expect(masters).toMatchObject({ database: 'default', shard: 'shard0', role: 'master' });
    expect(masters.endpoints).toEqual([
      { id: 'm', address: '10.0.0.1:9000', dc: 'dc1', status: 'active', epoch: 2, health: 'healthy', routed: true, preserved: false, advertised: {}, lastHeartbeatAgeMs: 1_500, maintenance: null },
      { id: 'old', address: '10.0.0.9:9000', dc: 'dc1', status: 'active', epoch: 1, health: 'fenced', routed: false, preserved: false, advertised: {}, lastHeartbeatAgeMs: 1_500, maintenance: null },
    ]);
    expect(replicas.endpoints[0]).toMatchObject({ id: 'r', dc: null, health: 'draining', routed: true });
  });

  it('marks a healthy node known only by a DNS name as not routed', async () => {
    await post({ id: 'dns', address: 'replica-9.shard0.internal:9000', database: 'default', shard: 'shard0', role: 'replica' });
    t.watcher.rebuild();
    const replicas = (await t.app.inject('/clusters?shard=shard0')).json().clusters[1];
    expect(replicas.endpoints.find((e: any) => e.id === 'dns')).toMatchObject({ health: 'healthy', routed: false });
    t.registry.forget('dns');
    t.watcher.rebuild();
  });

  it('filters by database, shard and group, and refuses an unknown group or filter', async () => {
    const byDb = (await t.app.inject('/clusters?database=orders')).json();
    expect(byDb.clusters.map((c: any) => c.name)).toEqual(['shard7-replicas']);
    const byGroup = (await t.app.inject('/clusters?group=local-group&shard=shard0')).json();
    expect(byGroup.clusters.map((c: any) => c.name)).toEqual(['shard0-masters', 'shard0-replicas']);
    const unknown = await t.app.inject('/clusters?group=nope');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().message).toContain('querystring.group');
    const badFilter = await t.app.inject('/clusters?colour=red');
    expect(badFilter.statusCode).toBe(400);
    expect(badFilter.json().message).toContain('querystring.colour: unknown field');
  });

  it('renders the same view as an aligned text table', async () => {
    const response = await t.app.inject('/clusters?format=text');
    expect(response.headers['content-type']).toContain('text/plain');
    const lines = response.body.trimEnd().split('\n');
    expect(lines[0]).toBe(`version ${t.watcher.routingView().version}`);
    expect(lines[1]).toMatch(/^CLUSTER\s+DATABASE\s+SHARD\s+ROLE\s+ID\s+ADDRESS\s+DC\s+STATUS\s+EPOCH\s+HEALTH\s+AGE_MS$/);
    const fenced = lines.find((l) => l.includes(' old '))!;
    expect(fenced.split(/\s+/)).toEqual(['shard0-masters', 'default', 'shard0', 'master', 'old', '10.0.0.9:9000', 'dc1', 'active', '1', 'fenced', '1500']);
    // Aligned: every column starts at the same offset on every row.
    const column = lines[1]!.indexOf('HEALTH');
    expect(fenced.slice(column, column + 6)).toBe('fenced');
  });

  it('shows the registry as stored and forgets a node on DELETE', async () => {
    const nodes = (await t.app.inject('/v1/nodes')).json().nodes;
    expect(nodes.map((n: any) => n.id)).toEqual(['m', 'o', 'old', 'r']);
    const one = (await t.app.inject('/v1/nodes/m')).json();
    expect(one).toMatchObject({ id: 'm', address: '10.0.0.1:9000', role: 'master', epoch: 2, labels: {} });
    expect(new Date(one.lastHeartbeat).getTime()).toBe(t.clock.now() - 1_500);

    const missing = await t.app.inject('/v1/nodes/nope');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().message).toBe('id: no node "nope"');

    const deleted = await t.app.inject({ method: 'DELETE', url: '/v1/nodes/old' });
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json().forgotten.id).toBe('old');
    expect(t.registry.get('old')).toBeUndefined();
    expect((await t.app.inject({ method: 'DELETE', url: '/v1/nodes/old' })).statusCode).toBe(404);
  });

  it('answers health and readiness, and 404s unknown endpoints in the error shape', async () => {
    expect((await t.app.inject('/healthz')).statusCode).toBe(200);
    expect((await t.app.inject('/readyz')).statusCode).toBe(200);
    const missing = await t.app.inject('/v2/everything');
    expect(missing.statusCode).toBe(404);
    expect(Object.keys(missing.json()).sort()).toEqual(['error', 'message', 'statusCode']);
  });
});
