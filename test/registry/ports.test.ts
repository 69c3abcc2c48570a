/** Stable per-node ports: allocation order, stickiness, reuse only after portReuseSeconds, exhaustion, front ends. */
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import type { PortPool } from '../../src/registry/ports.js';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

const PRIVATELINK: PortPool = { group: 'external', database: 'default', frontEnds: [{ advertisedHost: 'kafka.test.com', firstPort: 6001, lastPort: 6003 }] };
const DAY_MS = 86_400_000;

describe('per-node port allocation', () => {
  let clock: FakeClock;
  let registry: MemoryRegistry;
  const make = (pools: PortPool[] = [PRIVATELINK]) => new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, portReuseSeconds: 86_400, portPools: pools, clock });
  const port = (id: string, r = registry) => r.ports.portOf('external', id)?.port;
  const broker = (id: string, address = `10.0.0.${id.slice(-1)}:9092`) => heartbeat({ id, address, role: 'master' });

  beforeEach(() => {
    clock = new FakeClock();
    registry = make();
  });

  it('gives nodes the lowest free port in the order they are first seen', () => {
    for (const id of ['broker-3', 'broker-1', 'broker-2']) {
      expect(registry.record(broker(id)).routingChanged).toBe(true);
      clock.advance(10);
    }
    expect([port('broker-3'), port('broker-1'), port('broker-2')]).toEqual([6001, 6002, 6003]);
    expect(registry.ports.portOf('external', 'broker-1')?.advertisedHost).toBe('kafka.test.com');
  });

  it('keeps a node\'s port across its restarts and address changes', () => {
    registry.record(broker('broker-1'));
    registry.record(broker('broker-2'));
    clock.advance(60_000); // broker-1 restarts elsewhere after its lease ran out
    registry.record(broker('broker-1', '10.9.9.9:9092'));
    expect(port('broker-1')).toBe(6001);
    expect(registry.get('broker-1')?.address).toBe('10.9.9.9:9092');
  });

  it('keeps every port across a restart of shardvoy from its saved state', () => {
    for (const id of ['broker-1', 'broker-2', 'broker-3']) registry.record(broker(id));
    const restarted = make();
    restarted.restore(JSON.parse(JSON.stringify(registry.state())));
    expect(['broker-1', 'broker-2', 'broker-3'].map((id) => port(id, restarted))).toEqual([6001, 6002, 6003]);
    restarted.record(heartbeat({ id: 'broker-4', address: '10.0.0.4:9092' }));
    expect(port('broker-4', restarted)).toBeUndefined(); // the range is full: nothing was reshuffled
  });

  it('drops, and names, saved ports outside the group\'s range or held twice, and gives those nodes fresh ports', () => {
    const saved = (nodeId: string, port: number, group = 'external') => ({ group, nodeId, port, advertisedHost: 'old.example.com', releasedAtMs: undefined });
    const restarted = make();
    const dropped = restarted.restore({
      nodes: ['broker-1', 'broker-2', 'broker-3', 'broker-4'].map((id) => ({ ...broker(id), firstSeenMs: 0 })),
      ports: [saved('broker-1', 7000), saved('broker-2', 6002), saved('broker-3', 6002), saved('broker-4', 6001, 'gone'), saved('broker-2', 6003)],
    });
    expect(dropped).toEqual([
      { entry: 'port of node "broker-1" in group "external"', reason: 'port 7000 is outside the node-listener ranges of group external (6001..6003)' },
      { entry: 'port of node "broker-3" in group "external"', reason: 'port 6002 is held by node "broker-2"' },
      { entry: 'port of node "broker-4" in group "gone"', reason: 'group gone has no node listeners' },
      { entry: 'port of node "broker-2" in group "external"', reason: 'the node already holds port 6002 here' },
    ]);
    expect(['broker-1', 'broker-2', 'broker-3', 'broker-4'].map((id) => port(id, restarted))).toEqual([6001, 6002, 6003, undefined]);
  });

  it('holds a forgotten node\'s port for portReuseSeconds, then gives it to a new node', () => {
    for (const id of ['broker-1', 'broker-2', 'broker-3']) registry.record(broker(id));
    registry.forget('broker-2');
    clock.advance(DAY_MS - 1);
    const early = registry.record(heartbeat({ id: 'broker-4', address: '10.0.0.4:9092' }));
    expect(early.portsExhausted).toEqual(['external']);
    expect(port('broker-4')).toBeUndefined();
    clock.advance(1);
    expect(registry.record(heartbeat({ id: 'broker-4', address: '10.0.0.4:9092' })).routingChanged).toBe(true);
    expect(port('broker-4')).toBe(6002);
  });

  it('gives a forgotten node its own port back if it returns within the reuse period', () => {
    registry.record(broker('broker-1'));
    registry.record(broker('broker-2'));
    registry.forget('broker-1');
    clock.advance(3_600_000);
    registry.record(heartbeat({ id: 'broker-3', address: '10.0.0.3:9092' }));
    registry.record(broker('broker-1'));
    expect([port('broker-1'), port('broker-2'), port('broker-3')]).toEqual([6001, 6002, 6003]);
  });

  it('releases the ports of nodes swept after their retention like forgotten ones', () => {
    registry.record(broker('broker-1'));
    clock.advance(10_000 + 300_000 + 1);
    expect(registry.sweep()).toEqual(['broker-1']);
    expect(port('broker-1')).toBeUndefined();
    expect(registry.state().ports).toEqual([expect.objectContaining({ nodeId: 'broker-1', port: 6001, releasedAtMs: clock.now() })]);
  });

  it('leaves a node without a port when the range is full, and says so', () => {
    for (const id of ['broker-1', 'broker-2', 'broker-3']) registry.record(broker(id));
    const outcome = registry.record(heartbeat({ id: 'broker-4', address: '10.0.0.4:9092' }));
    expect(outcome.portsExhausted).toEqual(['external']);
    expect(port('broker-4')).toBeUndefined();
  });

  it('fills several front ends in order, each advertising its own host', () => {
    registry = make([
      {
        group: 'external',
        database: 'default',
        frontEnds: [
          { advertisedHost: 'lb-1.example.com', firstPort: 6001, lastPort: 6002 },
          { advertisedHost: 'lb-2.example.com', firstPort: 7001, lastPort: 7002 },
        ],
      },
    ]);
    for (let i = 1; i <= 5; i++) registry.record(heartbeat({ id: `n${i}`, address: `10.0.0.${i}:9092` }));
    const seen = [1, 2, 3, 4, 5].map((i) => registry.ports.portOf('external', `n${i}`));
    expect(seen.map((a) => a && `${a.advertisedHost}:${a.port}`)).toEqual([
      'lb-1.example.com:6001',
      'lb-1.example.com:6002',
      'lb-2.example.com:7001',
      'lb-2.example.com:7002',
      undefined,
    ]);
  });

  it('gives no port to nodes of another database', () => {
    registry.record(heartbeat({ id: 'orders-1', database: 'orders' }));
    expect(port('orders-1')).toBeUndefined();
    expect(registry.ports.all()).toEqual([]);
  });
});
