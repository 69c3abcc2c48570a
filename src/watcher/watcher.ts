/**
 * The watcher: registry -> topology -> translator -> snapshot cache. It rebuilds after a burst
 * of routing changes (debounced) and whenever time alone changes a verdict (a lease runs out),
 * and publishes only the groups whose content actually changed.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import type { Clock } from '../registry/clock.js';
import { assessHealth } from '../registry/health.js';
import type { Health, NodeRecord } from '../registry/node.js';
import type { NodeRegistry } from '../registry/registry.js';
import type { SnapshotCache } from '../snapshot/cache.js';
import { consistencyErrors } from '../snapshot/consistency.js';
import { contentHash } from '../snapshot/hash.js';
import { buildSnapshot, encodeResource, type EncodedResource } from '../snapshot/snapshot.js';
import { buildTopology } from '../topology/build.js';
import { translateGroup } from '../translator/translate.js';
import type { ExpiryGuard } from '../registry/self-preservation.js';
import { Debouncer } from './debouncer.js';

/** What the last rebuild saw: /clusters reports from this so its `version` matches what Envoy got. */
export interface RoutingView {
  readonly version: string;
  readonly builtAtMs: number;
  readonly nodes: readonly NodeRecord[];
  readonly health: ReadonlyMap<string, Health>;
  /** Nodes whose lease ran out but which self-preservation keeps routable. */
  readonly preserved: ReadonlySet<string>;
}

export interface WatcherDeps {
  readonly config: Config;
  readonly registry: NodeRegistry;
  readonly cache: SnapshotCache;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Extra checks on each newly encoded resource (the Envoy validate rules); errors block the group's publish. */
  readonly checkResource?: (resource: EncodedResource) => string[];
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
  /** Versions already checked, so unchanged resources are not validated again on every rebuild. */
  private checkedVersions = new Set<string>();

  constructor(private readonly deps: WatcherDeps) {
    this.config = deps.config;
    this.debouncer = new Debouncer(deps.config.xds.debounceMs, deps.config.xds.maxDelayMs, () => this.rebuild());
  }

  /** A reloaded configuration: groups no longer configured are dropped, everything is rebuilt. */
  reconfigure(config: Config): void {
    this.debouncer.cancel();
    this.config = config;
    this.debouncer = new Debouncer(config.xds.debounceMs, config.xds.maxDelayMs, () => this.rebuild());
    const groups = new Set(config.groups.map((g) => g.name));
    for (const group of this.deps.cache.groups()) if (!groups.has(group)) this.deps.cache.remove(group);
    this.rebuild();
  }

  start(): void {
    this.unsubscribe = this.deps.registry.onChange(() => this.debouncer.trigger());
    this.rebuild();
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

  /** Rebuilds every group now and publishes those that changed. */
  rebuild(): RoutingView {
    const { registry, cache, clock, logger } = this.deps;
    const config = this.config;
    const now = clock.now();
    const preserved = this.deps.expiryGuard?.evaluate(registry.list(), now) ?? new Set<string>();
    registry.sweep(preserved);
    const nodes = registry.list();
    const health = assessHealth(nodes, now, registry.leaseMs, preserved);
    const topology = buildTopology(config, { nodes, health, ports: registry.ports });
    const warm = this.isWarm();
    const versions: string[] = [];
    const checked = new Set<string>();
    for (const [group, groupTopology] of topology) {
      const resources = translateGroup(groupTopology).map(encodeResource);
      const problems = this.check(resources, checked);
      const snapshot = buildSnapshot(group, resources);
      problems.push(...consistencyErrors(snapshot));
      if (problems.length > 0) {
        // Keep serving the last good snapshot: a bad one must never reach Envoy.
        logger.error({ group, problems }, 'snapshot rejected; keeping the last good one');
        versions.push(cache.get(group)?.version ?? 'none');
        continue;
      }
      if (warm && cache.publish(snapshot)) logger.info({ group, version: snapshot.version }, 'snapshot published');
      versions.push(snapshot.version);
    }
    this.checkedVersions = checked;
    this.view = Object.freeze({ version: contentHash(versions.join('.')), builtAtMs: now, nodes, health, preserved });
    this.scheduleDeadline();
    return this.view;
  }

  private check(resources: readonly EncodedResource[], checked: Set<string>): string[] {
    const checkResource = this.deps.checkResource;
    if (!checkResource) return [];
    const problems: string[] = [];
    for (const resource of resources) {
      const key = `${resource.typeUrl}/${resource.name}/${resource.version}`;
      if (this.checkedVersions.has(key)) {
        checked.add(key);
        continue;
      }
      const found = checkResource(resource);
      // Only a clean resource is remembered: a bad one is checked (and refused) again every time.
      if (found.length === 0) checked.add(key);
      problems.push(...found.map((p) => `${resource.name}: ${p}`));
    }
    return problems;
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
