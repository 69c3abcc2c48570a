/**
 * Contract 11: a masters listener's filter chain is named after the routable masters of its
 * cluster, so that Envoy drains (and closes) the connections opened before the set changes.
 * The name must change exactly when a master leaves or joins routing, and never otherwise:
 * every needless change would cut every client of that shard.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Heartbeat } from '../../src/registry/node.js';
import { assessHealth } from '../../src/registry/health.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { portPools } from '../../src/registry/ports.js';
import { buildTopology } from '../../src/topology/build.js';
import { connectionGeneration } from '../../src/topology/connection-generation.js';
import type { ListenerIR } from '../../src/topology/ir.js';
import { translateListener } from '../../src/translator/translate.js';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

const base = {
  registry: { leaseSeconds: 10, expiredRetentionSeconds: 20, selfPreservation: { enabled: false } },
  groups: [
    {
      name: 'edge',
      shards: [
        { name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] },
        { name: 'shard1', listen: '0.0.0.0:10010', clusters: ['shard1-masters'] },
        { name: 'shard2', listen: '0.0.0.0:10020', clusters: ['shard2-masters', 'shard2-replicas'], protocol: 'http2' },
      ],
    },
    // Reaches every node of the same database from another network (contract 6).
    { name: 'ext', advertisedHost: 'db.example.com', bootstrapListener: '0.0.0.0:9091', nodeListeners: { ports: '6001-6009' }, shards: [] },
  ],
};

type Beat = Partial<Omit<Heartbeat, 'host' | 'port'>> & { id: string };

const m1: Beat = { id: 'm1', address: '10.0.0.1:9000', role: 'master', epoch: 1 };
const m2: Beat = { id: 'm2', address: '10.0.0.2:9000', role: 'master', epoch: 1 };
const r1: Beat = { id: 'r1', address: '10.0.0.3:9000', role: 'replica', epoch: 1 };
const s1m: Beat = { id: 's1-m', address: '10.0.1.1:9000', shard: 'shard1', role: 'master', epoch: 1 };

/** A registry on a fake clock, and what the groups see of it now. */
function world(xds: Record<string, unknown> = {}) {
  const config = parseConfig({ ...base, xds }, 'test');
  const clock = new FakeClock();
  const registry = new MemoryRegistry({ ...config.registry, portPools: portPools(config), clock });
  const listeners = (group = 'edge'): ListenerIR[] => {
    const nodes = registry.list();
    const topology = buildTopology(config, { nodes, health: assessHealth(nodes, clock.now(), registry.leaseMs), ports: registry.ports });
    return [...topology.get(group)!.listeners];
  };
  const listener = (name: string, group = 'edge') => listeners(group).find((l) => l.name === name);
  return {
    clock,
    registry,
    listeners,
    beat: (...beats: Beat[]) => beats.forEach((b) => registry.record(heartbeat(b))),
    /** The filter chain name Envoy gets for a listener, from the translated resource. */
    chainName: (name: string, group = 'edge') => chainNameOf(listener(name, group)),
    generation: (name = 'shard0-masters') => {
      const found = listener(name);
      return found?.kind === 'tcp' ? found.connectionGeneration : undefined;
    },
  };
}

function chainNameOf(listener: ListenerIR | undefined): unknown {
  if (!listener) throw new Error('no such listener');
  const message = translateListener(listener).message as { filter_chains?: Array<{ name?: string }> };
  return message.filter_chains?.[0]?.name;
}

describe('the filter chain name of a masters listener', () => {
  it('is set on tcp listeners to -masters clusters only, and is what Envoy gets as the chain name', () => {
    const w = world();
    w.beat(m1, r1, s1m, { ...m1, id: 's2-m', address: '10.0.2.1:9000', shard: 'shard2' });
    expect(w.generation()).toBe(connectionGeneration(['m1']));
    expect(w.chainName('shard0-masters')).toBe(connectionGeneration(['m1']));
    expect(w.chainName('shard1-masters')).toBe(connectionGeneration(['s1-m']));
    // Replicas, http2 listeners (routed per request), bootstrap and per-node listeners: none.
    expect(w.chainName('shard0-replicas')).toBeUndefined();
    expect(w.chainName('shard2')).toBeUndefined();
    expect(w.chainName('bootstrap', 'ext')).toBeUndefined();
    expect(w.chainName('node-m1', 'ext')).toBeUndefined();
  });

  it('is a function of the set of ids alone: any order, any registry, empty included', () => {
    expect(connectionGeneration(['b', 'a'])).toBe(connectionGeneration(['a', 'b']));
    expect(connectionGeneration(['a', 'b'])).not.toBe(connectionGeneration(['a']));
    expect(connectionGeneration(['a,b'])).not.toBe(connectionGeneration(['a', 'b']));
    expect(connectionGeneration([])).toBe('masters-none');
    expect(connectionGeneration(['m1'])).toMatch(/^masters-[0-9a-f]{16}$/);

    const one = world();
    const other = world();
    one.beat(m1, m2, r1);
    other.beat(r1, m2, m1);
    expect(other.generation()).toBe(one.generation());
    expect(world().generation()).toBe('masters-none');
  });

  describe('changes when a master leaves routing', () => {
    it('fenced: a higher epoch appears in the shard', () => {
      const w = world();
      w.beat(m1, m2);
      const before = w.generation();
      w.beat({ ...m2, epoch: 2 });
      expect(w.generation()).toBe(connectionGeneration(['m2']));
      expect(w.generation()).not.toBe(before);
    });

    it('inactive', () => {
      const w = world();
      w.beat(m1, m2);
      const before = w.generation();
      w.beat({ ...m1, status: 'inactive' });
      expect(w.generation()).toBe(connectionGeneration(['m2']));
      expect(before).toBe(connectionGeneration(['m1', 'm2']));
    });

    it('expired: its lease ran out', () => {
      const w = world();
      w.beat(m1, m2);
      w.clock.advance(6_000);
      w.beat(m2);
      w.clock.advance(6_000);
      expect(w.generation()).toBe(connectionGeneration(['m2']));
    });

    it('forgotten', () => {
      const w = world();
      w.beat(m1, m2);
      w.registry.forget('m1');
      expect(w.generation()).toBe(connectionGeneration(['m2']));
    });

    it('replaced: another node becomes the master', () => {
      const w = world();
      w.beat(m1, { ...m2, role: 'replica' });
      const before = w.generation();
      w.beat({ ...m1, role: 'replica' }, m2);
      expect(w.generation()).not.toBe(before);
      expect(w.generation()).toBe(connectionGeneration(['m2']));
    });

    it('the last one: the empty set has its own name', () => {
      const w = world();
      w.beat(m1);
      w.beat({ ...m1, status: 'inactive' });
      expect(w.generation()).toBe('masters-none');
    });
  });

  describe('stays when no master leaves or joins', () => {
    it('a replica comes, changes or goes', () => {
      const w = world();
      w.beat(m1);
      const before = w.generation();
      w.beat(r1);
      expect(w.generation()).toBe(before);
      w.beat({ ...r1, status: 'draining', address: '10.0.0.9:9000' });
      expect(w.generation()).toBe(before);
      w.beat({ ...r1, status: 'inactive' });
      expect(w.generation()).toBe(before);
    });

    it('another shard changes', () => {
      const w = world();
      w.beat(m1, s1m, { ...s1m, id: 's1-m2', address: '10.0.1.2:9000' });
      const before = w.generation();
      const shard1 = w.generation('shard1-masters');
      w.beat({ ...s1m, epoch: 2 });
      expect(w.generation('shard1-masters')).not.toBe(shard1);
      expect(w.generation()).toBe(before);
    });

    it('the same master is re-elected with a higher epoch, or moves, or starts draining', () => {
      const w = world();
      w.beat(m1);
      const before = w.generation();
      w.beat({ ...m1, epoch: 2 });
      expect(w.generation()).toBe(before);
      w.beat({ ...m1, epoch: 2, address: '10.0.0.7:9000' });
      expect(w.generation()).toBe(before);
      // Draining is still routable (sent as DRAINING): its connections close when it goes inactive.
      w.beat({ ...m1, epoch: 2, status: 'draining' });
      expect(w.generation()).toBe(before);
    });

    it('xds.fencedConnectionCloseSeconds is 0: no name at all, whatever happens', () => {
      const w = world({ fencedConnectionCloseSeconds: 0 });
      w.beat(m1, m2);
      expect(w.chainName('shard0-masters')).toBeUndefined();
      const before = w.listeners();
      w.beat({ ...m2, epoch: 2 });
      w.registry.forget('m2');
      expect(w.listeners()).toEqual(before);
    });
  });

  it('a fenced master also loses its per-node listener, which Envoy drains in the same way', () => {
    const w = world();
    w.beat(m1, m2);
    expect(w.listeners('ext').map((l) => l.name)).toEqual(['bootstrap', 'node-m1', 'node-m2']);
    w.beat({ ...m2, epoch: 2 });
    expect(w.listeners('ext').map((l) => l.name)).toEqual(['bootstrap', 'node-m2']);
  });
});
