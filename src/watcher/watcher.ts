/**
 * The watcher: registry -> topology -> translator -> snapshot cache. It rebuilds after a burst
 * of routing changes (debounced) and whenever time alone changes a verdict (a lease runs out),
 * and publishes only the groups whose content actually changed.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import type { Clock } from '../registry/clock.js';
import { assessHealth, shardKey, splitShardKey } from '../registry/health.js';
import type { Health, NodeRecord } from '../registry/node.js';
import type { NodeRegistry } from '../registry/registry.js';
import type { SnapshotCache } from '../snapshot/cache.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import type { ExpiryGuard } from '../registry/self-preservation.js';
import { ResourceEncoder, type ResourceCheck } from '../snapshot/encoder.js';
import { contentHash } from '../snapshot/hash.js';
import { Debouncer } from './debouncer.js';
import { SnapshotBuilder, type Dirty } from './snapshot-builder.js';

const NONE: ReadonlySet<string> = new Set();

/** What the last rebuild saw: /clusters reports from this so its `version` matches what Envoy got. */
export interface RoutingView {
  readonly version: string;
  readonly builtAtMs: number;
  readonly nodes: readonly NodeRecord[];
  readonly health: ReadonlyMap<string, Health>;
  /** Nodes whose lease ran out but which self-preservation keeps routable. */
  readonly preserved: ReadonlySet<string>;
}

/**
 * What one rebuild announces to observers (metrics, events): they read it and must not throw or
 * call back into the watcher.
 */
export interface RebuildEvent {
  readonly view: RoutingView;
  /** Shards (`database/shard`) whose verdicts were judged again: nodes outside them did not change. */
  readonly shards: ReadonlySet<string>;
  /** A full build (the first, or after a reload): every shard was judged. */
  readonly full: boolean;
  /** Snapshots that reached the cache in this rebuild. */
  readonly published: readonly Snapshot[];
  /** When the first registry change this rebuild carries was announced (the rebuild time if time alone changed something). */
  readonly changedAtMs: number;
  /** How long building and publishing the snapshots took, in seconds. */
  readonly buildSeconds: number;
  /** Self-preservation is holding expiry. */
  readonly preserving: boolean;
}

export type RebuildListener = (event: RebuildEvent) => void;

export interface WatcherDeps {
  readonly config: Config;
  readonly registry: NodeRegistry;
  readonly cache: SnapshotCache;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Extra checks on each newly encoded resource (the Envoy validate rules); errors block the group's publish. */
  readonly checkResource?: ResourceCheck;
  /** Self-preservation; without it, leases always expire. */
  readonly expiryGuard?: ExpiryGuard;
  /**
   * Closed during warm-up (and, when following other servers, until their first view): nothing
   * is published, so no Envoy hears of a half-filled registry. Call rebuild() when it opens.
   */
  readonly publishGate?: () => boolean;
}

export class Watcher {
  private debouncer: Debouncer;
  private config: Config;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private view: RoutingView | undefined;
  private readonly builder: SnapshotBuilder;
  /** Every node's verdict as of the last rebuild, updated shard by shard. */
  private health = new Map<string, Health>();
  private preserved: ReadonlySet<string> = NONE;
  /** Nodes an operator's resume took out of preservation, to judge again. */
  private resumed: ReadonlySet<string> = NONE;
  /** Each node's database/shard as of the last rebuild, to find the shard a node left. */
  private placement = new Map<string, string>();
  /** Snapshots were built but not published (warm-up): publish them all once warm. */
  private heldBack = false;
  private readonly listeners = new Set<RebuildListener>();
  /** When the registry first announced a change not yet rebuilt. */
  private changedSinceMs: number | undefined;

  constructor(private readonly deps: WatcherDeps) {
    this.config = deps.config;
    this.builder = new SnapshotBuilder(new ResourceEncoder(deps.checkResource));
    this.debouncer = new Debouncer(deps.config.xds.debounceMs, deps.config.xds.maxDelayMs, () => this.rebuild());
  }

  /** A reloaded configuration: groups no longer configured are dropped, everything is rebuilt. */
  reconfigure(config: Config): void {
    this.debouncer.cancel();
    this.config = config;
    this.debouncer = new Debouncer(config.xds.debounceMs, config.xds.maxDelayMs, () => this.rebuild());
    const groups = new Set(config.groups.map((g) => g.name));
    for (const group of this.deps.cache.groups()) if (!groups.has(group)) this.deps.cache.remove(group);
    this.builder.invalidate();
    this.rebuild();
  }

  start(): void {
    this.unsubscribe = this.deps.registry.onChange(() => {
      this.changedSinceMs ??= this.deps.clock.now();
      this.debouncer.trigger();
    });
    this.rebuild();
  }

  /** Tells `listener` of every rebuild from now on. Returns an unsubscribe function. */
  observe(listener: RebuildListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    this.unsubscribe?.();
    this.debouncer.cancel();
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
  }

  routingView(): RoutingView {
    return this.view ?? this.rebuild();
  }

  /** True once the warm-up is over: snapshots reach the cache. */
  isWarm(): boolean {
    return this.deps.publishGate?.() ?? true;
  }

  /** Rebuilds what changed and publishes the groups whose snapshot changed (once warm). */
  rebuild(): RoutingView {
    const { registry, cache, clock, logger } = this.deps;
    const config = this.config;
    const now = clock.now();
    const changedAtMs = this.changedSinceMs ?? now;
    this.changedSinceMs = undefined;
    const startedAt = performance.now();
    const full = this.builder.needsFull;
    const dirty = full ? this.judgeAll(now) : this.judgeChanges(now);
    const { changed, refused } = this.builder.build(
      { config, nodes: () => registry.list(), shardMembers: (d, s) => registry.shardMembers(d, s), health: this.health, ports: registry.ports },
      dirty,
    );
    for (const [group, problems] of refused) {
      // Keep serving the last good snapshot: a bad one must never reach Envoy.
      logger.error({ group, problems }, 'snapshot rejected; keeping the last good one');
    }
    const published: Snapshot[] = [];
    if (this.isWarm()) {
      // Everything built so far, the groups held back during the warm-up included.
      const pending = this.heldBack ? config.groups.map((g) => this.builder.snapshot(g.name)) : changed;
      this.heldBack = false;
      for (const snapshot of pending) {
        if (snapshot && cache.publish(snapshot)) {
          published.push(snapshot);
          logger.info({ group: snapshot.group, version: snapshot.version }, 'snapshot published');
        }
      }
    } else {
      this.heldBack = true;
    }
    const versions = config.groups.map((g) => this.builder.snapshot(g.name)?.version ?? 'none');
    const view: RoutingView = {
      version: contentHash(versions.join('.')),
      builtAtMs: now,
      get nodes() {
        return registry.list();
      },
      health: this.health,
      preserved: this.preserved,
    };
    this.view = Object.freeze(view);
    this.scheduleDeadline();
    if (this.listeners.size > 0) {
      const event: RebuildEvent = {
        view: this.view,
        shards: dirty.shards,
        full,
        published,
        changedAtMs,
        buildSeconds: (performance.now() - startedAt) / 1000,
        preserving: this.deps.expiryGuard?.isActive ?? false,
      };
      for (const listener of this.listeners) listener(event);
    }
    return this.view;
  }

  /** The operator ends self-preservation: the preserved nodes are judged again, and expire. */
  resumeExpiry(): boolean {
    const wasPreserving = this.deps.expiryGuard?.resume(this.deps.clock.now()) ?? false;
    this.resumed = this.preserved;
    this.preserved = NONE;
    this.rebuild();
    return wasPreserving;
  }

  /** Every verdict afresh (first build, reload): O(nodes). */
  private judgeAll(now: number): Dirty {
    const { registry } = this.deps;
    registry.takeChanges();
    registry.takeExpired(now);
    this.preserved = this.deps.expiryGuard?.evaluate(registry.list(), now) ?? NONE;
    registry.sweep(this.preserved);
    registry.takeChanges();
    const nodes = registry.list();
    this.health = assessHealth(nodes, now, registry.leaseMs, this.preserved);
    this.placement = new Map(nodes.map((n) => [n.id, shardKey(n.database, n.shard)]));
    return { shards: new Set(this.placement.values()), databases: new Set(nodes.map((n) => n.database)) };
  }

  /**
   * The verdicts that can have changed, and only those: nodes the registry journaled, nodes
   * whose lease ran out, nodes self-preservation took up or let go, and the rest of their shards
   * (fencing is per shard). A status change among 10,000 nodes looks at one shard.
   */
  private judgeChanges(now: number): Dirty {
    const { registry, expiryGuard } = this.deps;
    const touched = new Set(registry.takeChanges());
    for (const id of this.resumed) touched.add(id);
    this.resumed = NONE;
    const expired = registry.takeExpired(now);
    for (const id of expired) touched.add(id);
    if (expiryGuard && (expired.length > 0 || expiryGuard.isActive)) {
      const preserved = expiryGuard.evaluate(registry.list(), now);
      for (const id of preserved) if (!this.preserved.has(id)) touched.add(id);
      for (const id of this.preserved) if (!preserved.has(id)) touched.add(id);
      this.preserved = preserved;
    }
    registry.sweep(this.preserved);
    for (const id of registry.takeChanges()) touched.add(id);

    const shards = new Set<string>();
    const databases = new Set<string>();
    for (const id of touched) {
      const before = this.placement.get(id);
      if (before) shards.add(before);
      const node = registry.get(id);
      if (node) {
        const key = shardKey(node.database, node.shard);
        shards.add(key);
        this.placement.set(id, key);
      } else {
        this.placement.delete(id);
        this.health.delete(id);
      }
    }
    for (const key of shards) {
      const [database, shard] = splitShardKey(key);
      databases.add(database);
      const members = registry.shardMembers(database, shard);
      for (const [id, verdict] of assessHealth(members, now, registry.leaseMs, this.preserved)) this.health.set(id, verdict);
    }
    return { shards, databases };
  }

  private scheduleDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    const now = this.deps.clock.now();
    const candidates = [this.deps.registry.nextDeadline()];
    // While preserving, look again every lease.
    if (this.deps.expiryGuard?.isActive) candidates.push(now + this.deps.registry.leaseMs);
    const deadline = Math.min(...candidates.filter((c): c is number => c !== undefined));
    if (!Number.isFinite(deadline)) return;
    const delay = Math.max(0, deadline - now);
    this.deadlineTimer = setTimeout(() => this.rebuild(), delay);
    this.deadlineTimer.unref();
  }
}
