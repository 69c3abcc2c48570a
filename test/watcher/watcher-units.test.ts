/**
 * The watcher's own rules, on a fake clock and vitest's fake timers (which move Date.now too), so
 * that "not yet" and "no more" are exact instead of sleeps: what observers are told of each
 * rebuild, the publish gate, a reload, stop, and the rebuild a lease running out triggers.
 */
import { pino } from 'pino';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Clock } from '../../src/registry/clock.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { ExpiryGuard } from '../../src/registry/self-preservation.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { type RebuildEvent, Watcher } from '../../src/watcher/watcher.js';
import { heartbeat } from '../support/heartbeats.js';

const LEASE_MS = 10_000;
const shards = [
  { name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] },
  { name: 'shard1', listen: '0.0.0.0:10010', clusters: ['shard1-masters'] },
];
const configOf = (groups: string[], xds = { debounceMs: 20, maxDelayMs: 100 }, more: object[] = []) =>
  parseConfig(
    { registry: { leaseSeconds: LEASE_MS / 1000, expiredRetentionSeconds: 60, selfPreservation: { enabled: false } }, xds, groups: [...groups.map((name) => ({ name, shards })), ...more] },
    'test',
  );

/** Date.now, which vi.useFakeTimers moves with the timers. */
const clock: Clock = { now: () => Date.now() };
const logger = pino({ level: 'silent' });

function setup(options: { groups?: string[]; gate?: () => boolean; expiryGuard?: ExpiryGuard; registryConfig?: object } = {}) {
  const config = configOf(options.groups ?? ['edge']);
  const registry = new MemoryRegistry({ ...config.registry, ...options.registryConfig, clock });
  const cache = new SnapshotCache();
  const watcher = new Watcher({
    config,
    registry,
    cache,
    clock,
    logger,
    ...(options.gate ? { publishGate: options.gate } : {}),
    ...(options.expiryGuard ? { expiryGuard: options.expiryGuard } : {}),
  });
  const events: RebuildEvent[] = [];
  const unobserve = watcher.observe((event) => events.push(event));
  stops.push(() => watcher.stop());
  return { config, registry, cache, watcher, events, unobserve };
}

const stops: Array<() => void> = [];
beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
});
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
  vi.useRealTimers();
});

describe('Watcher: what observers hear', () => {
  it('the first rebuild is full; later ones name the shards judged again, what reached the cache, and when the change was first announced', () => {
    const { registry, cache, watcher, events } = setup();
    registry.record(heartbeat({ id: 'early', shard: 'shard1', role: 'master', address: '10.0.1.1:9000' }));
    watcher.start();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ full: true, changedAtMs: Date.now(), preserving: false });
    expect([...events[0]!.shards]).toEqual(['default/shard1']);
    expect(events[0]!.published.map((s) => s.version)).toEqual([cache.get('edge')!.version]);
    expect(events[0]!.buildSeconds).toBeGreaterThanOrEqual(0);

    const announcedAt = Date.now();
    registry.record(heartbeat({ id: 'm', shard: 'shard0', role: 'master', address: '10.0.0.1:9000' }));
    vi.advanceTimersByTime(5);
    registry.record(heartbeat({ id: 'r', shard: 'shard0', address: '10.0.0.2:9000' }));
    vi.advanceTimersByTime(25); // the debounce: 20 ms after the last change
    expect(events).toHaveLength(2);
    const second = events[1]!;
    expect(second.full).toBe(false);
    expect([...second.shards]).toEqual(['default/shard0']);
    expect(second.changedAtMs).toBe(announcedAt);
    expect(second.view.builtAtMs).toBe(announcedAt + 25);
    expect(second.published).toEqual([cache.get('edge')]);

    // Time alone: nothing changed, nothing published, the change time is the rebuild's.
    vi.advanceTimersByTime(1_000);
    watcher.rebuild();
    expect(events[2]).toMatchObject({ full: false, published: [], changedAtMs: Date.now() });
    expect(events[2]!.shards.size).toBe(0);
  });

  it('tells how long building and publishing took, in seconds', () => {
    let nowMs = 1_000;
    const timing = vi.spyOn(performance, 'now').mockImplementation(() => nowMs);
    try {
      const config = configOf(['edge']);
      const registry = new MemoryRegistry({ ...config.registry, clock });
      // Each resource checked takes 50 ms of the (mocked) monotonic clock.
      const watcher = new Watcher({ config, registry, cache: new SnapshotCache(), clock, logger, checkResource: () => ((nowMs += 50), []) });
      stops.push(() => watcher.stop());
      const seconds: number[] = [];
      watcher.observe((event) => seconds.push(event.buildSeconds));
      registry.record(heartbeat({ id: 'm', role: 'master' }));
      watcher.start();
      const encoded = (nowMs - 1_000) / 50;
      expect(encoded).toBeGreaterThan(0);
      expect(seconds).toEqual([(encoded * 50) / 1000]);
    } finally {
      timing.mockRestore();
    }
  });

  it('stops telling a listener once it unsubscribes', () => {
    const { watcher, events, unobserve } = setup();
    watcher.start();
    watcher.rebuild();
    expect(events).toHaveLength(2);
    unobserve();
    watcher.rebuild();
    expect(events).toHaveLength(2);
  });

  it('says when self-preservation is holding expiry', () => {
    const guard = new ExpiryGuard({ enabled: true, maxExpiredFraction: 0.5, minNodes: 1 }, LEASE_MS, logger);
    const { registry, watcher, events } = setup({ expiryGuard: guard });
    for (const id of ['a', 'b', 'c']) registry.record(heartbeat({ id, address: `10.0.0.${id.charCodeAt(0) - 96}:9000` }));
    watcher.start();
    expect(events.at(-1)!.preserving).toBe(false);
    vi.advanceTimersByTime(LEASE_MS + 1_000); // all three fall silent at once
    watcher.rebuild();
    expect(guard.isActive).toBe(true);
    expect(events.at(-1)!.preserving).toBe(true);
    expect([...events.at(-1)!.view.preserved].sort()).toEqual(['a', 'b', 'c']);
  });
});

describe('Watcher: its log', () => {
  it('logs each publish, and each refused snapshot with its group and problems', () => {
    const lines: Array<Record<string, unknown>> = [];
    const captured = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    let refuse = false;
    const config = configOf(['edge']);
    const registry = new MemoryRegistry({ ...config.registry, clock });
    const cache = new SnapshotCache();
    const watcher = new Watcher({ config, registry, cache, clock, logger: captured, checkResource: (r) => (refuse && r.name === 'shard0-masters' && r.typeUrl.endsWith('ClusterLoadAssignment') ? ['refused by test'] : []) });
    stops.push(() => watcher.stop());
    watcher.start();
    expect(lines.map((l) => [l.level, l.msg, l.group, l.version])).toEqual([[30, 'snapshot published', 'edge', cache.get('edge')!.version]]);
    refuse = true;
    registry.record(heartbeat({ id: 'm', role: 'master' }));
    watcher.rebuild();
    expect(lines.slice(1).map((l) => [l.level, l.msg, l.group, l.problems])).toEqual([[50, 'snapshot rejected; keeping the last good one', 'edge', [expect.stringContaining('refused by test')]]]);
  });
});

describe('Watcher: the routing view', () => {
  it('is built on first asking, even before start, and its version follows the snapshots', () => {
    const { registry, cache, watcher } = setup({ groups: ['a', 'b'] });
    const first = watcher.routingView();
    expect(first.builtAtMs).toBe(Date.now());
    expect(first.nodes).toEqual([]);
    expect(cache.groups().sort()).toEqual(['a', 'b']);
    expect(watcher.routingView()).toBe(first); // asked again, not rebuilt

    vi.advanceTimersByTime(1_000);
    expect(watcher.rebuild().version).toBe(first.version); // nothing changed
    registry.record(heartbeat({ id: 'm', role: 'master' }));
    const changed = watcher.rebuild();
    expect(changed.version).not.toBe(first.version);
    expect(changed.nodes.map((n) => n.id)).toEqual(['m']);
    expect(changed.health.get('m')).toBe('healthy');
  });
});

describe('Watcher: a group whose first snapshot is refused', () => {
  it('has none: the others are served, the routing view is built, and it is published once it passes', () => {
    let refuse = true;
    // Groups a and b see the same thing, so both are refused; a third group on other shards is not.
    const mixed = configOf(['a', 'b'], undefined, [{ name: 'c', shards: [{ name: 'other', listen: '0.0.0.0:11000', clusters: ['other-masters'] }] }]);
    const registry = new MemoryRegistry({ ...mixed.registry, clock });
    const cache = new SnapshotCache();
    const watcher = new Watcher({ config: mixed, registry, cache, clock, logger, checkResource: (r) => (refuse && r.name === 'shard0-masters' ? ['refused by test'] : []) });
    stops.push(() => watcher.stop());
    watcher.start();
    expect(cache.groups()).toEqual(['c']);
    const view = watcher.routingView();
    expect(view.builtAtMs).toBe(Date.now());
    refuse = false;
    vi.advanceTimersByTime(1_000);
    const passed = watcher.rebuild();
    expect(cache.groups().sort()).toEqual(['a', 'b', 'c']);
    expect(passed.version).not.toBe(view.version);
  });
});

describe('Watcher: the publish gate', () => {
  it('publishes nothing while closed, then every group at once when it opens, changed since or not', () => {
    let open = false;
    const { registry, cache, watcher, events } = setup({ groups: ['a', 'b'], gate: () => open });
    watcher.start();
    expect(watcher.isWarm()).toBe(false);
    registry.record(heartbeat({ id: 'm', role: 'master' }));
    watcher.rebuild();
    expect(cache.groups()).toEqual([]);
    expect(events.map((e) => e.published.length)).toEqual([0, 0]);

    open = true;
    expect(watcher.isWarm()).toBe(true);
    watcher.rebuild(); // nothing changed since the last build: still, both are published now
    expect(cache.groups().sort()).toEqual(['a', 'b']);
    expect(events.at(-1)!.published.map((s) => s.group).sort()).toEqual(['a', 'b']);

    // Once published, only what changes is published again.
    registry.record(heartbeat({ id: 'm', role: 'master', address: '10.0.0.9:9000' }));
    watcher.rebuild();
    expect(events.at(-1)!.published.map((s) => s.group).sort()).toEqual(['a', 'b']);
    watcher.rebuild();
    expect(events.at(-1)!.published).toEqual([]);
  });

  it('is open when there is none', () => {
    const { cache, watcher } = setup();
    expect(watcher.isWarm()).toBe(true);
    watcher.start();
    expect(cache.groups()).toEqual(['edge']);
  });
});

describe('Watcher: a reload', () => {
  it('drops the groups no longer configured, builds the new ones, in full', () => {
    const { registry, cache, watcher, events } = setup({ groups: ['a', 'b'] });
    registry.record(heartbeat({ id: 'm', role: 'master' }));
    watcher.start();
    watcher.reconfigure(configOf(['a', 'c']));
    expect(cache.groups().sort()).toEqual(['a', 'c']);
    expect(events.at(-1)!.full).toBe(true);
    expect(events.at(-1)!.published.map((s) => s.group)).toEqual(['c']); // a's content is the same
  });

  it('applies the new debounce to the next change, and the old one no longer fires', () => {
    const { registry, watcher, events } = setup();
    watcher.start();
    registry.record(heartbeat({ id: 'm', role: 'master' })); // pending under the old 20 ms debounce
    watcher.reconfigure(configOf(['edge'], { debounceMs: 200, maxDelayMs: 1_000 }));
    const rebuilt = events.length;
    vi.advanceTimersByTime(500);
    expect(events).toHaveLength(rebuilt); // the reload's rebuild took the change; the old timer is gone

    registry.record(heartbeat({ id: 'r', address: '10.0.0.2:9000' }));
    vi.advanceTimersByTime(199);
    expect(events).toHaveLength(rebuilt);
    vi.advanceTimersByTime(1);
    expect(events).toHaveLength(rebuilt + 1);
  });
});

describe('Watcher: timers', () => {
  it('rebuilds by itself when a lease runs out, and not before', () => {
    const { registry, watcher, events } = setup();
    registry.record(heartbeat({ id: 'm', role: 'master' }));
    watcher.start();
    watcher.rebuild();
    watcher.rebuild(); // each rebuild sets the timer again: still one rebuild when the lease ends
    expect(events).toHaveLength(3);
    vi.advanceTimersByTime(LEASE_MS - 1);
    expect(events).toHaveLength(3);
    vi.advanceTimersByTime(1_001);
    expect(events).toHaveLength(4);
    expect(events[3]!.view.health.get('m')).toBe('expired');
  });

  it('leaves no timer holding the process open', () => {
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const { registry, watcher } = setup();
    registry.record(heartbeat({ id: 'm', role: 'master' }));
    watcher.start(); // the lease's timer
    registry.record(heartbeat({ id: 'r', address: '10.0.0.2:9000' })); // the debounce's
    const made = timers.mock.results.map((r) => r.value as NodeJS.Timeout);
    timers.mockRestore();
    expect(made.length).toBeGreaterThanOrEqual(2);
    expect(made.map((t) => t.hasRef())).toEqual(made.map(() => false));
  });

  it('while self-preservation holds expiry, looks again every lease', () => {
    const guard = new ExpiryGuard({ enabled: true, maxExpiredFraction: 0.5, minNodes: 1 }, LEASE_MS, logger);
    const { registry, watcher, events } = setup({ expiryGuard: guard });
    for (const id of ['a', 'b', 'c']) registry.record(heartbeat({ id, address: `10.0.0.${id.charCodeAt(0) - 96}:9000` }));
    watcher.start();
    vi.advanceTimersByTime(LEASE_MS + 1_000);
    expect(guard.isActive).toBe(true);
    // The preserved nodes have no lease left to run out: only the guard's own look brings a rebuild.
    const before = events.length;
    vi.advanceTimersByTime(LEASE_MS);
    expect(events.length).toBeGreaterThan(before);
    expect(events.at(-1)!.preserving).toBe(true);
  });

  it('after stop, neither a registry change nor a lease running out rebuilds', () => {
    const { registry, watcher, events } = setup();
    registry.record(heartbeat({ id: 'm', role: 'master' }));
    watcher.start();
    registry.record(heartbeat({ id: 'r', address: '10.0.0.2:9000' })); // a debounced rebuild pending
    watcher.stop();
    registry.record(heartbeat({ id: 'r2', address: '10.0.0.3:9000' }));
    vi.advanceTimersByTime(3 * LEASE_MS);
    expect(events).toHaveLength(1);
  });
});

describe('Watcher: verdicts judged again', () => {
  it('a node that self-preservation lets go is judged again, though nothing else in its shard changed', () => {
    const guard = new ExpiryGuard({ enabled: true, maxExpiredFraction: 0.5, minNodes: 1 }, LEASE_MS, logger);
    const { registry, watcher } = setup({ expiryGuard: guard });
    const beat = (id: string, shard: string) => registry.record(heartbeat({ id, shard, address: `10.0.${shard.slice(-1)}.${id.charCodeAt(0) - 96}:9000` }));
    beat('a', 'shard0');
    beat('b', 'shard0');
    beat('c', 'shard1');
    watcher.start();
    vi.advanceTimersByTime(LEASE_MS + 1_000); // all three silent: preserved
    expect([...watcher.routingView().preserved].sort()).toEqual(['a', 'b', 'c']);
    expect(watcher.routingView().health.get('c')).not.toBe('expired');
    beat('a', 'shard0');
    beat('b', 'shard0'); // 1 of 3 silent: expiry resumes, and c, alone in shard1, expires
    watcher.rebuild();
    expect(guard.isActive).toBe(false);
    expect(watcher.routingView().preserved.size).toBe(0);
    expect(['a', 'b', 'c'].map((id) => watcher.routingView().health.get(id))).toEqual(['healthy', 'healthy', 'expired']);
  });

  it('a node that had expired alone, kept when self-preservation engages later, is judged again', () => {
    const guard = new ExpiryGuard({ enabled: true, maxExpiredFraction: 0.5, minNodes: 1 }, LEASE_MS, logger);
    const { registry, watcher } = setup({ expiryGuard: guard });
    const beat = (id: string, shard: string) => registry.record(heartbeat({ id, shard, address: `10.0.${shard.slice(-1)}.${id.charCodeAt(0) - 96}:9000` }));
    beat('a', 'shard1');
    for (const id of ['b', 'c', 'd']) beat(id, 'shard0');
    watcher.start();
    vi.advanceTimersByTime(9_500);
    for (const id of ['b', 'c', 'd']) beat(id, 'shard0');
    vi.advanceTimersByTime(1_000); // a's lease ran out alone: it expires
    watcher.rebuild();
    expect([guard.isActive, watcher.routingView().health.get('a')]).toEqual([false, 'expired']);
    vi.advanceTimersByTime(9_500); // now b, c, d too, with a silent for under two leases: all four kept
    watcher.rebuild();
    expect(guard.isActive).toBe(true);
    expect([...watcher.routingView().preserved].sort()).toEqual(['a', 'b', 'c', 'd']);
    // a, alone in shard1, changed only by being kept: its verdict is that of the other kept nodes.
    expect(watcher.routingView().health.get('a')).toBe(watcher.routingView().health.get('b'));
    expect(watcher.routingView().health.get('a')).not.toBe('expired');
  });

  it('an expired node is forgotten once its retention is over, and leaves no verdict behind', () => {
    const { registry, watcher } = setup();
    registry.record(heartbeat({ id: 'm', role: 'master' }));
    registry.record(heartbeat({ id: 'r', shard: 'shard1', address: '10.0.1.1:9000' }));
    watcher.start();
    vi.advanceTimersByTime(LEASE_MS + 1_000);
    expect(watcher.routingView().health.get('m')).toBe('expired');
    vi.advanceTimersByTime(60_000); // expiredRetentionSeconds: the lease timer's rebuilds sweep it
    expect(watcher.routingView().nodes).toEqual([]);
    expect(watcher.routingView().health.size).toBe(0);
  });

  it('a node forgotten by an operator leaves no verdict behind', () => {
    const { registry, watcher } = setup();
    registry.record(heartbeat({ id: 'm', role: 'master' }));
    watcher.start();
    registry.forget('m');
    watcher.rebuild();
    expect(watcher.routingView().health.has('m')).toBe(false);
  });
});

describe('Watcher: resuming expiry', () => {
  it('says whether self-preservation was on, and the preserved nodes expire at once', () => {
    const guard = new ExpiryGuard({ enabled: true, maxExpiredFraction: 0.5, minNodes: 1 }, LEASE_MS, logger);
    const { registry, watcher } = setup({ expiryGuard: guard });
    for (const id of ['a', 'b', 'c']) registry.record(heartbeat({ id, address: `10.0.0.${id.charCodeAt(0) - 96}:9000` }));
    watcher.start();
    expect(watcher.resumeExpiry()).toBe(false);
    vi.advanceTimersByTime(LEASE_MS + 1_000);
    expect(watcher.routingView().preserved.size).toBe(3);
    expect(watcher.resumeExpiry()).toBe(true);
    expect(watcher.routingView().preserved.size).toBe(0);
    expect(['a', 'b', 'c'].map((id) => watcher.routingView().health.get(id))).toEqual(['expired', 'expired', 'expired']);
  });

  it('without self-preservation, says it was not on', () => {
    const { watcher } = setup();
    watcher.start();
    expect(watcher.resumeExpiry()).toBe(false);
  });
});
