/**
 * `shardvoy state import`'s plan, without etcd: what a state file becomes in the etcd store is
 * what the memory store makes of it at start (same nodes, same ports, same entries dropped with
 * the same reasons); what etcd already holds is kept and named; transactions stay within etcd's
 * 128 operations and never split a node from its alive key and ports.
 */
import { describe, expect, it } from 'vitest';
import { EtcdKeys } from '../../src/registry/etcd/keys.js';
import { batchUnits, planImport, unitOps, type ExistingEntries, type ImportUnit } from '../../src/registry/etcd/state-import.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import type { PortAssignment, PortPool } from '../../src/registry/ports.js';
import { parseState, serializeState } from '../../src/registry/state-file.js';
import { FakeClock } from '../support/fake-clock.js';

const pools: PortPool[] = [{ group: 'external', database: 'default', frontEnds: [{ advertisedHost: 'kafka.test.com', firstPort: 6001, lastPort: 6003 }] }];
const node = (id: string, host: string, extra: Record<string, unknown> = {}) => ({
  id,
  address: `${host}:9092`,
  host,
  port: 9092,
  database: 'default',
  shard: 'shard0',
  role: 'replica',
  status: 'active',
  epoch: 0,
  labels: {},
  firstSeenMs: 0,
  ...extra,
});
const port = (nodeId: string, p: number, releasedAtMs?: number) => ({ group: 'external', nodeId, port: p, advertisedHost: 'kafka.test.com', ...(releasedAtMs === undefined ? {} : { releasedAtMs }) });
const NONE: ExistingEntries = { nodes: new Set(), ports: new Map() };
const NOW = Date.UTC(2026, 0, 1);
const options = { portPools: pools, portReuseSeconds: 86_400, nowMs: NOW };

function fileOf(nodes: unknown[], ports: unknown[]) {
  const parsed = parseState(JSON.stringify({ version: 1, savedAt: 'x', nodes, ports }));
  if (parsed.kind !== 'loaded') throw new Error(parsed.reason);
  return parsed;
}

const written = (units: readonly ImportUnit[]) => ({
  nodes: units.flatMap((u) => (u.node ? [u.node.id] : [])),
  ports: units.flatMap((u) => u.ports.map((p) => `${p.assignment.nodeId}@${p.assignment.port}${p.assignment.releasedAtMs === undefined ? '' : ' released'}`)),
});

describe('planImport', () => {
  it('makes of a state file what the memory store makes of it at start: the same nodes, ports and dropped entries', () => {
    const file = fileOf(
      [node('b1', '10.0.0.1'), { ...node('b2', '10.0.0.2'), id: 'fake\nrow' }, node('b3', '10.0.0.3', { epoch: 1e300 }), node('b4', '10.0.0.4'), node('b5', '10.0.0.5')],
      [port('b1', 6003), port('b4', 6003), port('b4', 7000), port('gone', 6002, NOW - 1000)],
    );
    const plan = planImport(file, NONE, options);

    const clock = new FakeClock(NOW);
    const memory = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, portReuseSeconds: 86_400, portPools: pools, clock });
    const memoryDropped = [...file.dropped, ...memory.restore(file.state)];

    expect(plan.dropped).toEqual(memoryDropped);
    expect(plan.dropped.map((d) => d.reason)).toEqual([
      expect.stringContaining('nodes[1].id: must match pattern'),
      expect.stringContaining('nodes[2].epoch: must be <= 9007199254740991'),
      'port 6003 is held by node "b1"',
      'port 7000 is outside the node-listener ranges of group external (6001..6003)',
    ]);
    expect(plan.units.flatMap((u) => (u.node ? [u.node] : []))).toEqual(memory.state().nodes);
    const ports = plan.units.flatMap((u) => u.ports.map((p) => p.assignment));
    const byKey = (list: readonly PortAssignment[]) => [...list].map((p) => ({ ...p, releasedAtMs: p.releasedAtMs })).sort((a, b) => a.port - b.port);
    expect(byKey(ports)).toEqual(byKey(memory.state().ports));
    // b4 and b5 had no port left: the lowest free ones, as at start; the forgotten node keeps its held one.
    expect(written(plan.units)).toEqual({ nodes: ['b1', 'b4', 'b5'], ports: ['b1@6003', 'b4@6001', 'gone@6002 released'] });
    expect(plan.existing).toEqual([]);
  });

  it('puts each node in one unit with its ports, and the ports of nodes not in the file in units of their own, every key create-only', () => {
    const plan = planImport(fileOf([node('b1', '10.0.0.1'), node('b2', '10.0.0.2')], [port('b2', 6002), port('gone', 6003, NOW - 1000)]), NONE, options);
    expect(plan.units.map((u) => [u.node?.id, u.ports.map((p) => p.assignment.port)])).toEqual([
      ['b1', [6001]],
      ['b2', [6002]],
      [undefined, [6003]],
    ]);
    expect(plan.units.flatMap((u) => u.ports.map((p) => p.modRevision))).toEqual([undefined, undefined, undefined]);
    expect(plan.units.map(unitOps)).toEqual([3, 3, 1]);
  });

  it('with what etcd holds: nodes there are kept (and their ports), ports etcd gives another node are refused naming it', () => {
    const existing: ExistingEntries = {
      nodes: new Set(['b1']),
      ports: new Map([
        ['external/6001', { assignment: { group: 'external', nodeId: 'b1', port: 6001, advertisedHost: 'kafka.test.com', releasedAtMs: undefined }, modRevision: 7 }],
        ['external/6002', { assignment: { group: 'external', nodeId: 'x9', port: 6002, advertisedHost: 'kafka.test.com', releasedAtMs: undefined }, modRevision: 8 }],
      ]),
    };
    const plan = planImport(fileOf([node('b1', '10.0.0.1'), node('b2', '10.0.0.2')], [port('b1', 6001), port('b2', 6002)]), existing, options);
    expect(plan.existing).toEqual([
      { entry: 'node "b1"', reason: 'already in etcd; kept as it is there' },
      { entry: 'port of node "b1" in group "external"', reason: 'its node is already in etcd; its ports there stay' },
    ]);
    expect(plan.dropped).toEqual([{ entry: 'port of node "b2" in group "external"', reason: 'port 6002 is held by node "x9"' }]);
    // b2 gets the one port left, as a start would give it; etcd's entries are not written again.
    expect(written(plan.units)).toEqual({ nodes: ['b2'], ports: ['b2@6003'] });
  });

  it("takes over a port etcd holds for a node forgotten long ago only if it is still as read (a compare on its revision)", () => {
    const old = NOW - 2 * 86_400_000;
    const existing: ExistingEntries = {
      nodes: new Set(),
      ports: new Map([['external/6001', { assignment: { group: 'external', nodeId: 'old', port: 6001, advertisedHost: 'kafka.test.com', releasedAtMs: old }, modRevision: 42 }]]),
    };
    const plan = planImport(fileOf([node('b1', '10.0.0.1')], []), existing, options);
    expect(plan.units).toHaveLength(1);
    expect(plan.units[0]!.ports).toEqual([{ assignment: { group: 'external', nodeId: 'b1', port: 6001, advertisedHost: 'kafka.test.com', releasedAtMs: undefined }, modRevision: 42 }]);
  });

  it('writes nothing for entries etcd holds exactly so (a second run after a complete one)', () => {
    const file = fileOf([node('b1', '10.0.0.1')], [port('b1', 6001)]);
    const first = planImport(file, NONE, options);
    const ports = new Map(first.units.flatMap((u) => u.ports.map((p) => [`${p.assignment.group}/${p.assignment.port}`, { assignment: p.assignment, modRevision: 3 }] as const)));
    const again = planImport(file, { nodes: new Set(['b1']), ports }, options);
    expect(again.units).toEqual([]);
    expect(again.existing.map((e) => e.entry)).toEqual(['node "b1"', 'port of node "b1" in group "external"']);
  });
});

describe('batchUnits', () => {
  const keys = new EtcdKeys('/shardvoy/');
  const many = (count: number) => {
    const nodes = Array.from({ length: count }, (_, i) => node(`n${i}`, `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`));
    return planImport(fileOf(nodes, []), NONE, { ...options, portPools: [{ ...pools[0]!, frontEnds: [{ advertisedHost: 'k', firstPort: 10_000, lastPort: 20_000 }] }] }).units;
  };

  it('keeps every transaction within 128 operations, in order, never splitting a node from its alive key and ports', () => {
    const units = many(300); // 3 operations each: node, alive, port
    const batches = batchUnits(units, keys);
    expect(batches.map((b) => b.reduce((sum, u) => sum + unitOps(u), 0))).toEqual([126, 126, 126, 126, 126, 126, 126, 18]);
    expect(batches.flat()).toEqual(units);
  });

  it('one transaction when everything fits; none for nothing', () => {
    expect(batchUnits(many(42), keys)).toHaveLength(1);
    expect(batchUnits([], keys)).toEqual([]);
  });

  it('also bounds the bytes of a transaction (etcd refuses requests over 1.5 MiB)', () => {
    // The largest labels a heartbeat may carry (32 pairs of 256 characters): 64 such nodes are
    // 128 operations, but more than 1 MiB.
    const big = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`${i}`.padStart(256, 'k'), 'v'.repeat(256)]));
    const nodes = Array.from({ length: 64 }, (_, i) => node(`n${i}`, `10.0.0.${i + 1}`, { labels: big }));
    const units = planImport(fileOf(nodes, []), NONE, { ...options, portPools: [] }).units;
    expect(units).toHaveLength(64);
    const batches = batchUnits(units, keys);
    expect(batches).toHaveLength(2);
    for (const batch of batches) {
      const bytes = batch.reduce((sum, u) => sum + JSON.stringify(u.node).length, 0);
      expect(bytes).toBeLessThan(1024 * 1024);
    }
    expect(batches.flat()).toEqual(units);
  });
});

describe('serializeState -> planImport', () => {
  it('imports what a memory store saved, maintenance and first-seen times included', () => {
    const clock = new FakeClock(NOW);
    const memory = new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, portPools: pools, clock });
    memory.restore({ nodes: [{ ...fileOf([node('m1', '10.0.0.9')], []).state.nodes[0]!, firstSeenMs: 123, maintenance: { reason: 'disk swap', sinceMs: 456 } }], ports: [] });
    const parsed = parseState(serializeState(memory.state(), clock.now()));
    if (parsed.kind !== 'loaded') throw new Error(parsed.reason);
    const plan = planImport(parsed, NONE, options);
    expect(plan.units[0]!.node).toMatchObject({ id: 'm1', firstSeenMs: 123, maintenance: { reason: 'disk swap', sinceMs: 456 } });
    expect(plan.units[0]!.ports.map((p) => p.assignment.port)).toEqual([6001]);
  });
});
