/**
 * Contract 15 events: each routing change gives exactly one event, read back through
 * GET /v1/events?since=, in the order they happened.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { EventLog } from '../../src/observers/event-log.js';
import { startObservers } from '../../src/observers/observers.js';
import { XdsEvents } from '../../src/observers/xds-events.js';
import { CLUSTER, LISTENER } from '../../src/envoy-api/type-urls.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { portPools } from '../../src/registry/ports.js';
import { ExpiryGuard } from '../../src/registry/self-preservation.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { Watcher } from '../../src/watcher/watcher.js';
import { buildTestApp, type TestApp } from '../support/app.js';
import { FakeClock } from '../support/fake-clock.js';

const master = (id: string, epoch: number, extra: Record<string, unknown> = {}) => ({
  id,
  address: `10.0.0.${epoch + 1}:9000`,
  database: 'default',
  shard: 'shard0',
  role: 'master',
  epoch,
  ...extra,
});

describe('events', () => {
  let t: TestApp;
  let seen = 0;
  const post = (payload: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/v1/heartbeat', payload });
  /** The events since the last call, as `reason regarding`. */
  const next = async () => {
    t.watcher.rebuild();
    const body = (await t.app.inject(`/v1/events?since=${seen}`)).json();
    seen = body.latestId;
    return body.events.map((e: any) => `${e.reason} ${e.regarding.kind}/${e.regarding.name}`);
  };

  afterEach(async () => {
    t.watcher.stop();
    await t.app.close();
    seen = 0;
  });

  it('registered, master changed, fenced, expired, forgotten: one event each', async () => {
    t = await buildTestApp();
    expect(await next()).toEqual([]);
    await post(master('a', 1));
    expect(await next()).toEqual(['NodeRegistered Node/a', 'MasterChanged Shard/default/shard0']);
    await post({ id: 'r', address: '10.0.1.1:9000', database: 'default', shard: 'shard0', role: 'replica' });
    expect(await next()).toEqual(['NodeRegistered Node/r']);
    await post(master('b', 2));
    // Node by node in id order, then the shard's own.
    expect(await next()).toEqual(['NodeFenced Node/a', 'NodeRegistered Node/b', 'MasterChanged Shard/default/shard0']);
    // A renewal changes nothing: no event.
    await post(master('b', 2));
    expect(await next()).toEqual([]);

    const events = (await t.app.inject('/v1/events')).json().events;
    const fenced = events.find((e: any) => e.reason === 'NodeFenced');
    expect(fenced).toMatchObject({ type: 'Warning', regarding: { kind: 'Node', name: 'a' } });
    expect(fenced.message).toContain('higher epoch');
    expect(events.find((e: any) => e.reason === 'MasterChanged' && e.id > fenced.id).message).toBe(
      'shard default/shard0 master: b (epoch 2) (was a (epoch 1))',
    );
    expect(events.map((e: any) => e.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Date(events[0].time).getTime()).toBe(t.clock.now());

    // b and r heartbeat on; a falls silent and expires.
    t.clock.advance(6_000);
    await post(master('b', 2));
    await post({ id: 'r', address: '10.0.1.1:9000', database: 'default', shard: 'shard0', role: 'replica' });
    t.clock.advance(5_000);
    expect(await next()).toEqual(['NodeExpired Node/a']);
    // b falls silent: the shard loses its master.
    t.clock.advance(11_000);
    expect(await next()).toEqual(['NodeExpired Node/b', 'NodeExpired Node/r', 'MasterChanged Shard/default/shard0']);
    const lost = (await t.app.inject(`/v1/events?since=${seen - 1}`)).json().events[0];
    expect(lost).toMatchObject({ type: 'Warning', message: 'shard default/shard0 has no routable master (was b (epoch 2))' });

    expect((await t.app.inject({ method: 'DELETE', url: '/v1/nodes/a' })).statusCode).toBe(200);
    expect(await next()).toEqual(['NodeForgotten Node/a']);
    // Back after expiring: registered again.
    await post(master('b', 2));
    expect(await next()).toEqual(['NodeRegistered Node/b', 'MasterChanged Shard/default/shard0']);
  });

  it('a node that moves to another shard is registered there, not forgotten', async () => {
    t = await buildTestApp();
    await post(master('a', 1));
    await next();
    await post(master('a', 1, { shard: 'shard1' }));
    expect((await next()).sort()).toEqual(['MasterChanged Shard/default/shard0', 'MasterChanged Shard/default/shard1', 'NodeRegistered Node/a']);
  });

  it('port assigned: once per node and group with node listeners', async () => {
    t = await buildTestApp({
      groups: [
        {
          name: 'external',
          advertisedHost: 'kafka.test.com',
          shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }],
          nodeListeners: { listenHost: '0.0.0.0', ports: '6001-6002' },
        },
      ],
    });
    expect(await next()).toEqual([]);
    await post(master('a', 1));
    expect(await next()).toEqual(['NodeRegistered Node/a', 'PortAssigned Node/a', 'MasterChanged Shard/default/shard0']);
    const port = (await t.app.inject('/v1/events')).json().events.find((e: any) => e.reason === 'PortAssigned');
    expect(port).toMatchObject({ type: 'Normal', message: 'node a holds port 6001 in group external' });
    await post(master('a', 1, { address: '10.0.0.99:9000' }));
    expect(await next()).toEqual([]);
  });

  it('maintenance on and off: one event each, DRAINING in /clusters meanwhile, and refused without the admin token', async () => {
    t = await buildTestApp({
      auth: { adminToken: 'admin-secret' },
      groups: [{ name: 'local-group', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] }],
    });
    const admin = { authorization: 'Bearer admin-secret' };
    await post(master('a', 1));
    await next();
    const refused = await t.app.inject({ method: 'PUT', url: '/v1/nodes/a/maintenance', payload: { reason: 'disk swap' } });
    expect(refused.statusCode).toBe(401);
    const put = await t.app.inject({ method: 'PUT', url: '/v1/nodes/a/maintenance', headers: admin, payload: { reason: 'disk swap' } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ id: 'a', maintenance: { reason: 'disk swap', since: new Date(t.clock.now()).toISOString() } });
    expect(await next()).toEqual(['MaintenanceStarted Node/a']);
    const endpoint = (await t.app.inject('/clusters')).json().clusters[0].endpoints[0];
    expect(endpoint).toMatchObject({ id: 'a', status: 'active', health: 'draining', routed: true, maintenance: { reason: 'disk swap' } });
    // Heartbeats saying active change nothing while it lasts.
    await post(master('a', 1));
    expect(await next()).toEqual([]);
    expect((await t.app.inject('/v1/nodes/a')).json().maintenance).toMatchObject({ reason: 'disk swap' });
    const del = await t.app.inject({ method: 'DELETE', url: '/v1/nodes/a/maintenance', headers: admin });
    expect(del.json()).toEqual({ id: 'a', maintenance: null, wasInMaintenance: true });
    expect(await next()).toEqual(['MaintenanceEnded Node/a']);
    expect((await t.app.inject('/clusters')).json().clusters[0].endpoints[0]).toMatchObject({ health: 'healthy', maintenance: null });
    expect((await t.app.inject({ method: 'PUT', url: '/v1/nodes/nope/maintenance', headers: admin, payload: {} })).statusCode).toBe(404);
    const bad = await t.app.inject({ method: 'PUT', url: '/v1/nodes/a/maintenance', headers: admin, payload: { reason: 'x', colour: 'red' } });
    expect(bad.statusCode).toBe(400);
    expect(await next()).toEqual([]);
  });

  it('self-preservation on and off: one event each', async () => {
    const config = parseConfig({ groups: [{ name: 'g', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }] }] }, 'test');
    const clock = new FakeClock();
    const logger = pino({ level: 'silent' });
    const registry = new MemoryRegistry({ ...config.registry, portPools: portPools(config), clock });
    const expiryGuard = new ExpiryGuard(config.registry.selfPreservation, config.registry.leaseSeconds * 1000, logger);
    const watcher = new Watcher({ config, registry, cache: new SnapshotCache(), clock, logger, expiryGuard });
    const observers = startObservers({ config: () => config, registry, watcher, clock, xdsClients: () => [], defaultMetrics: false });
    const beat = (id: string) =>
      registry.record({ id, address: `10.0.0.${id.length}:9000`, host: `10.0.0.${id.length}`, port: 9000, database: 'default', shard: 'shard0', role: 'replica', status: 'active', dc: undefined, epoch: 0, labels: {} });
    const ids = ['a', 'bb', 'ccc', 'dddd'];
    ids.forEach(beat);
    watcher.rebuild();
    clock.advance(10_001);
    watcher.rebuild();
    const reasons = () => observers.events.since(0).map((e) => e.reason);
    expect(reasons()).toEqual(['SelfPreservationEngaged']);
    expect(await observers.metrics.text()).toMatch(/^shardvoy_self_preservation_engaged 1$/m);
    expect(observers.events.since(0)[0]).toMatchObject({ type: 'Warning', regarding: { kind: 'Registry', name: 'expiry' } });
    ids.forEach(beat);
    watcher.rebuild();
    expect(reasons()).toEqual(['SelfPreservationEngaged', 'SelfPreservationEnded']);
    expect(await observers.metrics.text()).toMatch(/^shardvoy_self_preservation_engaged 0$/m);
    watcher.stop();
  });
});

describe('NACK events', () => {
  const reply = { streamId: 7, protocol: 'sotw', group: 'g', nodeId: 'envoy-1', typeUrl: LISTENER, version: 'v2' } as const;

  it('one ConfigRejected per NACK, one ConfigRecovered at the next ACK of that type, nothing for other ACKs', () => {
    const clock = new FakeClock();
    const log = new EventLog(clock);
    const xds = new XdsEvents(log);
    xds.acked({ ...reply, typeUrl: CLUSTER });
    xds.nacked({ ...reply, message: 'cannot bind 0.0.0.0:10000: Address already in use' });
    xds.acked({ ...reply, typeUrl: CLUSTER });
    xds.acked({ ...reply, version: 'v3' });
    xds.acked({ ...reply, version: 'v4' });
    expect(log.since(0)).toEqual([
      {
        id: 1,
        time: new Date(clock.now()).toISOString(),
        type: 'Warning',
        reason: 'ConfigRejected',
        regarding: { kind: 'XdsClient', name: 'envoy-1' },
        message: 'xDS client envoy-1 of group g (stream 7) rejected lds version v2: cannot bind 0.0.0.0:10000: Address already in use',
      },
      {
        id: 2,
        time: new Date(clock.now()).toISOString(),
        type: 'Normal',
        reason: 'ConfigRecovered',
        regarding: { kind: 'XdsClient', name: 'envoy-1' },
        message: 'xDS client envoy-1 of group g (stream 7) accepted lds version v3 after rejecting an earlier one',
      },
    ]);
  });
});

describe('event ring', () => {
  it('keeps the last events.retain, resumes after any id it still holds, and counts ids on', () => {
    const log = new EventLog(new FakeClock(), 3);
    for (let i = 1; i <= 5; i++) log.append({ type: 'Normal', reason: 'NodeRegistered', regarding: { kind: 'Node', name: `n${i}` }, message: '' });
    expect(log.since(0).map((e) => e.id)).toEqual([3, 4, 5]);
    expect(log.since(3).map((e) => e.id)).toEqual([4, 5]);
    expect(log.since(5)).toEqual([]);
    expect(log.since(99)).toEqual([]);
    log.reconfigure(2);
    expect(log.since(0).map((e) => e.id)).toEqual([4, 5]);
    log.append({ type: 'Normal', reason: 'NodeRegistered', regarding: { kind: 'Node', name: 'n6' }, message: '' });
    expect(log.since(0).map((e) => e.id)).toEqual([5, 6]);
    expect(log.latestId).toBe(6);
  });
});
