/**
 * The memory registry's bookkeeping where a mistake would show only later (found by mutation
 * testing, test/MUTATION.md): lease ends noticed in the middle of their time bucket, across
 * several buckets at once, and after a reload re-planned them out of order; sweeps that tell
 * their listeners; restored nodes forgotten in time; unsubscribing; which heartbeats count as a
 * routing change; per-node ports at their edges; and the follower's mirror registry.
 */
import { describe, expect, it } from 'vitest';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { FollowingError, MirrorRegistry } from '../../src/registry/mirror-registry.js';
import { sameRouting, type Heartbeat } from '../../src/registry/node.js';
import { PortAllocator, type PortPool } from '../../src/registry/ports.js';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

const LEASE_MS = 10_000;
const BUCKET_MS = 25; // memory-registry.ts EXPIRY_BUCKET_MS
const pool = (ports: [number, number][] = [[6001, 6002]], database = 'default'): PortPool => ({
  group: 'ext',
  database,
  frontEnds: ports.map(([firstPort, lastPort]) => ({ advertisedHost: 'k.example.com', firstPort, lastPort })),
});

function registry(options: { clock?: FakeClock; pools?: PortPool[]; reuseSeconds?: number; retentionSeconds?: number } = {}) {
  const clock = options.clock ?? new FakeClock(Date.UTC(2026, 0, 1)); // a multiple of the bucket width
  const r = new MemoryRegistry({
    leaseSeconds: LEASE_MS / 1000,
    expiredRetentionSeconds: options.retentionSeconds ?? 20,
    clock,
    ...(options.pools ? { portPools: options.pools } : {}),
    ...(options.reuseSeconds === undefined ? {} : { portReuseSeconds: options.reuseSeconds }),
  });
  return { r, clock };
}

describe('lease ends', () => {
  it('are noticed exactly, when the watcher looks in the middle of their bucket', () => {
    const { r, clock } = registry();
    clock.advance(3); // the lease ends 3 ms into a bucket: 10_004 ms after the bucket start
    r.record(heartbeat({ id: 'n' }));
    const endsAt = clock.now() + LEASE_MS + 1;
    expect(r.takeExpired(endsAt - 1)).toEqual([]); // the bucket has begun, the lease has not ended
    expect(r.takeExpired(endsAt)).toEqual(['n']);
    expect(r.takeExpired(endsAt + BUCKET_MS)).toEqual([]); // reported once
  });

  it('are noticed exactly when a lease ends on a bucket boundary', () => {
    const { r, clock } = registry();
    clock.advance(BUCKET_MS - 1); // last heartbeat + lease + 1 lands on a multiple of the bucket width
    r.record(heartbeat({ id: 'n' }));
    const endsAt = clock.now() + LEASE_MS + 1;
    expect(endsAt % BUCKET_MS).toBe(0);
    expect(r.takeExpired(endsAt - 1)).toEqual([]);
    expect(r.takeExpired(endsAt)).toEqual(['n']);
  });

  it('of several buckets are all reported by one late look', () => {
    const { r, clock } = registry();
    r.record(heartbeat({ id: 'a' }));
    clock.advance(100);
    r.record(heartbeat({ id: 'b' }));
    clock.advance(100);
    r.record(heartbeat({ id: 'c' }));
    expect(r.takeExpired(clock.now() + LEASE_MS + 1).sort()).toEqual(['a', 'b', 'c']);
  });

  it('are re-planned in time order by a reload, whatever order the nodes are held in', () => {
    const { r, clock } = registry();
    r.record(heartbeat({ id: 'a' })); // held first
    clock.advance(5_000);
    r.record(heartbeat({ id: 'b' }));
    clock.advance(1_000);
    r.record(heartbeat({ id: 'a' })); // renewed: its lease now ends after b's
    r.reconfigure({ leaseSeconds: LEASE_MS / 1000, expiredRetentionSeconds: 20 });
    const bEnds = clock.now() - 1_000 + LEASE_MS + 1;
    expect(r.takeExpired(bEnds)).toEqual(['b']);
    expect(r.nextDeadline()).toBeLessThanOrEqual(clock.now() + LEASE_MS + BUCKET_MS);
    expect(r.takeExpired(clock.now() + LEASE_MS + 1)).toEqual(['a']);
  });

  it('of a renewed node are not reported from its old bucket', () => {
    const { r, clock } = registry();
    r.record(heartbeat({ id: 'n' }));
    clock.advance(LEASE_MS);
    r.record(heartbeat({ id: 'n' }));
    expect(r.takeExpired(clock.now() + 1)).toEqual([]);
    expect(r.takeExpired(clock.now() + LEASE_MS + 1)).toEqual(['n']);
  });
});

describe('sweeps, restores and listeners', () => {
  it('tells the listeners when a sweep forgets someone, and only then', () => {
    const { r, clock } = registry();
    r.record(heartbeat({ id: 'n' }));
    let told = 0;
    r.onChange(() => told++);
    clock.advance(LEASE_MS + 20_000);
    expect(r.sweep()).toEqual([]); // exactly lease + retention: still held
    expect(told).toBe(0);
    clock.advance(1);
    expect(r.sweep()).toEqual(['n']);
    expect(told).toBe(1);
    expect(r.sweep()).toEqual([]);
    expect(told).toBe(1);
  });

  it('tells no one of a sweep that forgets nobody, a node kept by self-preservation included', () => {
    const { r, clock } = registry();
    r.record(heartbeat({ id: 'n' }));
    let told = 0;
    r.onChange(() => told++);
    clock.advance(LEASE_MS + 20_000 + 1); // due
    expect(r.sweep(new Set(['n']))).toEqual([]); // but kept
    expect(told).toBe(0);
    expect(r.get('n')).toBeDefined();
  });

  it('forgets restored nodes a lease and the retention after the restore', () => {
    const { r: saved } = registry();
    saved.record(heartbeat({ id: 'n' }));
    const { r, clock } = registry();
    clock.advance(60_000);
    r.restore(saved.state());
    expect(r.get('n')?.lastHeartbeatMs).toBe(clock.now());
    expect(r.nextDeadline()).toBeLessThanOrEqual(clock.now() + LEASE_MS + BUCKET_MS);
    clock.advance(LEASE_MS + 20_000 + 1);
    expect(r.sweep()).toEqual(['n']);
  });

  it('stops telling a listener that unsubscribed', () => {
    const { r } = registry();
    let told = 0;
    const stop = r.onChange(() => told++);
    r.record(heartbeat({ id: 'a' }));
    stop();
    r.record(heartbeat({ id: 'b' }));
    r.forget('a');
    expect(told).toBe(1);
  });
});

describe('which heartbeats change routing', () => {
  const base = heartbeat({ id: 'n', address: '10.0.0.1:9000', role: 'master', dc: 'dc1', epoch: 3 });
  const changes: Array<[string, Partial<Heartbeat>]> = [
    ['address', { address: '10.0.0.2:9000', host: '10.0.0.2' }],
    ['database', { database: 'other' }],
    ['shard', { shard: 'shard9' }],
    ['role', { role: 'replica' }],
    ['status', { status: 'draining' }],
    ['dc', { dc: 'dc2' }],
    ['epoch', { epoch: 4 }],
  ];

  it.each(changes)('a new %s is a routing change', (_field, change) => {
    expect(sameRouting(base, { ...base, ...change })).toBe(false);
    const { r } = registry();
    r.record(base);
    r.takeChanges();
    expect(r.record({ ...base, ...change }).routingChanged).toBe(true);
    expect([...r.takeChanges()]).toEqual(['n']);
  });

  it('new labels, DKV details or a renewal are not', () => {
    expect(sameRouting(base, { ...base, labels: { rack: 'r9' } })).toBe(true);
    expect(sameRouting(base, { ...base, dkv: { regionStatus: 'LEADER', timestamp: '7', httpAddress: '' } })).toBe(true);
    const { r } = registry({ pools: [pool()] });
    r.record(base);
    r.takeChanges();
    expect(r.record(base).routingChanged).toBe(false); // it holds a port: renewing it changes nothing either
    expect([...r.takeChanges()]).toEqual([]);
  });
});

describe('per-node ports at their edges', () => {
  it('counts the reuse period of a node that left the database from when it left, not from its later heartbeats', () => {
    const { r, clock } = registry({ pools: [pool([[6001, 6001]])], reuseSeconds: 10 });
    r.record(heartbeat({ id: 'a' }));
    expect(r.ports.portOf('ext', 'a')?.port).toBe(6001);
    r.record(heartbeat({ id: 'a', database: 'other' })); // released now
    clock.advance(9_000);
    r.record(heartbeat({ id: 'a', database: 'other' }));
    clock.advance(1_000);
    r.record(heartbeat({ id: 'b' }));
    expect(r.ports.portOf('ext', 'b')?.port).toBe(6001);
  });

  it('counts the reuse period of a node that left and was then forgotten from when it left', () => {
    const { r, clock } = registry({ pools: [pool([[6001, 6001]])], reuseSeconds: 10 });
    r.record(heartbeat({ id: 'a' }));
    r.record(heartbeat({ id: 'a', database: 'other' }));
    clock.advance(9_000);
    r.forget('a');
    clock.advance(1_000);
    r.record(heartbeat({ id: 'b' }));
    expect(r.ports.portOf('ext', 'b')?.port).toBe(6001);
  });

  it('answers nothing for a group without node listeners', () => {
    const { r } = registry({ pools: [pool()] });
    r.record(heartbeat({ id: 'a' }));
    expect(r.ports.portOf('nope', 'a')).toBeUndefined();
  });

  it('says why a saved port is dropped: ranges listed, long ids cut to 64 characters', () => {
    const ports = new PortAllocator([pool([[6001, 6002], [7001, 7002]])], 1_000);
    const longId = 'x'.repeat(70);
    expect(ports.restore([{ group: 'ext', nodeId: longId, port: 8000, advertisedHost: 'k.example.com', releasedAtMs: undefined }])).toEqual([
      {
        entry: `port of node "${'x'.repeat(64)}…" in group "ext"`,
        reason: 'port 8000 is outside the node-listener ranges of group ext (6001..6002, 7001..7002)',
      },
    ]);
    const exact = 'y'.repeat(64);
    expect(ports.restore([{ group: 'nope', nodeId: exact, port: 6001, advertisedHost: 'k', releasedAtMs: undefined }])[0]!.entry).toBe(`port of node "${exact}" in group "nope"`);
  });
});

describe('the mirror registry of a follower', () => {
  const view = (...ids: string[]) => ids.map((id, i) => heartbeat({ id, address: `10.0.1.${i + 1}:9000` }));

  it('holds exactly the last view: new nodes recorded, missing ones forgotten', () => {
    const clock = new FakeClock();
    const mirror = new MirrorRegistry({ remote: ['ds1:8082'], clock });
    mirror.replaceAll(view('a', 'b'));
    expect(mirror.list().map((n) => n.id)).toEqual(['a', 'b']);
    mirror.replaceAll(view('b', 'c'));
    expect(mirror.list().map((n) => n.id)).toEqual(['b', 'c']);
    expect(mirror.get('a')).toBeUndefined();
    expect(mirror.shardMembers('default', 'shard0').map((n) => n.id).sort()).toEqual(['b', 'c']);
    expect([...mirror.takeChanges()].sort()).toEqual(['a', 'b', 'c']);
  });

  it('never expires or sweeps anyone: liveness is the followed server’s', () => {
    const clock = new FakeClock();
    const mirror = new MirrorRegistry({ remote: ['ds1:8082'], clock });
    mirror.replaceAll(view('a'));
    clock.advance(365 * 24 * 3_600_000);
    expect(mirror.takeExpired()).toEqual([]);
    expect(mirror.sweep()).toEqual([]);
    expect(mirror.nextDeadline()).toBeUndefined();
    expect(mirror.leaseMs).toBe(Number.POSITIVE_INFINITY);
    expect(mirror.list().map((n) => n.id)).toEqual(['a']);
  });

  it('refuses local heartbeats, deletions and maintenance, naming the servers it follows', () => {
    const mirror = new MirrorRegistry({ remote: ['ds1:8082', 'ds2:8082'], clock: new FakeClock() });
    const message = 'this instance follows the discovery servers ds1:8082, ds2:8082; send heartbeats and changes there';
    expect(() => mirror.record(view('a')[0]!)).toThrow(FollowingError);
    expect(() => mirror.record(view('a')[0]!)).toThrow(message);
    expect(() => mirror.forget('a')).toThrow(message);
    expect(() => mirror.setMaintenance()).toThrow(message);
  });

  it('gives mirrored nodes ports, holds a vanished node’s port for portReuseSeconds, and applies reloaded pools', () => {
    const clock = new FakeClock();
    const mirror = new MirrorRegistry({ remote: ['ds1:8082'], clock, portPools: [pool([[6001, 6001]])], portReuseSeconds: 10 });
    mirror.replaceAll(view('a'));
    expect(mirror.ports.portOf('ext', 'a')?.port).toBe(6001);
    mirror.replaceAll([]);
    clock.advance(9_999);
    mirror.replaceAll(view('b'));
    expect(mirror.ports.portOf('ext', 'b')).toBeUndefined();
    clock.advance(1);
    mirror.replaceAll(view('b'));
    expect(mirror.ports.portOf('ext', 'b')?.port).toBe(6001);

    mirror.reconfigure([pool([[6001, 6002]])], 10);
    mirror.replaceAll(view('b', 'c'));
    expect(mirror.ports.portOf('ext', 'c')?.port).toBe(6002);
  });

  it('saves, restores and tells its listeners as the registry it wraps', () => {
    const clock = new FakeClock();
    const mirror = new MirrorRegistry({ remote: ['ds1:8082'], clock });
    let told = 0;
    const stop = mirror.onChange(() => told++);
    mirror.replaceAll(view('a'));
    expect(told).toBe(1);
    stop();
    const state = mirror.state();
    expect(state.nodes.map((n) => n.id)).toEqual(['a']);
    const other = new MirrorRegistry({ remote: ['ds1:8082'], clock });
    expect(other.restore(state)).toEqual([]);
    expect(other.list().map((n) => n.id)).toEqual(['a']);
    mirror.replaceAll(view('a', 'b'));
    expect(told).toBe(1);
  });
});
