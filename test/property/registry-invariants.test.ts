/**
 * Property tests of the routing pipeline: random sequences of heartbeats, clock advances, forgets
 * and sweeps on a MemoryRegistry with a FakeClock. After every step the topology is built (as the
 * watcher does: buildTopology over assessHealth at clock.now()) and checked against a model of the
 * registry kept by the test itself, whose verdicts follow docs/heartbeat-rules.md: 2 (liveness,
 * retention), 3 (who is routable, fencing), 4 (what each group receives), 5 (per-node ports) and
 * 7 (versions):
 *  - no endpoint of any cluster (shard, bootstrap or per-node) belongs to a node whose verdict is
 *    fenced, expired or inactive, nor to a node of another database, shard or role;
 *  - every master endpoint has the highest epoch among the live masters of its shard;
 *  - a draining node is sent only as DRAINING, a healthy one never is; priorities follow the DC;
 *  - a node appears at most once per cluster, and every routable node is where it belongs;
 *  - per-node ports are stable, unique, the lowest free, and reused only after portReuseSeconds;
 *  - every resource encodes, passes Envoy's validate rules and the snapshot is consistent;
 *  - the same operations give the same snapshot versions (determinism), a version changes exactly
 *    when the topology does, and heartbeats of one instant give the same snapshot in any order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config, GroupConfig } from '../../src/config/types.js';
import { validateEncoded } from '../../src/envoy-api/pgv.js';
import { messageNameOf } from '../../src/envoy-api/type-urls.js';
import { assessHealth } from '../../src/registry/health.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import type { Health, NodeRecord, NodeStatus, Role } from '../../src/registry/node.js';
import { portPools } from '../../src/registry/ports.js';
import { consistencyErrors } from '../../src/snapshot/consistency.js';
import { buildSnapshot, encodeResource } from '../../src/snapshot/snapshot.js';
import { buildTopology } from '../../src/topology/build.js';
import type { GroupTopology } from '../../src/topology/ir.js';
import { translateGroup } from '../../src/translator/translate.js';
import { FakeClock } from '../support/fake-clock.js';
import { heartbeat } from '../support/heartbeats.js';

// ---------------------------------------------------------------------------------------------
// The fixed configuration: two groups, two shards each, masters and replicas, DCs, a port pool

const LEASE_SECONDS = 10;
const RETENTION_SECONDS = 20;
const PORT_REUSE_SECONDS = 30;
const LEASE_MS = LEASE_SECONDS * 1000;
const RETENTION_MS = RETENTION_SECONDS * 1000;
const REUSE_MS = PORT_REUSE_SECONDS * 1000;
const POOL_GROUP = 'external';
const POOL_PORTS = [6001, 6002, 6003];

const RAW_CONFIG = {
  registry: { leaseSeconds: LEASE_SECONDS, expiredRetentionSeconds: RETENTION_SECONDS, portReuseSeconds: PORT_REUSE_SECONDS },
  groups: [
    {
      name: 'edge',
      dc: 'dc1',
      database: 'db1',
      shards: [
        { name: 's0', listen: '0.0.0.0:10000', clusters: ['s0-masters', 's0-replicas'] },
        { name: 's1', listen: '0.0.0.0:10010', clusters: ['s1-masters', 's1-slaves'], protocol: 'http2' },
      ],
    },
    {
      name: POOL_GROUP,
      database: 'db2',
      advertisedHost: 'kafka.test.com',
      bootstrapListener: '0.0.0.0:9091',
      nodeListeners: { ports: `${POOL_PORTS[0]}-${POOL_PORTS[POOL_PORTS.length - 1]}` },
      shards: [
        { name: 's0', listen: '0.0.0.0:11000', clusters: ['s0-masters', 's0-replicas'] },
        { name: 's1', listen: '0.0.0.0:11010', clusters: ['s1-replicas', 's1-masters'] },
      ],
    },
  ],
};

// ---------------------------------------------------------------------------------------------
// Operations

const IDS = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'dkv@a:1', 'n.7'];
/** Addresses with their host and port written out here; `ip: false` marks a DNS name. */
const ADDRESSES = [
  { address: '10.0.0.1:9000', host: '10.0.0.1', port: 9000, ip: true },
  { address: '10.0.0.2:9000', host: '10.0.0.2', port: 9000, ip: true },
  { address: '10.0.0.2:9001', host: '10.0.0.2', port: 9001, ip: true },
  { address: '10.0.0.3:65535', host: '10.0.0.3', port: 65535, ip: true },
  { address: '[fd00::1]:9000', host: 'fd00::1', port: 9000, ip: true },
  { address: '[::ffff:10.0.0.9]:1', host: '::ffff:10.0.0.9', port: 1, ip: true },
  { address: 'dkv-1.svc.local:9000', host: 'dkv-1.svc.local', port: 9000, ip: false },
] as const;

interface Beat {
  readonly kind: 'heartbeat';
  readonly id: string;
  readonly addr: number;
  readonly database: string;
  readonly shard: string;
  readonly role: Role;
  readonly status: NodeStatus;
  readonly dc: string | undefined;
  readonly epoch: number;
  readonly labels: Record<string, string>;
}
type Op = Beat | { readonly kind: 'advance'; readonly ms: number } | { readonly kind: 'forget'; readonly id: string } | { readonly kind: 'sweep' };

const beatArb: fc.Arbitrary<Beat> = fc.record({
  kind: fc.constant('heartbeat' as const),
  id: fc.constantFrom(...IDS),
  addr: fc.nat({ max: ADDRESSES.length - 1 }),
  database: fc.constantFrom('db1', 'db1', 'db2', 'db2', 'db3'),
  shard: fc.constantFrom('s0', 's0', 's1', 's2'),
  role: fc.constantFrom<Role>('master', 'replica'),
  status: fc.constantFrom<NodeStatus>('active', 'active', 'active', 'draining', 'inactive'),
  dc: fc.constantFrom('dc1', 'dc2', undefined),
  epoch: fc.nat({ max: 4 }),
  labels: fc.constantFrom<Record<string, string>>({}, { rack: 'r1' }, { rack: 'r2', zone: 'z' }),
});
/** 0..30 s: whole seconds, any millisecond, and the lease and retention boundaries to the millisecond. */
const advanceArb = fc
  .oneof(
    fc.integer({ min: 0, max: 30 }).map((s) => s * 1000),
    fc.integer({ min: 0, max: 30_000 }),
    fc.constantFrom(1, LEASE_MS - 1, LEASE_MS, LEASE_MS + 1, LEASE_MS + RETENTION_MS, LEASE_MS + RETENTION_MS + 1 - 30_000, REUSE_MS - 1),
  )
  .map((ms) => ({ kind: 'advance' as const, ms }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: beatArb },
  { weight: 3, arbitrary: advanceArb },
  { weight: 1, arbitrary: fc.constantFrom(...IDS).map((id) => ({ kind: 'forget' as const, id })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'sweep' as const }) },
);
const opsArb = fc.array(opArb, { minLength: 1, maxLength: 40 });

// ---------------------------------------------------------------------------------------------
// The model: what the registry should hold, and the contract's verdicts

interface ModelNode {
  readonly beat: Beat;
  readonly lastMs: number;
  /** When the registry first heard of it: kept by later heartbeats, reset once it is forgotten. */
  readonly firstMs: number;
}

/** docs/heartbeat-rules.md 2: live from a heartbeat until leaseSeconds after the last one (inclusive). */
const isLive = (n: ModelNode, now: number) => now - n.lastMs <= LEASE_MS;

/** docs/heartbeat-rules.md 3, on the model alone. Inactive masters are live, so their term fences older ones. */
function oracleVerdicts(nodes: ReadonlyMap<string, ModelNode>, now: number): Map<string, Health> {
  const top = topEpochs(nodes, now);
  const verdicts = new Map<string, Health>();
  for (const [id, n] of nodes) {
    const b = n.beat;
    let v: Health;
    if (!isLive(n, now)) v = 'expired';
    else if (b.status === 'inactive') v = 'inactive';
    else if (b.role === 'master' && b.epoch < (top.get(`${b.database}/${b.shard}`) ?? 0)) v = 'fenced';
    else v = b.status === 'draining' ? 'draining' : 'healthy';
    verdicts.set(id, v);
  }
  return verdicts;
}

/** The highest epoch among the live masters of each (database, shard). */
function topEpochs(nodes: ReadonlyMap<string, ModelNode>, now: number): Map<string, number> {
  const top = new Map<string, number>();
  for (const n of nodes.values()) {
    if (n.beat.role !== 'master' || !isLive(n, now)) continue;
    const key = `${n.beat.database}/${n.beat.shard}`;
    top.set(key, Math.max(top.get(key) ?? -1, n.beat.epoch));
  }
  return top;
}

const routable = (v: Health | undefined) => v === 'healthy' || v === 'draining';

/** Per-node ports of the pool group, as observed step after step (docs/heartbeat-rules.md 5). */
interface PortModel {
  /** The port each known node of the pool's database holds. */
  readonly held: Map<string, number>;
  /** Ports whose owner was forgotten (or left the database), and when. */
  readonly released: Map<number, { owner: string; atMs: number }>;
}

interface World {
  readonly config: Config;
  readonly clock: FakeClock;
  readonly registry: MemoryRegistry;
  readonly model: Map<string, ModelNode>;
  readonly ports: PortModel;
  /** Snapshot version per group topology already encoded (encoding is pure, and slow; the determinism property encodes afresh). */
  readonly encoded: Map<string, string>;
}

const ENCODED = new Map<string, string>();

function newWorld(): World {
  const config = parseConfig(RAW_CONFIG, 'property');
  const clock = new FakeClock();
  const registry = new MemoryRegistry({ ...config.registry, portPools: portPools(config), clock });
  return { config, clock, registry, model: new Map(), ports: { held: new Map(), released: new Map() }, encoded: ENCODED };
}

function releasePort(w: World, id: string): void {
  const port = w.ports.held.get(id);
  if (port === undefined) return;
  w.ports.held.delete(id);
  w.ports.released.set(port, { owner: id, atMs: w.clock.now() });
}

function apply(w: World, op: Op): void {
  const now = w.clock.now();
  switch (op.kind) {
    case 'heartbeat': {
      const a = ADDRESSES[op.addr]!;
      const { kind: _kind, addr: _addr, ...fields } = op;
      w.registry.record(heartbeat({ ...fields, address: a.address }));
      const previous = w.model.get(op.id);
      if (previous && previous.beat.database !== op.database) releasePort(w, op.id);
      w.model.set(op.id, { beat: op, lastMs: now, firstMs: previous?.firstMs ?? now });
      return;
    }
    case 'advance':
      w.clock.advance(op.ms);
      return;
    case 'forget': {
      const forgotten = w.registry.forget(op.id);
      expect(forgotten?.id).toBe(w.model.has(op.id) ? op.id : undefined);
      w.model.delete(op.id);
      releasePort(w, op.id);
      return;
    }
    case 'sweep': {
      // docs/heartbeat-rules.md 2: expired nodes are forgotten expiredRetentionSeconds after they expired.
      const expected = [...w.model].filter(([, n]) => now - n.lastMs > LEASE_MS + RETENTION_MS).map(([id]) => id);
      expect([...w.registry.sweep()].sort()).toEqual(expected.sort());
      for (const id of expected) {
        w.model.delete(id);
        releasePort(w, id);
      }
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The invariants, checked after every step

type ClusterKind = { kind: 'shard'; shard: string; role: Role } | { kind: 'bootstrap' } | { kind: 'node'; id: string };

function classify(group: GroupConfig, name: string): ClusterKind {
  for (const shard of group.shards) {
    for (const cluster of shard.clusters) {
      if (cluster !== name) continue;
      if (name === `${shard.name}-masters`) return { kind: 'shard', shard: shard.name, role: 'master' };
      if (name === `${shard.name}-replicas` || name === `${shard.name}-slaves`) return { kind: 'shard', shard: shard.name, role: 'replica' };
    }
  }
  if (name === 'bootstrap' && group.bootstrapListener) return { kind: 'bootstrap' };
  if (name.startsWith('node-') && group.nodeListeners) return { kind: 'node', id: name.slice('node-'.length) };
  throw new Error(`group ${group.name}: unexpected cluster "${name}"`);
}

const ids = (xs: Iterable<{ nodeId: string } | string>) => [...xs].map((x) => (typeof x === 'string' ? x : x.nodeId)).sort();

/** Checks the registry, the verdicts and the topology of one instant; returns the snapshot version per group. */
function checkStep(w: World, op: Op, step: string): { versions: Record<string, string>; topologies: Record<string, string> } {
  const now = w.clock.now();
  const list = w.registry.list();

  // The registry holds what the model holds.
  expect(list.map((n) => n.id), step).toEqual([...w.model.keys()].sort());
  for (const n of list) {
    const m = w.model.get(n.id)!;
    const a = ADDRESSES[m.beat.addr]!;
    const { kind: _k, addr: _a, ...fields } = m.beat;
    expect({ ...n, labels: { ...n.labels } }, step).toEqual({ ...fields, address: a.address, host: a.host, port: a.port, firstSeenMs: m.firstMs, lastHeartbeatMs: m.lastMs });
  }

  // The verdicts are the contract's.
  const verdicts = oracleVerdicts(w.model, now);
  const health = assessHealth(list, now, w.registry.leaseMs);
  expect(new Map([...health].sort()), step).toEqual(new Map([...verdicts].sort()));

  const topology = buildTopology(w.config, { nodes: list, health, ports: w.registry.ports });
  const top = topEpochs(w.model, now);
  const versions: Record<string, string> = {};
  const topologies: Record<string, string> = {};
  expect([...topology.keys()].sort()).toEqual(w.config.groups.map((g) => g.name).sort());

  observePorts(w, op.kind === 'heartbeat' ? op.id : undefined, step);

  for (const group of w.config.groups) {
    const gt = topology.get(group.name)!;
    const where = `${step}, group ${group.name}`;
    const sendable = (id: string) => {
      const m = w.model.get(id);
      return m !== undefined && m.beat.database === group.database && routable(verdicts.get(id)) && ADDRESSES[m.beat.addr]!.ip;
    };

    for (const cluster of gt.clusters) {
      const at = `${where}, cluster ${cluster.name}`;
      const kind = classify(group, cluster.name);
      // Each node at most once per cluster.
      expect(new Set(ids(cluster.endpoints)).size, at).toBe(cluster.endpoints.length);
      for (const e of cluster.endpoints) {
        const m = w.model.get(e.nodeId);
        expect(m, `${at}: endpoint of unknown node ${e.nodeId}`).toBeDefined();
        const b = m!.beat;
        const a = ADDRESSES[b.addr]!;
        const verdict = verdicts.get(e.nodeId);
        // Never a fenced, expired or inactive node; never one of another database.
        expect(routable(verdict), `${at}: ${e.nodeId} is ${verdict}`).toBe(true);
        expect(b.database, `${at}: ${e.nodeId}`).toBe(group.database);
        // Sent as DRAINING exactly when draining; where the node said it is; priority by DC.
        expect(e.draining, `${at}: ${e.nodeId} draining flag`).toBe(verdict === 'draining');
        expect([e.host, e.port], at).toEqual([a.host, a.port]);
        expect(e.zone, at).toBe(b.dc);
        expect(e.priority, at).toBe(group.dc === undefined || b.dc === group.dc ? 0 : 1);
        if (kind.kind === 'shard') {
          expect([b.shard, b.role], `${at}: ${e.nodeId}`).toEqual([kind.shard, kind.role]);
          if (b.role === 'master') expect(b.epoch, `${at}: master ${e.nodeId} is not of the highest live epoch`).toBe(top.get(`${b.database}/${b.shard}`));
        }
        if (kind.kind === 'node') expect(e.nodeId, at).toBe(kind.id);
      }
      // Nobody routable is left out (docs/heartbeat-rules.md 4: never black-hole traffic).
      if (kind.kind === 'shard') {
        const want = [...w.model].filter(([id, m]) => sendable(id) && m.beat.shard === kind.shard && m.beat.role === kind.role).map(([id]) => id);
        expect(ids(cluster.endpoints), at).toEqual(want.sort());
      } else if (kind.kind === 'bootstrap') {
        expect(ids(cluster.endpoints), at).toEqual([...w.model.keys()].filter(sendable).sort());
      } else {
        expect(ids(cluster.endpoints), at).toEqual([kind.id]);
      }
    }

    // Per-node clusters and listeners: one per routable node holding a port, on that port.
    const nodeClusters = gt.clusters.filter((c) => c.name.startsWith('node-')).map((c) => c.name.slice('node-'.length));
    if (group.nodeListeners) {
      const want = [...w.model.keys()].filter((id) => sendable(id) && w.ports.held.has(id));
      expect(nodeClusters.sort(), `${where}: per-node clusters`).toEqual(want.sort());
      for (const id of want) {
        const listener = gt.listeners.find((l) => l.name === `node-${id}`);
        expect(listener?.kind === 'tcp' ? [listener.address.port, listener.cluster] : undefined, `${where}: listener of ${id}`).toEqual([w.ports.held.get(id), `node-${id}`]);
      }
    } else {
      expect(nodeClusters, where).toEqual([]);
    }

    // Every resource encodes; the snapshot builds (no duplicate names).
    const topologyJson = `${group.name}:${JSON.stringify(gt)}`;
    let version = w.encoded.get(topologyJson);
    if (version === undefined) {
      version = buildSnapshot(group.name, translateGroup(gt).map(encodeResource)).version;
      w.encoded.set(topologyJson, version);
    }
    versions[group.name] = version;
    topologies[group.name] = topologyJson;
  }
  return { versions, topologies };
}

/**
 * docs/heartbeat-rules.md 5: ports are unique, the lowest free when first given, kept, and reused only after
 * portReuseSeconds. A node without a port gets one at its next heartbeat, so "none though one is
 * free" is checked only right after its own heartbeat.
 */
function observePorts(w: World, justBeat: string | undefined, step: string): void {
  const now = w.clock.now();
  const pool = w.config.groups.find((g) => g.name === POOL_GROUP)!;
  const reserved = (port: number, forId: string) => {
    const r = w.ports.released.get(port);
    return r !== undefined && r.owner !== forId && now - r.atMs < REUSE_MS;
  };
  const ordered = [...w.model.keys()].sort();
  // Nodes that already hold a port keep it; nodes of other databases hold none.
  for (const id of ordered) {
    const got = w.registry.ports.portOf(POOL_GROUP, id)?.port;
    const inPool = w.model.get(id)!.beat.database === pool.database;
    if (!inPool) expect(got, `${step}: ${id} is not in ${pool.database} but holds port ${got}`).toBeUndefined();
    else if (w.ports.held.has(id)) expect(got, `${step}: ${id} lost or changed its port`).toBe(w.ports.held.get(id));
  }
  // Newcomers: their old port if it is still theirs, else the lowest port nobody holds or reserves.
  for (const id of ordered) {
    if (w.model.get(id)!.beat.database !== pool.database || w.ports.held.has(id)) continue;
    const got = w.registry.ports.portOf(POOL_GROUP, id)?.port;
    const taken = new Set(w.ports.held.values());
    const own = [...w.ports.released].find(([, r]) => r.owner === id);
    const free = POOL_PORTS.filter((p) => !taken.has(p) && !reserved(p, id));
    if (got === undefined) {
      if (id === justBeat) expect(free, `${step}: ${id} got no port though some are free`).toEqual([]);
      continue;
    }
    expect(POOL_PORTS, `${step}: ${id} port ${got} outside the pool`).toContain(got);
    expect(taken.has(got), `${step}: port ${got} given to ${id} while held by another node`).toBe(false);
    expect(reserved(got, id), `${step}: port ${got} given to ${id} within portReuseSeconds of its owner's forgetting`).toBe(false);
    if (own !== undefined && now - own[1].atMs < REUSE_MS) {
      // Reading of "keeps it across its own restarts": back within the reuse period, a node gets its port back.
      expect(got, `${step}: ${id} did not get its own port back`).toBe(own[0]);
    } else if (got !== own?.[0]) {
      expect(got, `${step}: ${id} did not get the lowest free port`).toBe(free[0]);
    }
    w.ports.held.set(id, got);
    w.ports.released.delete(got);
  }
}

/** Runs the operations on a fresh registry; returns each group's snapshot version and topology after every step. */
function run(ops: readonly Op[]): Array<{ versions: Record<string, string>; topologies: Record<string, string> }> {
  const w = newWorld();
  return ops.map((op) => {
    apply(w, op);
    return versionsNow(w);
  });
}

/** Encodes everything afresh (no memo), so that replays really recompute the versions. */
function versionsNow(w: World) {
  const list = w.registry.list();
  const topology = buildTopology(w.config, { nodes: list, health: assessHealth(list, w.clock.now(), w.registry.leaseMs), ports: w.registry.ports });
  const versions: Record<string, string> = {};
  const topologies: Record<string, string> = {};
  for (const [name, gt] of topology) {
    versions[name] = buildSnapshot(name, translateGroup(gt).map(encodeResource)).version;
    topologies[name] = JSON.stringify(gt);
  }
  return { versions, topologies };
}

/** Resources (by type and content hash) already found to pass Envoy's validate rules. */
const VALIDATED = new Set<string>();

/** Envoy's validate rules and the snapshot's consistency, on the final state of a run. */
function checkEnvoyRules(topology: ReadonlyMap<string, GroupTopology>): void {
  for (const [group, gt] of topology) {
    const encoded = translateGroup(gt).map(encodeResource);
    const violations = encoded.flatMap((r) => {
      const key = `${r.typeUrl} ${r.version}`;
      if (VALIDATED.has(key)) return [];
      const found = validateEncoded(messageNameOf(r.typeUrl), r.value).map((v) => `${group}/${r.name}: ${v.path}: ${v.message}`);
      if (found.length === 0) VALIDATED.add(key);
      return found;
    });
    expect(violations).toEqual([]);
    expect(consistencyErrors(buildSnapshot(group, encoded))).toEqual([]);
  }
}

// ---------------------------------------------------------------------------------------------
// The properties

describe('registry -> topology -> resources (property)', () => {
  it('keeps every routing invariant after every step of any sequence of operations', () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        const w = newWorld();
        for (const [i, op] of ops.entries()) {
          apply(w, op);
          checkStep(w, op, `step ${i} (${JSON.stringify(op)})`);
        }
        const list = w.registry.list();
        checkEnvoyRules(buildTopology(w.config, { nodes: list, health: assessHealth(list, w.clock.now(), w.registry.leaseMs), ports: w.registry.ports }));
      }),
      { numRuns: 200 },
    );
  });

  it('gives the same snapshot versions when the same operations are replayed, and a new version exactly when the topology changes', () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        const first = run(ops);
        const second = run(ops);
        expect(second.map((s) => s.versions)).toEqual(first.map((s) => s.versions));
        // The version is a function of the topology, and tells different topologies apart.
        const byVersion = new Map<string, string>();
        const byTopology = new Map<string, string>();
        for (const step of first) {
          for (const [group, version] of Object.entries(step.versions)) {
            const topo = `${group}:${step.topologies[group]}`;
            expect(byVersion.get(version) ?? topo, `version ${version} stands for two topologies`).toBe(topo);
            expect(byTopology.get(topo) ?? version, `one topology has two versions`).toBe(version);
            byVersion.set(version, topo);
            byTopology.set(topo, version);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('gives the same snapshot for heartbeats of one instant in any order (groups without per-node ports)', () => {
    const distinctBeats = fc.uniqueArray(beatArb, { selector: (b) => b.id, minLength: 1, maxLength: IDS.length });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 10 }), distinctBeats, fc.func(fc.integer()), (prefix, beats, rank) => {
        const shuffled = [...beats].sort((a, b) => rank(a.id) - rank(b.id) || (a.id < b.id ? -1 : 1));
        const a = run([...prefix, ...beats]).at(-1)!;
        const b = run([...prefix, ...shuffled]).at(-1)!;
        for (const group of RAW_CONFIG.groups) {
          if ('nodeListeners' in group) continue; // ports go to the first comer, so order matters there
          expect(b.versions[group.name], group.name).toBe(a.versions[group.name]);
        }
      }),
      { numRuns: 80 },
    );
  });
});
