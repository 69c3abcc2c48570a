/**
 * registry.maxNodes counts the nodes that hold a place: live ones, and expired ones that
 * self-preservation keeps routable. When a new node needs room, expired nodes are forgotten
 * first, oldest expiry first, as DELETE would; their ports are held for portReuseSeconds still.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { RegistryFullError } from '../../src/registry/registry.js';
import { ExpiryGuard } from '../../src/registry/self-preservation.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { Watcher } from '../../src/watcher/watcher.js';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

const LEASE_MS = 10_000;
const pools = [{ group: 'external', database: 'default', frontEnds: [{ advertisedHost: 'kafka.test.com', firstPort: 6001, lastPort: 6003 }] }];

function make(maxNodes: number, clock = new FakeClock()) {
  const registry = new MemoryRegistry({ leaseSeconds: LEASE_MS / 1000, expiredRetentionSeconds: 300, maxNodes, portPools: pools, portReuseSeconds: 86_400, clock });
  return { registry, clock };
}
const ids = (registry: MemoryRegistry) => registry.list().map((n) => n.id);

describe('registry.maxNodes', () => {
  it('refuses a new node while every place is held by a live node, and renews the known ones', () => {
    const { registry, clock } = make(2);
    registry.record(heartbeat({ id: 'a' }));
    registry.record(heartbeat({ id: 'b' }));
    expect(() => registry.record(heartbeat({ id: 'c' }))).toThrow(RegistryFullError);
    clock.advance(LEASE_MS);
    registry.record(heartbeat({ id: 'a' }));
    expect(ids(registry)).toEqual(['a', 'b']);
  });

  it('forgets an expired node to make room for a new one, and counts only the live ones', () => {
    const { registry, clock } = make(3);
    registry.record(heartbeat({ id: 'old' }));
    clock.advance(5_000);
    registry.record(heartbeat({ id: 'b' }));
    registry.record(heartbeat({ id: 'c' }));
    expect(() => registry.record(heartbeat({ id: 'd' }))).toThrow(RegistryFullError);
    clock.advance(LEASE_MS - 5_000 + 1); // old's lease ends; b and c are live
    registry.takeChanges();
    expect(registry.record(heartbeat({ id: 'd' })).routingChanged).toBe(true);
    expect(ids(registry)).toEqual(['b', 'c', 'd']);
    expect([...registry.takeChanges()].sort()).toEqual(['d', 'old']);
    expect(() => registry.record(heartbeat({ id: 'e' }))).toThrow(RegistryFullError);
  });

  it('forgets the oldest expiry first, one per new node', () => {
    const { registry, clock } = make(3);
    for (const id of ['x1', 'x2', 'x3']) {
      registry.record(heartbeat({ id }));
      clock.advance(1_000);
    }
    registry.record(heartbeat({ id: 'x1' })); // x1 heard from last: now the youngest
    clock.advance(LEASE_MS + 1);
    registry.record(heartbeat({ id: 'n1' }));
    expect(ids(registry)).toEqual(['n1', 'x1', 'x3']);
    registry.record(heartbeat({ id: 'n2' }));
    expect(ids(registry)).toEqual(['n1', 'n2', 'x1']);
  });

  it('holds a forgotten node\'s port for portReuseSeconds, as after DELETE', () => {
    const { registry, clock } = make(3);
    for (const id of ['p1', 'p2', 'p3']) registry.record(heartbeat({ id }));
    clock.advance(LEASE_MS + 1);
    registry.record(heartbeat({ id: 'p2' }));
    registry.record(heartbeat({ id: 'p3' }));
    const outcome = registry.record(heartbeat({ id: 'p4' }));
    expect(registry.get('p1')).toBeUndefined();
    expect(outcome.portsExhausted).toEqual(['external']);
    expect(registry.state().ports).toContainEqual(expect.objectContaining({ nodeId: 'p1', port: 6001, releasedAtMs: clock.now() }));
    clock.advance(86_400_000);
    registry.record(heartbeat({ id: 'p2' }));
    registry.record(heartbeat({ id: 'p3' }));
    registry.record(heartbeat({ id: 'p4' }));
    expect(registry.ports.portOf('external', 'p4')?.port).toBe(6001);
  });

  it('keeps expired nodes that self-preservation keeps routable, and refuses the new node', () => {
    const { registry, clock } = make(2);
    registry.record(heartbeat({ id: 'a' }));
    registry.record(heartbeat({ id: 'b' }));
    clock.advance(LEASE_MS + 1);
    registry.sweep(new Set(['a', 'b']));
    expect(() => registry.record(heartbeat({ id: 'c' }))).toThrow(RegistryFullError);
    registry.sweep(new Set(['a']));
    registry.record(heartbeat({ id: 'c' }));
    expect(ids(registry)).toEqual(['a', 'c']);
  });

  it('changes nothing for a new node it must refuse, even with some expired nodes to spare', () => {
    const { registry, clock } = make(3);
    registry.record(heartbeat({ id: 'old' }));
    clock.advance(LEASE_MS + 1);
    registry.record(heartbeat({ id: 'b' }));
    registry.record(heartbeat({ id: 'c' }));
    registry.reconfigure({ leaseSeconds: LEASE_MS / 1000, expiredRetentionSeconds: 300, maxNodes: 1, portPools: pools, portReuseSeconds: 86_400 });
    registry.takeChanges();
    expect(() => registry.record(heartbeat({ id: 'd' }))).toThrow(RegistryFullError);
    expect(ids(registry)).toEqual(['b', 'c', 'old']);
    expect([...registry.takeChanges()]).toEqual([]);
  });

  it('lets a refused new node in once time alone has expired a place', () => {
    const { registry, clock } = make(1);
    registry.record(heartbeat({ id: 'a' }));
    for (let i = 0; i < 3; i++) expect(() => registry.record(heartbeat({ id: 'b' }))).toThrow(RegistryFullError);
    clock.advance(LEASE_MS + 1);
    registry.record(heartbeat({ id: 'b' }));
    expect(ids(registry)).toEqual(['b']);
  });
});

describe('junk that falls silent', () => {
  it('does not hold the registry hostage once an operator resumes expiry', () => {
    const clock = new FakeClock();
    const config = parseConfig({ registry: { leaseSeconds: 10, maxNodes: 10 }, groups: [{ name: 'g', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-replicas'] }] }] }, 'test');
    const logger = pino({ level: 'silent' });
    const registry = new MemoryRegistry({ ...config.registry, clock });
    const expiryGuard = new ExpiryGuard(config.registry.selfPreservation, LEASE_MS, logger);
    const watcher = new Watcher({ config, registry, cache: new SnapshotCache(), clock, logger, expiryGuard });
    const real = ['r1', 'r2', 'r3'];
    const junk = Array.from({ length: 7 }, (_, i) => `junk-${i}`);
    for (const id of [...real, ...junk]) registry.record(heartbeat({ id }));
    watcher.rebuild();

    // The junk falls silent; the real nodes go on. 7 of 10 silent at once: self-preservation.
    for (let t = 0; t < 12; t++) {
      clock.advance(1_000);
      for (const id of real) registry.record(heartbeat({ id }));
      watcher.rebuild();
    }
    expect(expiryGuard.isActive).toBe(true);
    expect([...watcher.routingView().preserved].sort()).toEqual(junk);
    expect(() => registry.record(heartbeat({ id: 'r4' }))).toThrow(RegistryFullError);

    watcher.resumeExpiry();
    expect(watcher.routingView().preserved.size).toBe(0);
    expect(junk.map((id) => watcher.routingView().health.get(id))).toEqual(junk.map(() => 'expired'));
    // The silent junk now yields its places to real nodes, oldest first.
    for (const id of ['r4', 'r5']) registry.record(heartbeat({ id }));
    watcher.rebuild();
    expect(registry.list().filter((n) => n.id.startsWith('junk-'))).toHaveLength(5);
    expect(watcher.routingView().health.get('r5')).toBe('healthy');
    // The same silent junk never stops expiry again.
    for (let t = 0; t < 25; t++) {
      clock.advance(1_000);
      for (const id of [...real, 'r4', 'r5']) registry.record(heartbeat({ id }));
      watcher.rebuild();
      expect(expiryGuard.isActive).toBe(false);
    }
    for (const id of ['r6', 'r7', 'r8', 'r9', 'r10']) registry.record(heartbeat({ id }));
    expect(registry.list().filter((n) => n.id.startsWith('junk-'))).toEqual([]);
    watcher.stop();
  });
});
