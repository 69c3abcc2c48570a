/**
 * The incremental rebuild (journal, lease buckets, dirty shards, shared views, memoized encoding)
 * must always publish exactly what a from-scratch translation of the same registry gives. That
 * includes the masters listeners, whose filter chain is named after the routable masters
 * (contract 11), with that naming on and off.
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { LISTENER } from '../../src/envoy-api/type-urls.js';
import { assessHealth } from '../../src/registry/health.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { portPools } from '../../src/registry/ports.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { buildSnapshot, encodeResource } from '../../src/snapshot/snapshot.js';
import { buildTopology } from '../../src/topology/build.js';
import { translateGroup } from '../../src/translator/translate.js';
import { Watcher } from '../../src/watcher/watcher.js';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

const base = {
  registry: { leaseSeconds: 10, expiredRetentionSeconds: 20, selfPreservation: { enabled: false } },
  groups: [
    // Two groups that see the same thing (one view), one in another DC, one with per-node ports
    // for another database.
    { name: 'a1', dc: 'dc1', shards: [{ name: 's0', listen: '0.0.0.0:10000', clusters: ['s0-masters', 's0-replicas'] }, { name: 's1', listen: '0.0.0.0:10010', clusters: ['s1-masters'] }] },
    { name: 'a2', dc: 'dc1', shards: [{ name: 's0', listen: '0.0.0.0:10000', clusters: ['s0-masters', 's0-replicas'] }, { name: 's1', listen: '0.0.0.0:10010', clusters: ['s1-masters'] }] },
    { name: 'b', dc: 'dc2', shards: [{ name: 's0', listen: '0.0.0.0:10000', clusters: ['s0-masters', 's0-slaves'] }] },
    { name: 'ext', database: 'kafka', advertisedHost: 'k.example.com', bootstrapListener: '0.0.0.0:9091', nodeListeners: { ports: '6001-6003' }, shards: [] },
  ],
};
const configs = {
  'masters listeners named after their masters': parseConfig(base, 'test'),
  'fencedConnectionCloseSeconds 0': parseConfig({ ...base, xds: { fencedConnectionCloseSeconds: 0 } }, 'test'),
};

type Op =
  | { kind: 'beat'; node: number; database: 'default' | 'kafka'; shard: 's0' | 's1'; role: 'master' | 'replica'; status: 'active' | 'draining' | 'inactive'; epoch: number; dc: 'dc1' | 'dc2'; addr: number }
  | { kind: 'wait'; ms: number }
  | { kind: 'forget'; node: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('beat' as const),
      node: fc.integer({ min: 0, max: 7 }),
      database: fc.constantFrom('default' as const, 'default' as const, 'kafka' as const),
      shard: fc.constantFrom('s0' as const, 's1' as const),
      role: fc.constantFrom('master' as const, 'replica' as const),
      status: fc.constantFrom('active' as const, 'draining' as const, 'inactive' as const),
      epoch: fc.integer({ min: 0, max: 3 }),
      dc: fc.constantFrom('dc1' as const, 'dc2' as const),
      addr: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 15_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('forget' as const), node: fc.integer({ min: 0, max: 7 }) }) },
);

/** The versions a from-scratch build of the registry gives, per group. */
function fromScratch(config: Config, registry: MemoryRegistry, now: number): Record<string, string> {
  const nodes = registry.list();
  const topology = buildTopology(config, { nodes, health: assessHealth(nodes, now, registry.leaseMs), ports: registry.ports });
  return Object.fromEntries([...topology].map(([group, t]) => [group, buildSnapshot(group, translateGroup(t).map(encodeResource)).version]));
}

describe.each(Object.entries(configs))('incremental builds (%s)', (_, config) => {
  it('publish exactly what a full translation gives, after every step of any history', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 30 }), (ops) => {
        const clock = new FakeClock();
        const registry = new MemoryRegistry({ ...config.registry, portPools: portPools(config), clock });
        const cache = new SnapshotCache();
        const watcher = new Watcher({ config, registry, cache, clock, logger: pino({ level: 'silent' }) });
        watcher.start();
        try {
          for (const step of ops) {
            if (step.kind === 'beat') {
              registry.record(
                heartbeat({ id: `n${step.node}`, address: `10.0.${step.node}.${step.addr}:9000`, database: step.database, shard: step.shard, role: step.role, status: step.status, epoch: step.epoch, dc: step.dc }),
              );
            } else if (step.kind === 'wait') {
              clock.advance(step.ms);
            } else {
              registry.forget(`n${step.node}`);
            }
            watcher.rebuild();
            const published = Object.fromEntries(config.groups.map((g) => [g.name, cache.get(g.name)?.version]));
            expect(published).toEqual(fromScratch(config, registry, clock.now()));
          }
        } finally {
          watcher.stop();
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('an incremental build after a master is fenced', () => {
  it('re-sends that shard\'s masters listener, renamed, and no other listener', () => {
    const config = configs['masters listeners named after their masters'];
    const clock = new FakeClock();
    const registry = new MemoryRegistry({ ...config.registry, portPools: portPools(config), clock });
    const cache = new SnapshotCache();
    const watcher = new Watcher({ config, registry, cache, clock, logger: pino({ level: 'silent' }) });
    const listenerVersions = (group: string) => Object.fromEntries([...cache.get(group)!.sets[LISTENER].items].map(([name, r]) => [name, r.version]));
    watcher.start();
    try {
      for (const id of ['m1', 'm2']) registry.record(heartbeat({ id, address: `10.0.0.${id.slice(1)}:9000`, shard: 's0', role: 'master', epoch: 1 }));
      registry.record(heartbeat({ id: 's1m', address: '10.0.1.1:9000', shard: 's1', role: 'master', epoch: 1 }));
      watcher.rebuild();
      const before = listenerVersions('a1');
      registry.record(heartbeat({ id: 'm2', address: '10.0.0.2:9000', shard: 's0', role: 'master', epoch: 2 }));
      watcher.rebuild();
      const after = listenerVersions('a1');
      expect(Object.keys(after).filter((name) => after[name] !== before[name])).toEqual(['s0-masters']);
      expect(cache.get('a1')!.version).toBe(fromScratch(config, registry, clock.now()).a1);
    } finally {
      watcher.stop();
    }
  });
});

describe('groups alike but for their name, with per-node ports', () => {
  it('are built apart: each is published with its own ports, which differ once a reload adds one', () => {
    const group = (name: string) => ({ name, database: 'kafka', advertisedHost: 'k.example.com', bootstrapListener: '0.0.0.0:9091', nodeListeners: { ports: '6001-6004' }, shards: [] });
    const registryConfig = { leaseSeconds: 10, expiredRetentionSeconds: 20, selfPreservation: { enabled: false } };
    const before = parseConfig({ registry: registryConfig, groups: [group('k1')] }, 'test');
    const after = parseConfig({ registry: registryConfig, groups: [group('k1'), group('k2')] }, 'test');
    const clock = new FakeClock();
    const registry = new MemoryRegistry({ ...before.registry, portPools: portPools(before), clock });
    const cache = new SnapshotCache();
    const watcher = new Watcher({ config: before, registry, cache, clock, logger: pino({ level: 'silent' }) });
    const beat = (id: string, addr: number) => registry.record(heartbeat({ id, address: `10.0.0.${addr}:9000`, database: 'kafka', shard: 's0' }));
    watcher.start();
    try {
      beat('a', 1);
      beat('b', 2);
      registry.forget('a'); // k1 keeps 6001 for a
      beat('c', 3); // k1: b 6002, c 6003
      watcher.rebuild();
      registry.reconfigure({ ...after.registry, portPools: portPools(after) });
      watcher.reconfigure(after);
      beat('b', 2);
      beat('c', 3); // k2 starts empty: b 6001, c 6002
      watcher.rebuild();
      const portsOf = (g: string) => ['b', 'c'].map((id) => registry.ports.portOf(g, id)?.port);
      expect([portsOf('k1'), portsOf('k2')]).toEqual([
        [6002, 6003],
        [6001, 6002],
      ]);
      const published = Object.fromEntries(after.groups.map((g) => [g.name, cache.get(g.name)?.version]));
      expect(published).toEqual(fromScratch(after, registry, clock.now()));
      expect(published.k1).not.toBe(published.k2);
    } finally {
      watcher.stop();
    }
  });
});

describe('the encoding memo', () => {
  it('is cleared by a full build once superseded contents pile up, and the published snapshot stays the same', () => {
    const config = configs['masters listeners named after their masters'];
    const clock = new FakeClock();
    const registry = new MemoryRegistry({ ...config.registry, portPools: portPools(config), clock });
    const cache = new SnapshotCache();
    const watcher = new Watcher({ config, registry, cache, clock, logger: pino({ level: 'silent' }) });
    const full: number[] = [];
    watcher.observe((event) => {
      if (event.full) full.push(1);
    });
    watcher.start();
    try {
      // Every build gives the replica a new address: a new load assignment each time, the old one superseded.
      for (let i = 0; i < 3_000 && full.length < 2; i++) {
        registry.record(heartbeat({ id: 'r', address: `10.${Math.floor(i / 250)}.${i % 250}.1:9000`, shard: 's0' }));
        watcher.rebuild();
      }
      expect(full).toHaveLength(2); // the first build, and one that cleared the memo
      expect(cache.get('a1')!.version).toBe(fromScratch(config, registry, clock.now()).a1);
    } finally {
      watcher.stop();
    }
  });
});
