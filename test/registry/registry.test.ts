import { beforeEach, describe, expect, it } from 'vitest';
import { assessHealth } from '../../src/registry/health.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

describe('MemoryRegistry', () => {
  let clock: FakeClock;
  let registry: MemoryRegistry;
  let changes: number;

  beforeEach(() => {
    clock = new FakeClock();
    registry = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock });
    changes = 0;
    registry.onChange(() => changes++);
  });

  const verdict = (id: string) => assessHealth(registry.list(), clock.now(), registry.leaseMs).get(id);

  it('keeps a node live for exactly one lease after its last heartbeat, on the server clock', () => {
    registry.record(heartbeat({ id: 'a' }));
    clock.advance(10_000);
    expect(verdict('a')).toBe('healthy');
    clock.advance(1);
    expect(verdict('a')).toBe('expired');
  });

  it('renews the lease on every heartbeat without announcing a change when nothing routable changed', () => {
    registry.record(heartbeat({ id: 'a' }));
    expect(changes).toBe(1);
    clock.advance(9_000);
    const outcome = registry.record(heartbeat({ id: 'a', labels: { rack: 'r2' } }));
    expect(outcome.routingChanged).toBe(false);
    expect(changes).toBe(1);
    clock.advance(9_000);
    expect(verdict('a')).toBe('healthy');
    expect(registry.get('a')?.labels).toEqual({ rack: 'r2' });
    expect(registry.get('a')?.firstSeenMs).toBe(clock.now() - 18_000);
  });

  it('announces a node coming back after its lease ran out', () => {
    registry.record(heartbeat({ id: 'a' }));
    clock.advance(11_000);
    expect(registry.record(heartbeat({ id: 'a' })).routingChanged).toBe(true);
    expect(changes).toBe(2);
    expect(verdict('a')).toBe('healthy');
  });

  it('moves a node whose heartbeat changes its address, shard, database or role', () => {
    let fields: Parameters<typeof heartbeat>[0] = { id: 'a' };
    registry.record(heartbeat(fields));
    for (const change of [{ address: '10.0.0.9:9000' }, { shard: 'shard1' }, { database: 'orders' }, { role: 'master' as const }]) {
      fields = { ...fields, ...change };
      expect(registry.record(heartbeat(fields)).routingChanged).toBe(true);
    }
    expect(changes).toBe(5);
    expect(registry.list()).toHaveLength(1);
    expect(registry.get('a')).toMatchObject({ shard: 'shard1', database: 'orders', role: 'master', address: '10.0.0.9:9000', host: '10.0.0.9', port: 9000 });
  });

  it('forgets expired nodes only after the retention period', () => {
    registry.record(heartbeat({ id: 'a' }));
    clock.advance(10_000 + 300_000);
    expect(registry.sweep()).toEqual([]);
    clock.advance(1);
    expect(registry.sweep()).toEqual(['a']);
    expect(registry.get('a')).toBeUndefined();
  });

  it('names the next moment time alone changes a verdict, and reports each lease end once', () => {
    expect(registry.nextDeadline()).toBeUndefined();
    const start = clock.now();
    registry.record(heartbeat({ id: 'a' }));
    clock.advance(4_000);
    registry.record(heartbeat({ id: 'b' }));
    // a's lease ends 1 ms after 10 s; lease ends are noticed within one 25 ms bucket.
    const first = registry.nextDeadline()!;
    expect(first).toBeGreaterThanOrEqual(start + 10_001);
    expect(first).toBeLessThan(start + 10_001 + 25);
    clock.ms = first;
    expect(registry.takeExpired(clock.now())).toEqual(['a']);
    expect(registry.takeExpired(clock.now())).toEqual([]);
    // b renews: its planned lease end passes without it expiring.
    clock.ms = start + 12_000;
    registry.record(heartbeat({ id: 'b' }));
    clock.ms = start + 14_100;
    expect(registry.takeExpired(clock.now())).toEqual([]);
    clock.ms = start + 22_100;
    expect(registry.takeExpired(clock.now())).toEqual(['b']);
    // With both expired, what is left is forgetting a after the retention.
    expect(registry.nextDeadline()).toBe(start + 10_000 + 300_000 + 1);
  });

  it('journals the ids whose routing changed, and keeps shard membership', () => {
    registry.record(heartbeat({ id: 'a', shard: 'shard0' }));
    registry.record(heartbeat({ id: 'b', shard: 'shard0' }));
    expect([...registry.takeChanges()].sort()).toEqual(['a', 'b']);
    registry.record(heartbeat({ id: 'a', shard: 'shard0', labels: { x: '1' } }));
    expect([...registry.takeChanges()]).toEqual([]);
    registry.record(heartbeat({ id: 'a', shard: 'shard1' }));
    expect([...registry.takeChanges()]).toEqual(['a']);
    expect(registry.shardMembers('default', 'shard0').map((n) => n.id)).toEqual(['b']);
    expect(registry.shardMembers('default', 'shard1').map((n) => n.id)).toEqual(['a']);
    registry.forget('b');
    expect([...registry.takeChanges()]).toEqual(['b']);
    expect(registry.shardMembers('default', 'shard0')).toEqual([]);
  });

  it('forgets a node at once on operator request', () => {
    registry.record(heartbeat({ id: 'a' }));
    expect(registry.forget('a')?.id).toBe('a');
    expect(registry.forget('a')).toBeUndefined();
    expect(registry.list()).toEqual([]);
    expect(changes).toBe(2);
  });
});

describe('assessHealth', () => {
  const clock = new FakeClock();
  const registry = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock });
  const verdicts = () => Object.fromEntries(assessHealth(registry.list(), clock.now(), registry.leaseMs));

  it('fences masters below the highest live master epoch of their shard, and only there', () => {
    registry.record(heartbeat({ id: 'm4', role: 'master', epoch: 4 }));
    registry.record(heartbeat({ id: 'm5', role: 'master', epoch: 5 }));
    registry.record(heartbeat({ id: 'other-shard', role: 'master', epoch: 1, shard: 'shard1' }));
    registry.record(heartbeat({ id: 'other-db', role: 'master', epoch: 2, database: 'orders' }));
    registry.record(heartbeat({ id: 'replica', role: 'replica', epoch: 0 }));
    expect(verdicts()).toEqual({ m4: 'fenced', m5: 'healthy', 'other-shard': 'healthy', 'other-db': 'healthy', replica: 'healthy' });
  });

  it('stops fencing once the newer master has expired, but not while it is merely inactive', () => {
    registry.record(heartbeat({ id: 'm5', role: 'master', epoch: 5, status: 'inactive' }));
    expect(verdicts().m5).toBe('inactive');
    expect(verdicts().m4).toBe('fenced');
    clock.advance(10_001);
    registry.record(heartbeat({ id: 'm4', role: 'master', epoch: 4 }));
    expect(verdicts().m5).toBe('expired');
    expect(verdicts().m4).toBe('healthy');
  });

  it('maps status to health: draining stays routable, inactive does not', () => {
    registry.record(heartbeat({ id: 'replica', status: 'draining' }));
    registry.record(heartbeat({ id: 'r2', status: 'inactive' }));
    expect(verdicts().replica).toBe('draining');
    expect(verdicts().r2).toBe('inactive');
  });
});

describe('sweeping preserved nodes', () => {
  it('looks again a lease later at a node kept past its retention, not on every tick', () => {
    const clock = new FakeClock();
    const registry = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock });
    registry.record(heartbeat({ id: 'a' }));
    clock.advance(10_000 + 300_000 + 5);
    expect(registry.takeExpired(clock.now())).toEqual(['a']);
    expect(registry.sweep(new Set(['a']))).toEqual([]);
    expect(registry.nextDeadline()).toBe(clock.now() + 10_000);
    expect(registry.sweep(new Set())).toEqual([]); // not due yet: no scan until then
    clock.advance(10_000);
    expect(registry.sweep(new Set())).toEqual(['a']);
  });
});
