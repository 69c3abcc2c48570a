/**
 * The etcd store under faults (issue 14, contract 14): three shardvoy instances (processes) share
 * one registry on a three-member etcd; a heartbeat load of 1,000+ nodes from another process goes
 * to all three, as nodes behind a load balancer do (a heartbeat answered 503, refused or timed out
 * is sent at once to the next instance); one real Envoy, whose xds_cluster lists the three
 * instances (health-checked, HTTP/2 keepalive), and an Envoy-like ADS client on each instance.
 *
 * Faults, one `it` each: (1) the instance Envoy is on is SIGKILLed, later the one it moved to is
 * SIGSTOPped; (2) the etcd leader is killed, then paused, then a minority member is killed;
 * (3) one instance is cut off from etcd (its endpoints go through TCP proxies, blackholed);
 * (4) every instance restarted one by one, then all at once; (5) two masters of one shard with
 * epochs 4 and 5 through different instances, and two new nodes asking for a node-listener port
 * through different instances at the same moment.
 *
 * After every fault: every node whose heartbeat got a 200 is in every instance's registry and
 * none is expired; no port is held by two nodes and every instance holds the same ports; every
 * instance publishes the same version. During every fault, polled: no instance's /clusters shows
 * a shard with nodes but no routed endpoint, nor an expired node, nor (once caught up) a master
 * routed below the shard's highest epoch; Envoy's clusters never empty; no Envoy-like client
 * receives an empty cluster. Figures: convergence across instances (p50, p99) of changes made
 * during the fault, and its 503 window.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvoyLikeClient } from '../support/ads-client.js';
import { rejectedUpdates } from '../support/envoy-checks.js';
import { startEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { startEtcd, type EtcdCluster, type EtcdMember } from '../support/etcd.js';
import { freePortRun } from '../support/free-ports.js';
import { HaHeartbeatLoad, type LoadNode, type LoadReport } from '../support/ha-load.js';
import { eventually } from '../support/harness.js';
import { startShardvoyProcess, type ShardvoyProcess } from '../support/shardvoy-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { printFigure } from '../support/traffic.js';

/** The default lease; every fault but a restart of all at once is held well under it. */
const LEASE_SECONDS = 10;
/** Every node heartbeats every 3 s: a lease holds three heartbeats and their retries. */
const INTERVAL_MS = 3_000;
/** A heartbeat unanswered this long is sent to the next instance (a stopped one answers nothing). */
const HEARTBEAT_TIMEOUT_MS = 3_000;
const SHARDS = 5;
const NODES_PER_SHARD = 200;
const NL_NODES = 20;
const NL_PORTS = 64;
const DUELS = 3;
const GROUP = 'edge';
const NL_GROUP = 'nl';
/** A fault shorter than a lease must expire nobody; these bounds are generous (2 cores, shared). */
const CONVERGE_BOUND_MS = 10_000;
const CHURN = [
  'listener_manager.listener_added',
  'listener_manager.listener_modified',
  'listener_manager.listener_removed',
  'cluster_manager.cluster_added',
  'cluster_manager.cluster_modified',
  'cluster_manager.cluster_removed',
] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const NAMES = ['sv-a', 'sv-b', 'sv-c'] as const;
/** The instance cut off from etcd in fault 3: its endpoints go through proxies from the start. */
const CUT = 2;

type InstanceState = 'up' | 'down' | 'paused' | 'cut';

interface Sample {
  readonly at: number;
  readonly instance: number;
  readonly version: string;
  /** Clusters with nodes that are not expired but no routed endpoint. */
  readonly empty: string[];
  readonly expired: string[];
  readonly preserved: number;
  /** Masters routed below the highest epoch of their shard's live masters, "cluster/id". */
  readonly lowerEpochRouted: string[];
}

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

describe('three shardvoy instances on a three-member etcd, under faults', () => {
  let cluster: EtcdCluster;
  const proxies: TcpProxy[] = [];
  const instances: Array<ShardvoyProcess | undefined> = [undefined, undefined, undefined];
  const state: InstanceState[] = ['down', 'down', 'down'];
  let httpPorts: number[] = [];
  let grpcPorts: number[] = [];
  let listenBase = 0;
  let nlBase = 0;
  let load: HaHeartbeatLoad;
  let envoy: EnvoyProcess;
  const likes: Array<EnvoyLikeClient | undefined> = [undefined, undefined, undefined];
  /** Clusters an Envoy-like client received with no endpoint although the shard had nodes. */
  const likeEmpties: Array<{ at: number; what: string }> = [];
  const samples: Sample[] = [];
  const envoyEmpties: Array<{ at: number; cluster: string }> = [];
  let monitoring = true;
  const monitors: Array<Promise<void>> = [];
  const prefix = `/faults-${randomUUID()}/`;
  let nextProbe = 0;
  let nextNl = NL_NODES;
  /** Shards with nodes: the ones whose clusters must never be empty. */
  const populated = new Set<string>();

  const base = (i: number) => `http://127.0.0.1:${httpPorts[i]}`;
  const live = () => [0, 1, 2].filter((i) => state[i] === 'up');

  const config = (i: number) => ({
    http: { listen: `127.0.0.1:${httpPorts[i]}` },
    grpc: { listen: `127.0.0.1:${grpcPorts[i]}` },
    registry: {
      store: 'etcd',
      etcd: { endpoints: i === CUT ? proxies.map((p) => p.endpoint) : cluster.endpoints, prefix },
      leaseSeconds: LEASE_SECONDS,
      warmupSeconds: 1,
    },
    xds: { controlPlaneId: NAMES[i] },
    groups: [
      {
        name: GROUP,
        database: 'default',
        shards: [
          ...Array.from({ length: SHARDS }, (_, s) => ({ name: `s${s}`, listen: `127.0.0.1:${listenBase + 2 * s}`, clusters: [`s${s}-masters`, `s${s}-replicas`] })),
          ...Array.from({ length: DUELS }, (_, d) => ({ name: `d${d}`, listen: `127.0.0.1:${listenBase + 2 * SHARDS + d}`, clusters: [`d${d}-masters`] })),
        ],
      },
      { name: NL_GROUP, database: 'nl', advertisedHost: 'nl.example.com', nodeListeners: { listenHost: '127.0.0.1', ports: `${nlBase}-${nlBase + NL_PORTS - 1}` } },
    ],
  });

  const startInstance = async (i: number) => {
    // A start may miss its 30 s on a busy machine: once more, saying so.
    instances[i] = await startShardvoyProcess({ config: config(i), args: [] }).catch((error: Error) => {
      console.log(`etcd-faults: ${NAMES[i]} did not start (${error.message.slice(0, 200)}); starting it again`);
      return startShardvoyProcess({ config: config(i), args: [] });
    });
    state[i] = 'up';
    return instances[i]!;
  };
  const ready = async (i: number) => (await fetch(`${base(i)}/readyz`, { signal: AbortSignal.timeout(5_000) })).status === 200;
  const untilReady = (i: number, timeoutMs = 60_000) =>
    eventually(async () => expect(await ready(i), `${NAMES[i]} ready`).toBe(true), timeoutMs, 50);
  const getJson = async (i: number, path: string, timeoutMs = 10_000) => {
    const response = await fetch(`${base(i)}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`${NAMES[i]} GET ${path}: ${response.status}`);
    return response.json() as Promise<any>;
  };
  const nodeIds = async (i: number) => {
    const nodes = (await getJson(i, '/v1/nodes', 10_000)).nodes as Array<{ id: string; expired?: boolean }>;
    return { ids: new Set(nodes.map((n) => n.id)), expired: nodes.filter((n) => n.expired).map((n) => n.id) };
  };
  const heartbeatTo = (i: number, body: Record<string, unknown>) =>
    fetch(`${base(i)}/v1/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });

  /** What an instance warned about, by message, for a failure's story. */
  const warnings = (i: number) => {
    const counts: Record<string, number> = {};
    for (const line of instances[i]?.run.lines ?? []) {
      if (line.level < 40) continue;
      const key = `${line.msg} ${String(line.reason ?? line.err?.message ?? '').slice(0, 80)}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  };
  const progress = (what: string, extra: object = {}) => console.log(`etcd-faults ${new Date().toISOString()} ${what} ${JSON.stringify(extra)}`);
  /** A heartbeat through instance i, sent again while it answers 503 (as a node does after Retry-After). */
  const heartbeatUntilOk = async (i: number, body: Record<string, unknown>) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const answer = await heartbeatTo(i, body).catch(() => undefined);
      if ((answer && answer.status !== 503) || Date.now() > deadline) return answer ?? heartbeatTo(i, body);
      await sleep(250);
    }
  };
  const churn = async () => {
    const stats = await envoy.admin.stats();
    return Object.fromEntries([...CHURN.map((name) => [name, stats.get(name) ?? 0]), ['update_rejected', await rejectedUpdates(envoy)]]);
  };
  /** The instance whose xDS stream Envoy holds, once Envoy says it is connected. */
  const envoyOn = async (): Promise<number | undefined> => {
    if ((await envoy.admin.stat('control_plane.connected_state')) !== 1) return undefined;
    const on: number[] = [];
    for (const i of live()) {
      const clients = await getJson(i, '/v1/xds/clients').catch(() => ({ clients: [] }));
      if (clients.clients.some((c: any) => c.nodeId === GROUP && c.types?.cds?.lastAckedVersion)) on.push(i);
    }
    return on.length === 1 ? on[0] : undefined;
  };
  const untilEnvoyOn = (not: number | undefined, timeoutMs = 20_000) =>
    eventually(async () => {
      const on = await envoyOn();
      expect(on, 'the instance Envoy holds its stream with').toBeDefined();
      expect(on).not.toBe(not);
      return on!;
    }, timeoutMs, 50);

  /** An Envoy-like ADS client on instance i, checked on every response for an empty cluster. */
  const connectLike = (i: number) => {
    likes[i]?.close();
    const client = new EnvoyLikeClient(`127.0.0.1:${grpcPorts[i]}`, { nodeId: `like-${NAMES[i]}`, nodeCluster: GROUP });
    likes[i] = client;
    let seen = 0;
    client
      .waitFor(
        (c) => {
          for (const response of c.responses.slice(seen)) {
            if (!response.typeUrl.endsWith('ClusterLoadAssignment')) continue;
            for (const name of response.names) {
              const shard = name.replace(/-(masters|replicas)$/, '');
              if (populated.has(shard) && c.endpointsOf(name).length === 0) likeEmpties.push({ at: response.atMs, what: `${NAMES[i]} ${name}` });
            }
          }
          seen = c.responses.length;
          return false;
        },
        2_000_000_000,
      )
      .catch(() => undefined);
  };

  /** Polls one instance's /clusters until the suite ends. */
  const monitorInstance = async (i: number) => {
    while (monitoring) {
      const at = Date.now();
      if (state[i] !== 'down' && state[i] !== 'paused') {
        try {
          const view = await getJson(i, `/clusters?group=${GROUP}`, 2_000);
          const empty: string[] = [];
          const expired: string[] = [];
          const lowerEpochRouted: string[] = [];
          let preserved = 0;
          for (const c of view.clusters as any[]) {
            const alive = c.endpoints.filter((e: any) => e.health !== 'expired');
            if (alive.length > 0 && !c.endpoints.some((e: any) => e.routed)) empty.push(c.name);
            for (const e of c.endpoints) {
              if (e.health === 'expired') expired.push(e.id);
              if (e.preserved) preserved++;
            }
            if (c.role === 'master') {
              const top = Math.max(...alive.map((e: any) => e.epoch));
              for (const e of c.endpoints) if (e.routed && e.epoch < top) lowerEpochRouted.push(`${c.name}/${e.id}`);
            }
          }
          samples.push({ at, instance: i, version: view.version, empty, expired, preserved, lowerEpochRouted });
        } catch {
          // Not answering (killed, stopped, starting): no sample.
        }
      }
      await sleep(Math.max(0, 1_000 - (Date.now() - at)));
    }
  };
  /** Envoy's own view: a cluster of a populated shard with no healthy host. */
  const monitorEnvoy = async () => {
    while (monitoring) {
      const at = Date.now();
      try {
        const text = await envoy.admin.text('/stats?filter=membership_healthy');
        for (const line of text.split('\n')) {
          const match = /^cluster\.((s|d)\d+)-(masters|replicas)\.membership_healthy: (\d+)$/.exec(line.trim());
          if (match && populated.has(match[1]!) && Number(match[4]) === 0) envoyEmpties.push({ at, cluster: `${match[1]}-${match[3]}` });
        }
      } catch {
        // admin busy: next round
      }
      await sleep(Math.max(0, 250 - (Date.now() - at)));
    }
  };

  /**
   * Changes made during a fault, each through some live instance (the next on a 503), timed until
   * every instance in `expect` shows it: a new node, kept heartbeating by the load afterwards.
   */
  const startProber = (expectOn: () => number[]) => {
    const times: number[] = [];
    const failures: string[] = [];
    let running = true;
    const loop = (async () => {
      let turn = 0;
      while (running) {
        const id = `probe-${nextProbe++}`;
        const body = { id, address: `127.0.0.1:${30_000 + (nextProbe % 30_000)}`, database: 'probe', shard: 'p', role: 'replica' };
        let ackedAt: number | undefined;
        let via = -1;
        for (let tries = 0; tries < 12 && ackedAt === undefined && running; tries++) {
          const order = live();
          if (order.length === 0) {
            await sleep(200);
            continue;
          }
          via = order[turn++ % order.length]!;
          const answer = await heartbeatTo(via, body).catch(() => undefined);
          if (answer?.status === 200) ackedAt = Date.now();
          else await sleep(100);
        }
        if (ackedAt === undefined) continue;
        await load.add([{ body, home: via }]);
        const targets = expectOn();
        const seen = new Set<number>();
        while (seen.size < targets.length && Date.now() - ackedAt < CONVERGE_BOUND_MS * 2) {
          await Promise.all(
            targets
              .filter((i) => !seen.has(i))
              .map(async (i) => {
                const response = await fetch(`${base(i)}/v1/nodes/${id}`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
                if (response?.status === 200) seen.add(i);
              }),
          );
          if (seen.size < targets.length) await sleep(20);
        }
        if (seen.size < targets.length) failures.push(`${id}: seen on ${[...seen].map((i) => NAMES[i]).join(',')} of ${targets.map((i) => NAMES[i]).join(',')}`);
        else times.push(Date.now() - ackedAt);
        await sleep(300);
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        return { changes: times.length, p50Ms: quantile(times, 0.5), p99Ms: quantile(times, 0.99), maxMs: Math.max(0, ...times), notConverged: failures };
      },
    };
  };

  /** Two new nodes of the node-listener group, through two different instances at the same moment. */
  const portRace = async (a: number, b: number) => {
    const bodies = [nextNl++, nextNl++].map((k) => ({ id: `nl-${k}`, address: `127.0.0.1:${20_000 + k}`, database: 'nl', shard: 'brokers', role: 'replica' }));
    const answers = await Promise.all([heartbeatUntilOk(a, bodies[0]!), heartbeatUntilOk(b, bodies[1]!)]);
    const json = await Promise.all(answers.map((r) => r.json() as Promise<any>));
    await load.add(bodies.map((body, k) => ({ body, home: k === 0 ? a : b })));
    return { status: answers.map((r) => r.status), advertised: json.map((j) => j.advertised?.[NL_GROUP]) };
  };

  /** No port of the node-listener group held by two nodes, and every instance holds the same. */
  const checkPorts = async (on: number[]) => {
    const maps = await Promise.all(on.map((i) => getJson(i, `/v1/advertised?group=${NL_GROUP}`)));
    const twice: string[] = [];
    for (const map of maps) {
      const holders = new Map<string, string>();
      for (const [id, address] of Object.entries(map as Record<string, string>)) {
        if (holders.has(address)) twice.push(`${address}: ${holders.get(address)} and ${id}`);
        holders.set(address, id);
      }
    }
    return { ports: Object.keys(maps[0] ?? {}).length, twice, same: maps.every((m) => JSON.stringify(sortKeys(m)) === JSON.stringify(sortKeys(maps[0]))) };
  };

  /**
   * The checks after a fault, once everything is back: every instance ready, on one version, with
   * every acknowledged node (none expired), the same ports; and what was sampled since `since`.
   */
  const afterFault = async (name: string, since: number, extra: Record<string, unknown> = {}) => {
    const settleStart = Date.now();
    for (const i of [0, 1, 2]) await untilReady(i);
    // One version everywhere (a change in flight may need a moment).
    const versions = await eventually(async () => {
      const v = await Promise.all([0, 1, 2].map(async (i) => (await getJson(i, `/clusters?group=${GROUP}`, 5_000)).version as string));
      expect(new Set(v).size, `versions ${v.join(' ')}`).toBe(1);
      return v;
    }, 60_000, 200);
    const report: LoadReport = await load.report(since);
    // Every node acknowledged at least once is in every instance's registry; none expired but
    // for having gone a lease without an acknowledged heartbeat.
    const acked = report.acked.map(([id]) => id);
    const missing: string[] = [];
    let expiredNow: string[] = [];
    await eventually(async () => {
      missing.length = 0;
      expiredNow = [];
      for (const i of [0, 1, 2]) {
        const held = await nodeIds(i);
        for (const id of acked) if (!held.ids.has(id)) missing.push(`${NAMES[i]}:${id}`);
        expiredNow.push(...held.expired);
      }
      expect(missing.slice(0, 10), 'acknowledged nodes missing from an instance').toEqual([]);
    }, 30_000, 250);
    const during = samples.filter((s) => s.at >= since);
    const expiredIds = [...new Set([...expiredNow, ...during.flatMap((s) => s.expired)])];
    const histories = expiredIds.length === 0 ? {} : await load.history(expiredIds);
    // The longest time each expired node went without a 200 from any instance, in gaps that end
    // (or run on) after the fault began.
    const silentMs = (id: string) => {
      const oks = histories[id]?.oks ?? [];
      let longest = oks.length === 0 ? Number.POSITIVE_INFINITY : Date.now() - oks.at(-1)!;
      for (let k = 1; k < oks.length; k++) if (oks[k]! >= since) longest = Math.max(longest, oks[k]! - oks[k - 1]!);
      return longest;
    };
    const expiredAlive = expiredIds.filter((id) => silentMs(id) < LEASE_SECONDS * 1_000);
    const ports = await checkPorts([0, 1, 2]);
    const window503 = report.failures.filter((f) => f.kind === '503');
    const likes = likeEmpties.filter((e) => e.at >= since);
    const envoys = envoyEmpties.filter((e) => e.at >= since);
    const figures = {
      ...extra,
      settleMs: Date.now() - settleStart,
      version: versions[0],
      ackedNodes: acked.length,
      missing: missing.length,
      expired: expiredIds.length,
      expiredWithin: expiredAlive.length,
      heartbeats: report.sent,
      heartbeatsOk: report.ok,
      heartbeatsUnanswered: report.unanswered,
      okBy: report.okBy,
      maxGapBetween200sMs: report.maxGapMs,
      maxGapNode: report.maxGapNode,
      refusals: report.reasons,
      window503: window503.length === 0 ? null : { count: window503.length, firstAt: window503[0]!.at - since, lastAt: window503.at(-1)!.at - since, ms: window503.at(-1)!.at - window503[0]!.at, byInstance: NAMES.map((_, i) => window503.filter((f) => f.instance === i).length) },
      timeouts: report.failures.filter((f) => f.kind === 'timeout').length,
      refused: report.failures.filter((f) => f.kind === 'error').length,
      unexpected: report.unexpected.length,
      samples: during.length,
      samplesEmpty: during.filter((s) => s.empty.length > 0).length,
      samplesExpired: during.filter((s) => s.expired.length > 0).length,
      samplesPreserved: during.filter((s) => s.preserved > 0).length,
      samplesLowerEpoch: during.filter((s) => s.lowerEpochRouted.length > 0).length,
      envoyEmpty: envoys.length,
      likeEmpty: likes.length,
      ports,
    };
    printFigure(`etcd-fault ${name}`, figures);
    if (expiredIds.length > 0) {
      const first = during.find((s) => s.expired.length > 0);
      console.log(`etcd-fault ${name}: ${expiredIds.length} expired; first seen ${first ? first.at - since : '?'} ms in on ${first ? NAMES[first.instance] : '?'}; some histories (ms after the fault began):`,
        JSON.stringify(Object.fromEntries(expiredIds.slice(0, 3).map((id) => [id, { silentMs: silentMs(id), answers: (histories[id]?.answers ?? []).map(([at, i, kind]) => [at - since, NAMES[i], kind.slice(0, 90)]) }]))));
    }
    if (likes.length > 0) console.log(`etcd-fault ${name}: empty clusters sent to Envoy-like clients`, likes.slice(0, 5));
    expect(report.unexpected.slice(0, 5), 'answers other than 200/503 to the load').toEqual([]);
    expect(missing).toEqual([]);
    expect(expiredAlive.slice(0, 10), 'nodes expired although none went a lease without an acknowledged heartbeat').toEqual([]);
    expect(ports.twice, 'ports held by two nodes').toEqual([]);
    expect(ports.same, 'every instance holds the same ports').toBe(true);
    expect(during.filter((s) => s.empty.length > 0).map((s) => `${NAMES[s.instance]} ${s.empty.join(',')}`).slice(0, 5), 'samples with a shard with live nodes but none routed').toEqual([]);
    // Envoy's and the Envoy-like clients' clusters may empty only of nodes that expired.
    if (expiredIds.length === 0) {
      expect(envoys.slice(0, 5), "Envoy's clusters with no healthy host").toEqual([]);
      expect(likes.slice(0, 5), 'empty clusters sent to an Envoy-like client').toEqual([]);
    }
    return figures;
  };

  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
    for (const member of cluster.members) proxies.push(await new TcpProxy(member.endpoint).listen());
    const ports = await freePortRun(6, '127.0.0.1');
    httpPorts = [ports, ports + 1, ports + 2];
    grpcPorts = [ports + 3, ports + 4, ports + 5];
    listenBase = await freePortRun(2 * SHARDS + DUELS, '127.0.0.1');
    nlBase = await freePortRun(NL_PORTS, '127.0.0.1');
    await Promise.all([0, 1, 2].map((i) => startInstance(i)));
    for (const i of [0, 1, 2]) await untilReady(i);

    const nodes: LoadNode[] = [];
    for (let s = 0; s < SHARDS; s++) {
      populated.add(`s${s}`);
      for (let k = 0; k < NODES_PER_SHARD; k++) {
        const n = s * NODES_PER_SHARD + k;
        nodes.push({
          body: { id: `n-${s}-${k}`, address: `127.0.0.2:${10_000 + n}`, database: 'default', shard: `s${s}`, role: k === 0 ? 'master' : 'replica', epoch: 1 },
          home: n % 3,
        });
      }
    }
    for (let k = 0; k < NL_NODES; k++) nodes.push({ body: { id: `nl-${k}`, address: `127.0.0.3:${20_000 + k}`, database: 'nl', shard: 'brokers', role: 'replica' }, home: k % 3 });
    load = new HaHeartbeatLoad([0, 1, 2].map(base), nodes, INTERVAL_MS, HEARTBEAT_TIMEOUT_MS);
    const registeredFrom = Date.now();
    await eventually(async () => {
      for (const i of [0, 1, 2]) expect((await nodeIds(i)).ids.size, `${NAMES[i]}'s nodes`).toBe(nodes.length);
    }, 150_000, 500).catch(async (error: Error) => {
      const held = await nodeIds(0);
      const missing = nodes.map((n) => String(n.body.id)).filter((id) => !held.ids.has(id));
      console.log('etcd-faults setup: not registered on sv-a', missing.slice(0, 20), JSON.stringify(await load.history(missing.slice(0, 3))), (await load.report()).reasons);
      throw error;
    });
    const registeredMs = Date.now() - registeredFrom;

    // Every node live and routed on every instance (on a busy machine some may have gone a lease
    // unanswered while the others registered, and come back since).
    await eventually(async () => {
      for (const i of [0, 1, 2]) {
        const view = await getJson(i, `/clusters?group=${GROUP}`);
        for (let s = 0; s < SHARDS; s++) {
          const routed = (name: string) => view.clusters.find((c: any) => c.name === name)?.endpoints.filter((e: any) => e.routed).length;
          expect([routed(`s${s}-masters`), routed(`s${s}-replicas`)], `${NAMES[i]} s${s}`).toEqual([1, NODES_PER_SHARD - 1]);
        }
      }
    }, 120_000, 500);
    envoy = await startEnvoy({ bootstrap: envoyBootstrap(grpcPorts, httpPorts) });
    await eventually(async () => {
      for (let s = 0; s < SHARDS; s++) {
        expect((await envoy.admin.clusterHosts(`s${s}-masters`)).length).toBe(1);
        expect((await envoy.admin.clusterHosts(`s${s}-replicas`)).length).toBe(NODES_PER_SHARD - 1);
      }
    }, 60_000, 200);
    for (const i of [0, 1, 2]) connectLike(i);
    await Promise.all(likes.map((c) => c!.waitFor((l) => l.endpointsOf('s0-replicas').length === NODES_PER_SHARD - 1, 15_000, 'EDS')));
    for (const i of [0, 1, 2]) monitors.push(monitorInstance(i));
    monitors.push(monitorEnvoy());
    printFigure('etcd-faults setup', { etcd: cluster.version, nodes: nodes.length, registeredOnAllMs: registeredMs, envoyOn: NAMES[(await untilEnvoyOn(undefined))] });
    // About 30 s on a quiet machine; minutes on a busy one (1,020 registrations at once).
  }, 400_000);

  afterAll(async () => {
    monitoring = false;
    await Promise.all(monitors);
    for (const client of likes) client?.close();
    await load?.stop();
    await envoy?.stop();
    await Promise.all(instances.map((i) => i?.stop()));
    for (const proxy of proxies) await proxy.close();
    await cluster?.stop();
  });

  it('(1) the instance Envoy is on is SIGKILLed, later the next one SIGSTOPped: Envoy moves, and receives no change', async () => {
    const since = Date.now();
    const churnBefore = await churn();
    const stateBefore = await envoy.admin.xdsState();
    const judge = async () => JSON.parse((await cluster.members[0]!.localGet(`${prefix}tick`)) ?? '{}').judge as string | undefined;

    // (a) SIGKILL
    const killed = await untilEnvoyOn(undefined);
    const killedWasJudge = (await judge()) === NAMES[killed];
    const prober = startProber(live);
    await sleep(1_000);
    const killedAt = Date.now();
    state[killed] = 'down';
    await instances[killed]!.kill('SIGKILL');
    const movedTo = await untilEnvoyOn(killed);
    const killMovedMs = Date.now() - killedAt;
    await sleep(1_500);
    const restartAt = Date.now();
    await startInstance(killed);
    await untilReady(killed);
    const killRestartMs = Date.now() - restartAt;
    connectLike(killed);
    const kill = await prober.stop();

    // (b) SIGSTOP the one Envoy moved to, for less than a lease
    const paused = movedTo;
    const pausedWasJudge = (await judge()) === NAMES[paused];
    const prober2 = startProber(live);
    await sleep(1_000);
    const pausedAt = Date.now();
    state[paused] = 'paused';
    instances[paused]!.run.child.kill('SIGSTOP');
    let pauseMovedTo: number | undefined;
    try {
      pauseMovedTo = await untilEnvoyOn(paused, LEASE_SECONDS * 1_000);
    } finally {
      const movedMs = Date.now() - pausedAt;
      await sleep(Math.max(0, 3_000 - movedMs));
      instances[paused]!.run.child.kill('SIGCONT');
      state[paused] = 'up';
    }
    const pauseMovedMs = Date.now() - pausedAt;
    const continuedAt = Date.now();
    await untilReady(paused);
    const pause = await prober2.stop();

    const figures = await afterFault('1-instance-sigkill-sigstop', since, {
      sigkill: { instance: NAMES[killed], wasJudge: killedWasJudge, envoyMovedTo: NAMES[movedTo], envoyMovedMs: killMovedMs, restartToReadyMs: killRestartMs, converge: kill },
      sigstop: { instance: NAMES[paused], wasJudge: pausedWasJudge, envoyMovedTo: pauseMovedTo === undefined ? null : NAMES[pauseMovedTo], envoyMovedMs: pauseMovedMs, continueToReadyMs: Date.now() - continuedAt, converge: pause },
      judgeAfter: await judge(),
    });
    const on = await untilEnvoyOn(undefined);
    const stateAfter = await envoy.admin.xdsState();
    const churnAfter = await churn();
    printFigure('etcd-fault 1-envoy', { envoyOn: NAMES[on], churnBefore, churnAfter, cds: [stateBefore.cdsVersion, stateAfter.cdsVersion], lds: [stateBefore.ldsVersion, stateAfter.ldsVersion] });
    expectNoChurn(churnBefore, churnAfter, figures.expired > 0);
    if (figures.expired === 0) expect({ cds: stateAfter.cdsVersion, lds: stateAfter.ldsVersion }).toEqual({ cds: stateBefore.cdsVersion, lds: stateBefore.ldsVersion });
    expect(kill.notConverged).toEqual([]);
    expect(pause.notConverged).toEqual([]);
    expect(kill.p99Ms).toBeLessThan(CONVERGE_BOUND_MS);
    expect(pause.p99Ms).toBeLessThan(CONVERGE_BOUND_MS);
  });

  it('(2) the etcd leader killed, then paused; then a minority member killed', async () => {
    const since = Date.now();
    const step = async (what: string, act: (leader: EtcdMember) => Promise<() => Promise<void>>) => {
      const stepSince = Date.now();
      const leader = await cluster.leader();
      const prober = startProber(live);
      await sleep(1_000);
      const at = Date.now();
      const undo = await act(leader);
      const newLeader = await cluster.leader({ not: what === 'minority-killed' ? undefined : leader, timeoutMs: 10_000 });
      const newLeaderMs = Date.now() - at;
      await sleep(Math.max(0, 3_000 - (Date.now() - at)));
      const undoAt = Date.now();
      await undo();
      await cluster.waitHealthy();
      const healthyMs = Date.now() - undoAt;
      const converge = await prober.stop();
      const report = await load.report(stepSince);
      const w = report.failures.filter((f) => f.kind === '503');
      return {
        member: what === 'minority-killed' ? undefined : leader.name,
        newLeader: newLeader.name,
        newLeaderMs,
        undoToHealthyMs: healthyMs,
        converge,
        window503Ms: w.length === 0 ? 0 : w.at(-1)!.at - w[0]!.at,
        count503: w.length,
        unanswered: report.unanswered,
        maxGapBetween200sMs: report.maxGapMs,
        refusals: report.reasons,
      };
    };
    const killed = await step('leader-killed', async (leader) => {
      await leader.kill();
      return () => leader.start();
    });
    const paused = await step('leader-paused', async (leader) => {
      leader.pause();
      return async () => leader.resume();
    });
    const minority = await step('minority-killed', async (leader) => {
      const follower = cluster.members.find((m) => m !== leader && m.running)!;
      await follower.kill();
      return () => follower.start();
    });
    await afterFault('2-etcd-leader-and-minority', since, { leaderKilled: killed, leaderPaused: paused, minorityKilled: minority });
    for (const s of [killed, paused, minority]) {
      expect(s.converge.notConverged).toEqual([]);
      expect(s.converge.p99Ms).toBeLessThan(CONVERGE_BOUND_MS);
    }
  });

  it('(3) one instance cut off from etcd: it serves its last snapshot, refuses heartbeats with 503 and says why; restored, it catches up', async () => {
    const since = Date.now();
    const versionBefore = (await getJson(CUT, `/clusters?group=${GROUP}`)).version;
    const likeBefore = likes[CUT]!.responses.length;
    const prober = startProber(() => live());
    await sleep(1_000);
    const cutAt = Date.now();
    for (const proxy of proxies) proxy.blackhole();
    state[CUT] = 'cut';
    // Heartbeats to it: 503 with Retry-After, once it knows (a renewal waits for etcd first).
    const body = { id: 'n-0-1', address: '127.0.0.2:10001', database: 'default', shard: 's0', role: 'replica', epoch: 1 };
    const refused = await eventually(async () => {
      const answer = await heartbeatTo(CUT, body);
      expect(answer.status).toBe(503);
      return { status: answer.status, retryAfter: answer.headers.get('retry-after'), message: ((await answer.json()) as any).message as string, at: Date.now() };
    }, 20_000, 200);
    const readyz = await eventually(async () => {
      const answer = await fetch(`${base(CUT)}/readyz`);
      expect(answer.status).toBe(503);
      return { at: Date.now(), message: ((await answer.json()) as any).message as string };
    }, 20_000, 100);
    // Still serving: /clusters answers with the same version, the Envoy-like client on it got nothing new.
    const during = await getJson(CUT, `/clusters?group=${GROUP}`);
    const likeDuring = likes[CUT]!.responses.length - likeBefore;
    await sleep(2_000);
    const stillServing = await getJson(CUT, `/clusters?group=${GROUP}`);
    const restoreAt = Date.now();
    for (const proxy of proxies) proxy.restore();
    state[CUT] = 'up';
    await untilReady(CUT);
    const readyMs = Date.now() - restoreAt;
    // Caught up: the nodes the prober added during the cut are there.
    const converge = await prober.stop();
    const acked = (await load.report()).acked.map(([id]) => id);
    await eventually(async () => {
      const held = await nodeIds(CUT);
      expect(acked.filter((id) => !held.ids.has(id)).slice(0, 5)).toEqual([]);
    }, 15_000, 100);
    const caughtUpMs = Date.now() - restoreAt;
    await afterFault('3-instance-cut-off', since, {
      instance: NAMES[CUT],
      firstRefusedAfterMs: refused.at - cutAt,
      retryAfter: refused.retryAfter,
      refusal: refused.message.slice(0, 160),
      readyz503AfterMs: readyz.at - cutAt,
      readyzReason: readyz.message.slice(0, 200),
      cutMs: restoreAt - cutAt,
      servedSameVersion: during.version === versionBefore && stillServing.version === versionBefore,
      likeResponsesDuringCut: likeDuring,
      restoreToReadyMs: readyMs,
      restoreToCaughtUpMs: caughtUpMs,
      converge,
    });
    expect(refused.retryAfter).toMatch(/^\d+$/);
    expect(readyz.message).toMatch(/etcd/);
    expect(stillServing.clusters.filter((c: any) => c.endpoints.length > 0).length).toBeGreaterThanOrEqual(2 * SHARDS);
    expect(converge.notConverged).toEqual([]);
    expect(readyMs).toBeLessThan(CONVERGE_BOUND_MS);
  });

  it('(4) every instance restarted one by one under load, then all at once', { timeout: 240_000 }, async () => {
    const since = Date.now();
    const churnBefore = await churn();
    const rolling: Array<Record<string, unknown>> = [];
    const prober = startProber(live);
    for (const i of [0, 1, 2]) {
      const at = Date.now();
      progress(`rolling: stopping ${NAMES[i]}`, warnings(i));
      state[i] = 'down';
      await instances[i]!.stop();
      await startInstance(i);
      await untilReady(i);
      connectLike(i);
      rolling.push({ instance: NAMES[i], stopToReadyMs: Date.now() - at });
      await sleep(1_000);
    }
    const rollingConverge = await prober.stop();
    const rollingReport = await load.report(since);

    const allSince = Date.now();
    const cpuBefore = cpuOf(cluster.members.map((m) => m.pid!));
    for (const i of [0, 1, 2]) state[i] = 'down';
    progress('all at once: SIGKILL', { warnings: [0, 1, 2].map(warnings) });
    await Promise.all(instances.map((p) => p!.kill('SIGKILL')));
    const killedAt = Date.now();
    await Promise.all([0, 1, 2].map((i) => startInstance(i)));
    const listeningMs = Date.now() - killedAt;
    progress('all at once: listening');
    const watch = setInterval(() => {
      void load.report(killedAt).then((r) => progress('all at once', { ok: r.ok, okBy: r.okBy, unanswered: r.unanswered, reasons: r.reasons, back: r.firstOkAfter.filter((ms) => ms >= 0).length, warnings: [0, 1, 2].map(warnings) }));
    }, 3_000);
    try {
      for (const i of [0, 1, 2]) await untilReady(i);
    } finally {
      clearInterval(watch);
    }
    const readyMs = Date.now() - killedAt;
    for (const i of [0, 1, 2]) connectLike(i);
    const readyAt = Date.now();
    const cpuReady = cpuOf(instances.map((p) => p!.run.child.pid!));
    const on = await untilEnvoyOn(undefined, 40_000);
    const envoyBackMs = Date.now() - killedAt;
    const prober2 = startProber(live);
    await sleep(3_000);
    const allConverge = await prober2.stop();
    const cpuAfter = cpuOf(instances.map((p) => p!.run.child.pid!));
    const cpu = { etcdCpuMsOverAll: cpuOf(cluster.members.map((m) => m.pid!)).map((v, k) => v - cpuBefore[k]!), instancesCpuMsAfterReady: cpuAfter.map((v, k) => v - cpuReady[k]!), msAfterReady: Date.now() - readyAt };
    const allReport = await load.report(allSince);
    // When each node was acknowledged again after the outage, from the moment every instance was ready.
    const back = (await load.report(readyAt)).firstOkAfter;
    const backFigures = { nodes: back.length, notYet: back.filter((ms) => ms < 0).length, p50Ms: quantile(back.filter((ms) => ms >= 0), 0.5), p99Ms: quantile(back.filter((ms) => ms >= 0), 0.99), maxMs: Math.max(0, ...back) };
    const churnAfter = await churn();
    const figures = await afterFault('4-restarts', since, {
      rolling,
      rollingConverge,
      rollingUnanswered: rollingReport.unanswered,
      allAtOnce: { killToListeningMs: listeningMs, killToReadyMs: readyMs, envoyBackMs, envoyOn: NAMES[on], unanswered: allReport.unanswered, maxGapBetween200sMs: allReport.maxGapMs, refusals: allReport.reasons, readyToAcknowledgedAgain: backFigures, cpu, converge: allConverge },
      churnBefore,
      churnAfter,
    });
    expectNoChurn(churnBefore, churnAfter, figures.expired > 0);
    expect(rollingConverge.notConverged).toEqual([]);
    expect(allConverge.notConverged).toEqual([]);
  });

  it('(5) masters with epochs 4 and 5 through different instances; two new nodes asking for a port at the same moment', async () => {
    for (const i of [0, 1, 2]) await untilReady(i);
    const since = Date.now();
    const duels: Array<Record<string, unknown>> = [];
    for (let d = 0; d < DUELS; d++) {
      const low = { id: `duel-${d}-e4`, address: `127.0.0.4:${100 + d}`, database: 'default', shard: `d${d}`, role: 'master', epoch: 4 };
      const high = { id: `duel-${d}-e5`, address: `127.0.0.4:${200 + d}`, database: 'default', shard: `d${d}`, role: 'master', epoch: 5 };
      const [a, b] = [d % 3, (d + 1) % 3];
      const at = Date.now();
      // Rounds 0 and 1 at the same moment; round 2: the higher epoch first, the lower one late.
      const answers =
        d < 2
          ? await Promise.all([heartbeatUntilOk(a, low), heartbeatUntilOk(b, high)])
          : await (async () => {
              const first = await heartbeatUntilOk(b, high);
              return [await heartbeatUntilOk(a, low), first];
            })();
      expect(answers.map((r) => r.status)).toEqual([200, 200]);
      await load.add([
        { body: low, home: a },
        { body: high, home: b },
      ]);
      // Converged: every instance routes the epoch-5 master alone, the other fenced.
      const converged = await eventually(async () => {
        for (const i of [0, 1, 2]) {
          const view = await getJson(i, `/clusters?shard=d${d}`);
          const masters = view.clusters.find((c: any) => c.name === `d${d}-masters`);
          const byId = Object.fromEntries(masters.endpoints.map((e: any) => [e.id, e]));
          expect(byId[high.id]?.routed, `${NAMES[i]} routes ${high.id}`).toBe(true);
          expect(byId[low.id]?.health, `${NAMES[i]}: ${low.id}`).toBe('fenced');
          expect(byId[low.id]?.routed).toBe(false);
        }
        return Date.now();
      }, CONVERGE_BOUND_MS, 20);
      duels.push({ shard: `d${d}`, through: [NAMES[a], NAMES[b]], convergedMs: converged - at });
      // And it holds: sampled from then on (the monitor), plus Envoy's own cluster. The shard is
      // watched for empty clusters once Envoy has its master (a new shard's first endpoints take
      // a push to reach Envoy: its cluster was empty until then, rightly).
      await eventually(async () => expect((await envoy.admin.clusterHosts(`d${d}-masters`)).map((h) => h.address)).toEqual([high.address]), 10_000, 50);
      populated.add(`d${d}`);
    }
    const convergedAt = Date.now();
    const races: Array<Record<string, unknown>> = [];
    for (let r = 0; r < 6; r++) {
      const [a, b] = [r % 3, (r + 1 + (r >> 1)) % 3 === r % 3 ? (r + 2) % 3 : (r + 1 + (r >> 1)) % 3];
      const race = await portRace(a, b);
      races.push({ through: [NAMES[a], NAMES[b]], ...race });
      expect(race.status).toEqual([200, 200]);
      expect(race.advertised[0], 'a port each').toBeTruthy();
      expect(race.advertised[0]).not.toBe(race.advertised[1]);
    }
    await sleep(2_000);
    const after = samples.filter((s) => s.at >= convergedAt + 500);
    await afterFault('5-epochs-and-ports', since, { duels, races, samplesAfterConvergence: after.length });
    expect(after.filter((s) => s.lowerEpochRouted.length > 0).map((s) => `${NAMES[s.instance]} ${s.lowerEpochRouted.join(',')}`), 'moments a lower-epoch master was routed after convergence').toEqual([]);
  });
});

/**
 * Envoy received no change: no listener or cluster added, modified or removed, no update
 * rejected. A master that expired (a node silent for a lease, on a machine too busy to take its
 * heartbeats) changes its shard's listener (connections to it are closed): then only clusters
 * and rejections are held to it.
 */
function expectNoChurn(before: Record<string, number>, after: Record<string, number>, someExpired: boolean): void {
  const held = (churn: Record<string, number>) => (someExpired ? Object.fromEntries(Object.entries(churn).filter(([name]) => !name.startsWith('listener_manager.'))) : churn);
  expect(held(after), "Envoy's listeners and clusters added/modified/removed, updates rejected").toEqual(held(before));
}

/** CPU time (user + system, ms) each process has used so far, from /proc/<pid>/stat. */
function cpuOf(pids: readonly number[]): number[] {
  return pids.map((pid) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    } catch {
      return 0;
    }
  });
}

function sortKeys(map: Record<string, string> | undefined): Array<[string, string]> {
  return Object.entries(map ?? {}).sort(([a], [b]) => a.localeCompare(b));
}

/**
 * The Envoy of group `edge`: its xds_cluster lists the three instances, health-checked on their
 * HTTP port (/healthz) with connections to a failed one closed, HTTP/2 keepalive to notice a
 * stopped one, and a short reconnect backoff.
 */
function envoyBootstrap(grpcPorts: readonly number[], httpPorts: readonly number[]): Record<string, unknown> {
  const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
  return {
    node: { id: GROUP, cluster: GROUP },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster', retry_policy: { retry_back_off: { base_interval: '0.2s', max_interval: '1s' } } } }],
        set_node_on_first_message_only: true,
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: 'xds_cluster',
          type: 'STATIC',
          connect_timeout: '0.5s',
          typed_extension_protocol_options: {
            [HTTP_OPTIONS]: {
              '@type': `type.googleapis.com/${HTTP_OPTIONS}`,
              explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '1s', timeout: '1s' } } },
            },
          },
          close_connections_on_host_health_failure: true,
          health_checks: [{ timeout: '0.5s', interval: '0.5s', no_traffic_interval: '0.5s', unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: '/healthz' } }],
          load_assignment: {
            cluster_name: 'xds_cluster',
            endpoints: [
              {
                lb_endpoints: grpcPorts.map((port, i) => ({
                  endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } }, health_check_config: { port_value: httpPorts[i] } },
                })),
              },
            ],
          },
        },
      ],
    },
  };
}
