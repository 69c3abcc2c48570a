/**
 * Builds every group's snapshot from the registry, incrementally: the watcher names the shards
 * whose nodes changed (in routing or in verdict), and only their load assignments and listeners
 * are re-translated (a masters listener's filter chain is named after its masters, contract 11);
 * every other resource is reused as it was. Clusters of shards depend on the configuration
 * alone, so they are built only on a full build (the first, after a reload, or after a refused
 * snapshot). Each content is encoded and checked once (ResourceEncoder), so a listener whose
 * content did not change is not re-encoded.
 *
 * Groups that see the same thing (same database, DC, shards and listeners: say one group per
 * application, all reaching one store) share one *view*: it is built once, and each of its groups
 * gets a snapshot holding the very same resource sets.
 */
import type { Config, GroupConfig, ShardConfig } from '../config/types.js';
import { shardKey, splitShardKey } from '../registry/health.js';
import type { Health, NodeRecord } from '../registry/node.js';
import type { PortView } from '../registry/ports.js';
import { consistencyErrors } from '../snapshot/consistency.js';
import type { ResourceEncoder } from '../snapshot/encoder.js';
import { buildSnapshot, updateSnapshot, type EncodedResource, type Snapshot } from '../snapshot/snapshot.js';
import { RoutableIndex, reachResources, shardClusters, shardListeners } from '../topology/build.js';
import type { ClusterIR, ListenerIR } from '../topology/ir.js';
import { assignmentKey, clusterKey, listenerKey } from '../topology/ir-keys.js';
import { translateAssignment, translateCluster, translateListener } from '../translator/translate.js';

export interface BuildInput {
  readonly config: Config;
  /** Every node, ordered by id (read on full builds, and for bootstrap and per-node resources). */
  readonly nodes: () => readonly NodeRecord[];
  /** The nodes of one shard. */
  readonly shardMembers: (database: string, shard: string) => readonly NodeRecord[];
  readonly health: ReadonlyMap<string, Health>;
  readonly ports: PortView;
}

/** What changed since the last build: shards (`database/shard`) and the databases they are in. */
export interface Dirty {
  readonly shards: ReadonlySet<string>;
  readonly databases: ReadonlySet<string>;
}

export interface BuildResult {
  /** The groups whose snapshot changed in this build. */
  readonly changed: readonly Snapshot[];
  /** Groups whose new snapshot was refused, with why; they keep their last snapshot. */
  readonly refused: ReadonlyMap<string, readonly string[]>;
}

/** Groups sharing what they see; `group` is the one their resources are built from. */
interface View {
  readonly key: string;
  readonly group: GroupConfig;
  readonly groups: string[];
}

type Removal = { readonly typeUrl: EncodedResource['typeUrl']; readonly name: string };

export class SnapshotBuilder {
  private views = new Map<string, View>();
  private viewOfGroup = new Map<string, View>();
  /** The last good snapshot of each view (labelled with its view key). */
  private readonly built = new Map<string, Snapshot>();
  /** Each group's snapshot, re-labelled from its view's, kept while the version holds. */
  private readonly labelled = new Map<string, Snapshot>();
  /** Each view's bootstrap and per-node resources, to remove those that go away. */
  private readonly reachOf = new Map<string, EncodedResource[]>();
  /** database/shard -> the views that have it and their shard config. */
  private shardsByKey = new Map<string, Array<{ view: View; shard: ShardConfig }>>();
  private previousPorts = '';
  private full = true;
  private memoLimit = Number.POSITIVE_INFINITY;

  constructor(private readonly encoder: ResourceEncoder) {}

  /** The next build rebuilds everything (a new configuration). */
  invalidate(): void {
    this.full = true;
  }

  /** True when the next build must be a full one (then `dirty` is not needed). */
  get needsFull(): boolean {
    return this.full;
  }

  snapshot(group: string): Snapshot | undefined {
    const view = this.viewOfGroup.get(group);
    const built = view && this.built.get(view.key);
    if (!built) return undefined;
    const cached = this.labelled.get(group);
    if (cached?.version === built.version) return cached;
    const snapshot: Snapshot = Object.freeze({ group, version: built.version, sets: built.sets });
    this.labelled.set(group, snapshot);
    return snapshot;
  }

  build(input: BuildInput, dirty: Dirty): BuildResult {
    const result = this.full ? this.fullBuild(input) : this.incrementalBuild(input, dirty);
    this.previousPorts = portsSignature(input.ports);
    // Superseded contents pile up in the memo between full builds; a full build clears them.
    if (this.encoder.size > this.memoLimit) this.full = true;
    return result;
  }

  private fullBuild(input: BuildInput): BuildResult {
    this.encoder.beginFullBuild();
    this.groupViews(input.config);
    const index = new RoutableIndex({ nodes: input.nodes(), health: input.health });
    const changed: Snapshot[] = [];
    const refused = new Map<string, string[]>();
    for (const view of this.views.values()) {
      const problems: string[] = [];
      const resources: EncodedResource[] = [];
      for (const shard of view.group.shards) {
        for (const cluster of shardClusters(input.config, view.group, shard, index)) resources.push(...this.clusterPair(cluster, problems));
        for (const listener of shardListeners(input.config, view.group, shard, index)) resources.push(this.listener(listener, problems));
      }
      const reach = this.reach(view.group, index, input.ports, problems);
      resources.push(...reach);
      let snapshot: Snapshot | undefined;
      try {
        snapshot = buildSnapshot(view.groups.join(', '), resources);
        problems.push(...consistencyErrors(snapshot));
      } catch (error) {
        problems.push((error as Error).message);
      }
      if (problems.length > 0 || !snapshot) {
        for (const group of view.groups) refused.set(group, problems);
        continue;
      }
      this.reachOf.set(view.key, reach);
      this.built.set(view.key, snapshot);
      changed.push(...this.snapshotsOf(view));
    }
    this.encoder.endFullBuild();
    this.memoLimit = 2 * this.encoder.size + 1_000;
    // A refused view is rebuilt in full next time: its last good snapshot is older than this build.
    this.full = refused.size > 0;
    return { changed, refused };
  }

  private incrementalBuild(input: BuildInput, dirty: Dirty): BuildResult {
    const portsChanged = portsSignature(input.ports) !== this.previousPorts;
    if (dirty.shards.size === 0 && !portsChanged) return { changed: [], refused: new Map() };
    // Bootstrap and per-node resources span a whole database: rebuilt when any of it changed.
    const reachViews = [...this.views.values()].filter((v) => reachesNodes(v.group) && (portsChanged || dirty.databases.has(v.group.database)));
    const reachDatabases = new Set(reachViews.map((v) => v.group.database));
    const indexed: NodeRecord[] = [];
    for (const key of dirty.shards) {
      const [database, shard] = splitShardKey(key);
      if (!reachDatabases.has(database)) indexed.push(...input.shardMembers(database, shard));
    }
    if (reachDatabases.size > 0) indexed.push(...input.nodes().filter((n) => reachDatabases.has(n.database)));
    const index = new RoutableIndex({ nodes: indexed.sort(byId), health: input.health });

    const work = new Map<View, { upserts: EncodedResource[]; removals: Removal[]; problems: string[] }>();
    const workOf = (view: View) => {
      let entry = work.get(view);
      if (!entry) work.set(view, (entry = { upserts: [], removals: [], problems: [] }));
      return entry;
    };
    for (const key of dirty.shards) {
      for (const { view, shard } of this.shardsByKey.get(key) ?? []) {
        const entry = workOf(view);
        for (const cluster of shardClusters(input.config, view.group, shard, index)) entry.upserts.push(this.assignment(cluster, entry.problems));
        for (const listener of shardListeners(input.config, view.group, shard, index)) entry.upserts.push(this.listener(listener, entry.problems));
      }
    }
    for (const view of reachViews) {
      const entry = workOf(view);
      const reach = this.reach(view.group, index, input.ports, entry.problems);
      const kept = new Set(reach.map((r) => `${r.typeUrl}/${r.name}`));
      for (const old of this.reachOf.get(view.key) ?? []) if (!kept.has(`${old.typeUrl}/${old.name}`)) entry.removals.push(old);
      entry.upserts.push(...reach);
      this.reachOf.set(view.key, reach);
    }

    const changed: Snapshot[] = [];
    const refused = new Map<string, string[]>();
    for (const [view, { upserts, removals, problems }] of work) {
      const previous = this.built.get(view.key);
      if (!previous) continue;
      const next = updateSnapshot(previous, { upserts, removals });
      if (next.version === previous.version) continue;
      if (removals.length > 0) problems.push(...consistencyErrors(next));
      if (problems.length > 0) {
        for (const group of view.groups) refused.set(group, problems);
        continue;
      }
      this.built.set(view.key, next);
      changed.push(...this.snapshotsOf(view));
    }
    if (refused.size > 0) this.full = true;
    return { changed, refused };
  }

  /** Sorts the configured groups into views and indexes their shards. */
  private groupViews(config: Config): void {
    const views = new Map<string, View>();
    this.viewOfGroup = new Map();
    for (const group of config.groups) {
      const key = viewKey(group);
      let view = views.get(key);
      if (!view) views.set(key, (view = { key, group, groups: [] }));
      view.groups.push(group.name);
      this.viewOfGroup.set(group.name, view);
    }
    for (const key of this.built.keys()) if (!views.has(key)) this.built.delete(key);
    for (const group of this.labelled.keys()) if (!this.viewOfGroup.has(group)) this.labelled.delete(group);
    this.views = views;
    this.shardsByKey = new Map();
    for (const view of views.values()) {
      for (const shard of view.group.shards) {
        const key = shardKey(view.group.database, shard.name);
        const list = this.shardsByKey.get(key);
        if (list) list.push({ view, shard });
        else this.shardsByKey.set(key, [{ view, shard }]);
      }
    }
  }

  private snapshotsOf(view: View): Snapshot[] {
    return view.groups.map((group) => this.snapshot(group)!);
  }

  private clusterPair(cluster: ClusterIR, problems: string[]): EncodedResource[] {
    const definition = this.encoder.encode('type.googleapis.com/envoy.config.cluster.v3.Cluster', cluster.name, clusterKey(cluster), () => translateCluster(cluster), problems);
    return [definition, this.assignment(cluster, problems)];
  }

  private assignment(cluster: ClusterIR, problems: string[]): EncodedResource {
    return this.encoder.encode(
      'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
      cluster.name,
      assignmentKey(cluster),
      () => translateAssignment(cluster),
      problems,
    );
  }

  private listener(listener: ListenerIR, problems: string[]): EncodedResource {
    return this.encoder.encode('type.googleapis.com/envoy.config.listener.v3.Listener', listener.name, listenerKey(listener), () => translateListener(listener), problems);
  }

  private reach(group: GroupConfig, index: RoutableIndex, ports: PortView, problems: string[]): EncodedResource[] {
    if (!reachesNodes(group)) return [];
    const { clusters, listeners } = reachResources(group, index, ports);
    return [...clusters.flatMap((c) => this.clusterPair(c, problems)), ...listeners.map((l) => this.listener(l, problems))];
  }
}

/**
 * What a group sees, apart from its name: groups with equal keys get equal resources. Per-node
 * ports are allocated per group, so a group with node listeners is a view of its own.
 */
function viewKey(group: GroupConfig): string {
  const { name, ...seen } = group;
  return JSON.stringify({ ...seen, ports: group.nodeListeners ? name : undefined });
}

function byId(a: NodeRecord, b: NodeRecord): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function reachesNodes(group: GroupConfig): boolean {
  return group.bootstrapListener !== undefined || group.nodeListeners !== undefined;
}

/** Changes whenever a port is given, reclaimed or released. */
function portsSignature(ports: PortView): string {
  return ports
    .all()
    .map((a) => `${a.group}/${a.nodeId}/${a.port}/${a.releasedAtMs === undefined ? '' : 'r'}`)
    .join(',');
}
