/**
 * The observers of contract 15, wired to what the stages announce: the watcher's rebuilds, the
 * heartbeat sources' outcomes and the xDS streams' replies. No stage calls into this folder;
 * each only announces, and main.ts subscribes these.
 */
import type { Config } from '../config/types.js';
import type { Clock } from '../registry/clock.js';
import type { NodeRegistry } from '../registry/registry.js';
import type { Watcher } from '../watcher/watcher.js';
import type { XdsObserver } from '../xds/observer.js';
import type { StreamStatus } from '../xds/stream-base.js';
import { DEFAULT_EVENTS_RETAIN } from '../config/schema.js';
import { EventLog } from './event-log.js';
import { Metrics } from './metrics.js';
import { registerStoreMetrics, type StoreStatus } from './store-metrics.js';
import { instanceEvents } from './instance-events.js';
import type { StoreObserver } from '../registry/etcd/etcd-registry.js';
import { RoutingEvents } from './routing-events.js';
import { XdsEvents } from './xds-events.js';

export interface ObserversDeps {
  readonly config: () => Config;
  readonly registry: NodeRegistry;
  readonly watcher: Watcher;
  readonly clock: Clock;
  readonly xdsClients: () => readonly StreamStatus[];
  readonly defaultMetrics?: boolean;
  /** A shared registry store (etcd), when there is one: its state, and what it announces. */
  readonly store?: {
    readonly status: () => StoreStatus & { readonly preserving: boolean };
    observe(observer: StoreObserver): () => void;
  };
}

export interface Observers {
  readonly events: EventLog;
  readonly metrics: Metrics;
  /** To add to the xDS server's observers. */
  readonly xds: readonly XdsObserver[];
  stop(): void;
}

/** Subscribe before watcher.start(): the first rebuild is the events' baseline. */
export function startObservers(deps: ObserversDeps): Observers {
  const events = new EventLog(deps.clock, deps.config().events?.retain ?? DEFAULT_EVENTS_RETAIN);
  const metrics = new Metrics({
    clock: deps.clock,
    config: deps.config,
    routingView: () => deps.watcher.routingView(),
    xdsClients: deps.xdsClients,
    ...(deps.defaultMetrics === undefined ? {} : { defaultMetrics: deps.defaultMetrics }),
    // With a shared store, the judge (maybe another instance) holds self-preservation.
    ...(deps.store ? { preserving: () => deps.store!.status().preserving } : {}),
  });
  const unsubscribe: Array<() => void> = [];
  if (deps.store) {
    unsubscribe.push(deps.store.observe(registerStoreMetrics(metrics.registry, deps.store.status, () => deps.clock.now())));
    unsubscribe.push(deps.store.observe(instanceEvents(events)));
  }
  const routing = new RoutingEvents({
    log: events,
    shardMembers: (database, shard) => deps.registry.shardMembers(database, shard),
    known: (id) => deps.registry.get(id) !== undefined,
    ports: deps.registry.ports,
    portGroups: () => deps.config().groups.filter((g) => g.nodeListeners !== undefined).map((g) => g.name),
  });
  unsubscribe.push(deps.watcher.observe(routing.onRebuild), deps.watcher.observe(metrics.onRebuild));
  return {
    events,
    metrics,
    xds: [metrics, new XdsEvents(events)],
    stop: () => {
      for (const off of unsubscribe) off();
    },
  };
}
