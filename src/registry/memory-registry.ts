import type { Clock } from './clock.js';
import { isExpired, shardKey } from './health.js';
import { sameRouting, type Heartbeat, type Maintenance, type NodeRecord } from './node.js';
import { PortAllocator, type DroppedPort, type PortPool } from './ports.js';
import { RegistryFullError, type NodeRegistry, type RecordOutcome, type RegistryState } from './registry.js';

export interface MemoryRegistryOptions {
  readonly leaseSeconds: number;
  readonly expiredRetentionSeconds: number;
  readonly clock: Clock;
  /** Groups with node listeners, and how long a forgotten node's port is held for it. */
  readonly portPools?: readonly PortPool[];
  readonly portReuseSeconds?: number;
  readonly maxNodes?: number;
}

/** Lease ends are noticed in buckets this wide: at most this late, and one bucket per slice of time. */
const EXPIRY_BUCKET_MS = 25;

/**
 * A single-process registry, built so that a change costs in proportion to what changed, not to
 * the number of nodes: it keeps a journal of nodes whose routing changed, the members of each
 * shard, and lease ends in time buckets, so the watcher never has to scan every node to find
 * what a heartbeat or the passing of time changed. Lease renewals that change no routing field
 * notify nobody.
 */
export class MemoryRegistry implements NodeRegistry {
  leaseMs: number;
  readonly ports: PortAllocator;
  private retentionMs: number;
  private maxNodes: number;
  private readonly clock: Clock;
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly byShard = new Map<string, Set<string>>();
  private readonly listeners = new Set<() => void>();
  /** Ids whose routing changed (or that came or went) since the last takeChanges(). */
  private journal = new Set<string>();
  /** Lease ends: bucket end time -> ids whose lease may end by then (renewed ones are skipped). */
  private readonly expiryBuckets = new Map<number, string[]>();
  private bucketTimes: number[] = [];
  /** No node can be due for forgetting before this (renewals only push the real moment later). */
  private nextSweepAt = Number.POSITIVE_INFINITY;
  private sortedIds: string[] | undefined;
  /** Every id, in the order of its last heartbeat: the first ones are the first whose lease ends. */
  private readonly byLastHeartbeat = new Set<string>();
  /** Expired nodes self-preservation keeps routable (the last sweep's `keep`): they hold their places. */
  private kept: ReadonlySet<string> = new Set();
  /** After a vain search for room: none can come before `until` unless `kept` changes. */
  private noRoom: { until: number; kept: ReadonlySet<string> } | undefined;

  constructor(options: MemoryRegistryOptions) {
    this.leaseMs = options.leaseSeconds * 1000;
    this.retentionMs = options.expiredRetentionSeconds * 1000;
    this.clock = options.clock;
    this.maxNodes = options.maxNodes ?? Number.POSITIVE_INFINITY;
    this.ports = new PortAllocator(options.portPools ?? [], (options.portReuseSeconds ?? 86_400) * 1000);
  }

  /** Applies a reloaded configuration's registry settings; nodes and their ports stay. */
  reconfigure(options: Omit<MemoryRegistryOptions, 'clock'>): void {
    this.leaseMs = options.leaseSeconds * 1000;
    this.retentionMs = options.expiredRetentionSeconds * 1000;
    this.maxNodes = options.maxNodes ?? Number.POSITIVE_INFINITY;
    this.ports.reconfigure(options.portPools ?? [], (options.portReuseSeconds ?? 86_400) * 1000);
    // Lease ends move with the lease: re-plan them all.
    this.expiryBuckets.clear();
    this.bucketTimes = [];
    for (const node of this.nodes.values()) this.planExpiry(node);
    this.nextSweepAt = this.clock.now();
    this.noRoom = undefined;
    for (const id of this.nodes.keys()) this.journal.add(id);
    this.notify();
  }

  record(heartbeat: Heartbeat): RecordOutcome {
    const now = this.clock.now();
    const previous = this.nodes.get(heartbeat.id);
    if (!previous && !this.makeRoom(now)) throw new RegistryFullError(this.maxNodes);
    // Object.assign rather than a spread with more fields after it: made on every heartbeat, and
    // V8 builds it about 8x faster this way (0.26 µs against 2.3 µs here).
    const node: NodeRecord = Object.freeze(
      Object.assign(
        {},
        heartbeat,
        { labels: Object.freeze({ ...heartbeat.labels }), firstSeenMs: previous?.firstSeenMs ?? now, lastHeartbeatMs: now },
        // The operator's word outlasts the node's heartbeats.
        previous?.maintenance ? { maintenance: previous.maintenance } : undefined,
      ),
    );
    this.place(previous, node);
    this.planExpiry(node);
    this.nextSweepAt = Math.min(this.nextSweepAt, this.forgetAt(node));
    this.byLastHeartbeat.delete(node.id);
    this.byLastHeartbeat.add(node.id);
    const ports = this.ports.assign(node.id, node.database, now);
    const routingChanged =
      previous === undefined || isExpired(previous, now, this.leaseMs) || !sameRouting(previous, heartbeat) || ports.changed;
    if (routingChanged) {
      this.journal.add(node.id);
      this.notify();
    }
    return { node, routingChanged, portsExhausted: ports.exhausted };
  }

  setMaintenance(id: string, maintenance: Maintenance | undefined): NodeRecord | undefined {
    const previous = this.nodes.get(id);
    if (!previous) return undefined;
    const { maintenance: _old, ...rest } = previous;
    const node: NodeRecord = Object.freeze(maintenance ? { ...rest, maintenance: Object.freeze({ ...maintenance }) } : rest);
    this.nodes.set(id, node);
    this.journal.add(id);
    this.notify();
    return node;
  }

  forget(id: string): NodeRecord | undefined {
    const node = this.nodes.get(id);
    if (!node) return undefined;
    this.remove(node);
    this.ports.release(id, this.clock.now());
    this.notify();
    return node;
  }

  get(id: string): NodeRecord | undefined {
    return this.nodes.get(id);
  }

  list(): readonly NodeRecord[] {
    this.sortedIds ??= [...this.nodes.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return this.sortedIds.map((id) => this.nodes.get(id)!);
  }

  shardMembers(database: string, shard: string): NodeRecord[] {
    const ids = this.byShard.get(shardKey(database, shard));
    return ids ? [...ids].map((id) => this.nodes.get(id)!) : [];
  }

  takeChanges(): ReadonlySet<string> {
    const changes = this.journal;
    this.journal = new Set();
    return changes;
  }

  takeExpired(nowMs: number): string[] {
    const expired = new Set<string>();
    // Every bucket that has begun: leases end exactly, whenever the watcher looks, not a bucket late.
    while (this.bucketTimes.length > 0 && this.bucketTimes[0]! - EXPIRY_BUCKET_MS < nowMs) {
      const time = this.bucketTimes[0]!;
      const pending: string[] = [];
      for (const id of this.expiryBuckets.get(time) ?? []) {
        const node = this.nodes.get(id);
        if (!node) continue;
        if (isExpired(node, nowMs, this.leaseMs)) expired.add(id);
        // Not yet, and still planned in this bucket (a renewal planned it in a later one).
        else if (node.lastHeartbeatMs + this.leaseMs + 1 <= time) pending.push(id);
      }
      if (pending.length > 0 && time > nowMs) {
        this.expiryBuckets.set(time, pending);
        break;
      }
      this.expiryBuckets.delete(time);
      this.bucketTimes.shift();
    }
    return [...expired];
  }

  sweep(keep: ReadonlySet<string> = new Set()): string[] {
    this.kept = keep;
    const now = this.clock.now();
    if (now < this.nextSweepAt) return [];
    const forgotten: string[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const node of this.nodes.values()) {
      const due = this.forgetAt(node);
      if (due > now) next = Math.min(next, due);
      else if (!keep.has(node.id)) forgotten.push(node.id);
      // Due but kept (self-preservation): look again in a lease, not on every tick.
      else next = Math.min(next, now + this.leaseMs);
    }
    this.nextSweepAt = next;
    for (const id of forgotten) {
      this.remove(this.nodes.get(id)!);
      this.ports.release(id, now);
    }
    if (forgotten.length > 0) this.notify();
    return forgotten;
  }

  nextDeadline(): number | undefined {
    const earliest = Math.min(this.bucketTimes[0] ?? Number.POSITIVE_INFINITY, this.nextSweepAt);
    return Number.isFinite(earliest) ? earliest : undefined;
  }

  state(): RegistryState {
    return {
      nodes: [...this.nodes.values()].map(({ lastHeartbeatMs: _last, ...node }) => node),
      ports: this.ports.all(),
    };
  }

  restore(state: RegistryState): DroppedPort[] {
    const now = this.clock.now();
    const dropped = this.ports.restore(state.ports);
    for (const saved of state.nodes) {
      const node = Object.freeze({ ...saved, labels: Object.freeze({ ...saved.labels }), lastHeartbeatMs: now });
      this.place(this.nodes.get(node.id), node);
      this.byLastHeartbeat.delete(node.id);
      this.byLastHeartbeat.add(node.id);
      this.planExpiry(node);
      this.nextSweepAt = Math.min(this.nextSweepAt, this.forgetAt(node));
      this.journal.add(node.id);
      this.ports.assign(saved.id, saved.database, now);
    }
    this.notify();
    return dropped;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private place(previous: NodeRecord | undefined, node: NodeRecord): void {
    const key = shardKey(node.database, node.shard);
    if (previous) {
      const oldKey = shardKey(previous.database, previous.shard);
      if (oldKey !== key) {
        const old = this.byShard.get(oldKey);
        old?.delete(node.id);
        if (old?.size === 0) this.byShard.delete(oldKey);
      }
    } else {
      this.sortedIds = undefined;
    }
    let members = this.byShard.get(key);
    if (!members) this.byShard.set(key, (members = new Set()));
    members.add(node.id);
    this.nodes.set(node.id, node);
  }

  /**
   * Whether a new node fits under maxNodes: expired nodes not kept by self-preservation give up
   * their places, the longest expired first, and are forgotten as DELETE forgets them (their
   * ports are held for portReuseSeconds). Live and kept nodes count; expired ones do not.
   */
  private makeRoom(now: number): boolean {
    if (this.nodes.size < this.maxNodes) return true;
    if (this.noRoom && now < this.noRoom.until && this.noRoom.kept === this.kept) return false;
    const needed = this.nodes.size - this.maxNodes + 1;
    const evicted: NodeRecord[] = [];
    let until = Number.POSITIVE_INFINITY;
    for (const id of this.byLastHeartbeat) {
      const node = this.nodes.get(id)!;
      if (!isExpired(node, now, this.leaseMs)) {
        // Every later node was heard from later still: none of them is expired either.
        until = node.lastHeartbeatMs + this.leaseMs + 1;
        break;
      }
      if (!this.kept.has(id) && evicted.push(node) === needed) break;
    }
    if (evicted.length < needed) {
      // A refused node changes nothing; and many refused ones must not each walk past every kept node.
      this.noRoom = { until, kept: this.kept };
      return false;
    }
    for (const node of evicted) {
      this.remove(node);
      this.ports.release(node.id, now);
    }
    return true;
  }

  private remove(node: NodeRecord): void {
    this.byLastHeartbeat.delete(node.id);
    this.nodes.delete(node.id);
    const key = shardKey(node.database, node.shard);
    const members = this.byShard.get(key);
    members?.delete(node.id);
    if (members?.size === 0) this.byShard.delete(key);
    this.sortedIds = undefined;
    this.journal.add(node.id);
  }

  /** When a node not heard from again is forgotten: a lease and the retention after its last heartbeat. */
  private forgetAt(node: NodeRecord): number {
    return node.lastHeartbeatMs + this.leaseMs + this.retentionMs + 1;
  }

  /** Plans the moment the node's lease ends (1 ms after a whole lease), in its time bucket. */
  private planExpiry(node: NodeRecord): void {
    const endsAt = node.lastHeartbeatMs + this.leaseMs + 1;
    if (!Number.isFinite(endsAt)) return;
    const time = Math.ceil(endsAt / EXPIRY_BUCKET_MS) * EXPIRY_BUCKET_MS;
    const bucket = this.expiryBuckets.get(time);
    if (bucket) {
      bucket.push(node.id);
      return;
    }
    this.expiryBuckets.set(time, [node.id]);
    // Buckets are almost always appended in time order; insert in place otherwise.
    let i = this.bucketTimes.length;
    while (i > 0 && this.bucketTimes[i - 1]! > time) i--;
    this.bucketTimes.splice(i, 0, time);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
