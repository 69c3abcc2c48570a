/**
 * Pure: config + the registry at one instant -> what every group should see.
 * Same inputs, same output; nothing here reads a clock or does I/O.
 */
import { isIP } from 'node:net';
import { DEFAULT_CONNECT_TIMEOUT_MS, type Config, type GroupConfig, type ShardConfig } from '../config/types.js';
import { shardKey } from '../registry/health.js';
import { isRoutable, type Health, type NodeRecord, type Role } from '../registry/node.js';
import type { PortView } from '../registry/ports.js';
import { roleOfCluster } from './cluster-names.js';
import { connectionGeneration } from './connection-generation.js';
import type { ClusterIR, EndpointIR, GroupTopology, ListenerIR, TcpListenerIR, VirtualHostIR } from './ir.js';

export interface RegistryView {
  readonly nodes: readonly NodeRecord[];
  readonly health: ReadonlyMap<string, Health>;
  readonly ports: PortView;
}

/**
 * Whether a node is sent to Envoy: routable by its verdict, and known by an IP address, since
 * Envoy's EDS takes IP literals only (a node heartbeating a DNS name is kept but not sent).
 */
export function reachesEnvoy(node: NodeRecord, health: Health | undefined): boolean {
  return health !== undefined && isRoutable(health) && isIP(node.host) !== 0;
}

/** Routable nodes indexed by database, shard and role, built once per rebuild and shared by every group. */
export class RoutableIndex {
  private readonly byKey = new Map<string, NodeRecord[]>();
  private readonly byDatabase = new Map<string, NodeRecord[]>();

  constructor(view: Pick<RegistryView, 'nodes' | 'health'>) {
    for (const node of view.nodes) {
      if (!reachesEnvoy(node, view.health.get(node.id))) continue;
      push(this.byKey, RoutableIndex.key(node.database, node.shard, node.role), node);
      push(this.byDatabase, node.database, node);
    }
  }

  /** Every routable node of a database, masters and replicas, ordered by id. */
  database(database: string): readonly NodeRecord[] {
    return this.byDatabase.get(database) ?? [];
  }

  static key(database: string, shard: string, role: Role): string {
    return `${shardKey(database, shard)}/${role}`;
  }

  nodes(database: string, shard: string, role: Role): readonly NodeRecord[] {
    return this.byKey.get(RoutableIndex.key(database, shard, role)) ?? [];
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export function buildTopology(config: Config, view: RegistryView): ReadonlyMap<string, GroupTopology> {
  const index = new RoutableIndex(view);
  const result = new Map<string, GroupTopology>();
  for (const group of config.groups) {
    result.set(group.name, buildGroup(config, group, index, view.ports));
  }
  return result;
}

export function buildGroup(config: Config, group: GroupConfig, index: RoutableIndex, ports: PortView): GroupTopology {
  const listeners: ListenerIR[] = [];
  const clusters: ClusterIR[] = [];
  for (const shard of group.shards) {
    clusters.push(...shardClusters(config, group, shard, index));
    listeners.push(...shardListeners(config, group, shard, index));
  }
  const extras = reachResources(group, index, ports);
  clusters.push(...extras.clusters);
  listeners.push(...extras.listeners);
  return deepFreeze({ group: group.name, listeners, clusters });
}

/** A shard's clusters, each with its routable endpoints. */
export function shardClusters(config: Config, group: GroupConfig, shard: ShardConfig, index: RoutableIndex): ClusterIR[] {
  return shard.clusters.map((name) => buildCluster(config, group, shard, name, index));
}

/** What reaches nodes from another network (contract section 6): the bootstrap and per-node pairs. */
export function reachResources(group: GroupConfig, index: RoutableIndex, ports: PortView): { clusters: ClusterIR[]; listeners: ListenerIR[] } {
  const listeners: ListenerIR[] = [];
  const clusters: ClusterIR[] = [];
  if (group.bootstrapListener) {
    // Any routable node will do for a first contact; the client then learns every node's address.
    clusters.push(plainCluster(BOOTSTRAP, index.database(group.database).map((node) => endpointOf(group, node))));
    listeners.push({ kind: 'tcp', name: BOOTSTRAP, address: group.bootstrapListener, cluster: BOOTSTRAP });
  }
  if (group.nodeListeners) {
    for (const node of index.database(group.database)) {
      const assignment = ports.portOf(group.name, node.id);
      if (!assignment) continue; // the range is full: the node has no listener of its own
      const name = nodeResourceName(node.id);
      clusters.push(plainCluster(name, [endpointOf(group, node)]));
      listeners.push({ kind: 'tcp', name, address: { host: group.nodeListeners.listenHost, port: assignment.port }, cluster: name });
    }
  }
  return { clusters, listeners };
}

export const BOOTSTRAP = 'bootstrap';

/** The listener and the cluster that reach one node: `node-<id>`. */
export function nodeResourceName(nodeId: string): string {
  return `node-${nodeId}`;
}

function plainCluster(name: string, endpoints: EndpointIR[]): ClusterIR {
  return { name, connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, upstreamHttp2: false, tcpHealthCheck: false, endpoints };
}

function buildCluster(config: Config, group: GroupConfig, shard: ShardConfig, name: string, index: RoutableIndex): ClusterIR {
  const role = roleOfCluster(shard.name, name);
  // Config validation guarantees the pattern; a name without a role would hold nobody.
  const nodes = role ? index.nodes(group.database, shard.name, role) : [];
  const http = shard.protocol === 'http2' && !group.proxyless;
  let endpoints = nodes.map((node) => endpointOf(group, node));
  // gRPC's xDS client NACKs priorities that do not start at 0; Envoy treats an empty priority 0
  // exactly like a missing one, so only proxyless groups are compacted.
  if (group.proxyless && endpoints.length > 0 && !endpoints.some((e) => e.priority === 0)) {
    endpoints = endpoints.map((e) => ({ ...e, priority: 0 }));
  }
  return {
    name,
    connectTimeoutMs: config.clusters[name]?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    upstreamHttp2: http,
    tcpHealthCheck: http,
    endpoints,
  };
}

export function endpointOf(group: GroupConfig, node: NodeRecord): EndpointIR {
  return {
    nodeId: node.id,
    host: node.host,
    port: node.port,
    zone: node.dc,
    priority: group.dc === undefined || node.dc === group.dc ? 0 : 1,
    // An operator's maintenance drains the node whatever its heartbeats say.
    draining: node.status === 'draining' || node.maintenance !== undefined,
  };
}

export function shardListeners(config: Config, group: GroupConfig, shard: ShardConfig, index: RoutableIndex): ListenerIR[] {
  const hosts: VirtualHostIR[] = shard.clusters.map((cluster) => ({
    name: cluster,
    domains: shard.clusters.length === 1 ? [cluster, '*'] : [cluster],
    cluster,
  }));
  if (group.proxyless) {
    // A proxyless client dials xds:///<cluster>; the listener of that name routes every call there.
    return shard.clusters.map((cluster) => ({
      kind: 'api',
      name: cluster,
      virtualHosts: [{ name: cluster, domains: ['*'], cluster }],
    }));
  }
  const listen = shard.listen;
  if (!listen) return [];
  if (shard.protocol === 'http2') {
    return [{ kind: 'http', name: shard.name, address: listen, virtualHosts: hosts }];
  }
  return shard.clusters.map((cluster, i) => {
    const listener: TcpListenerIR = { kind: 'tcp', name: cluster, address: { host: listen.host, port: listen.port + i }, cluster };
    const generation = mastersGeneration(config, group, shard, cluster, index);
    return generation === undefined ? listener : { ...listener, connectionGeneration: generation };
  });
}

/**
 * The connection generation of a tcp listener to `<shard>-masters`: from the ids its cluster's
 * endpoints hold (the same index, so the same nodes). Replica listeners get none: contract 11
 * is about writes reaching a deposed master.
 */
function mastersGeneration(config: Config, group: GroupConfig, shard: ShardConfig, cluster: string, index: RoutableIndex): string | undefined {
  if (config.xds.fencedConnectionCloseSeconds === 0 || roleOfCluster(shard.name, cluster) !== 'master') return undefined;
  return connectionGeneration(index.nodes(group.database, shard.name, 'master').map((node) => node.id));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
