/**
 * Wiring only: builds the pipeline (registry -> watcher -> snapshot cache -> xDS server, with the
 * HTTP API beside it), starts it, and stops it in the reverse order.
 */
import type { Logger } from 'pino';
import { reconcile, type Reconciled } from './config/reload.js';
import { DEFAULT_EVENTS_RETAIN } from './config/schema.js';
import type { Config, HostPort } from './config/types.js';
import { messageNameOf } from './envoy-api/type-urls.js';
import { validateEncoded } from './envoy-api/pgv.js';
import { systemClock, type Clock } from './registry/clock.js';
import { MemoryRegistry } from './registry/memory-registry.js';
import { ExpiryGuard } from './registry/self-preservation.js';
import { MirrorRegistry } from './registry/mirror-registry.js';
import { RemotePoller } from './sources/dkv/remote-poller.js';
import { portPools } from './registry/ports.js';
import { restoreState } from './registry/state-restore.js';
import { createEtcdStore } from './registry/etcd/etcd-store.js';
import type { EtcdRegistry, StoreObserver } from './registry/etcd/etcd-registry.js';
import { SnapshotCache } from './snapshot/cache.js';
import { buildApp, type App } from './sources/http/app.js';
import { metadataTokenCheck } from './auth/tokens.js';
import { dkvDiscoveryService } from './sources/dkv/discovery-service.js';
import { formatHostPort } from './util/host-port.js';
import { VERSION } from './version.js';
import { startObservers, type Observers } from './observers/observers.js';
import { Watcher } from './watcher/watcher.js';
import { XdsServer } from './xds/server.js';

export interface Shardvoy {
  readonly config: Config;
  readonly http: HostPort;
  readonly grpc: HostPort;
  readonly registry: MemoryRegistry | MirrorRegistry | EtcdRegistry;
  /** Applies a new configuration without dropping streams; keys bound at start keep their value. */
  reload(next: Config): Reconciled;
  readonly cache: SnapshotCache;
  readonly watcher: Watcher;
  readonly xds: XdsServer;
  readonly app: App;
  /** Metrics and events (contract 15). */
  readonly observers: Observers;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly logger: Logger;
  readonly clock?: Clock;
}

export async function startShardvoy(config: Config, options: StartOptions): Promise<Shardvoy> {
  const { logger } = options;
  /** The configuration in force: replaced by reload(), read through this everywhere after start. */
  let current = config;
  const clock = options.clock ?? systemClock;
  const following = config.registry.remote.length > 0;
  const expiryGuard = new ExpiryGuard(config.registry.selfPreservation, config.registry.leaseSeconds * 1000, logger.child({ component: 'self-preservation' }));
  // Several instances sharing one registry: its judge, not this watcher, expires nodes.
  const shared = config.registry.store === 'etcd' ? createEtcdStore({ clock, logger, guard: expiryGuard, config: () => current }) : undefined;
  const registry = shared
    ? shared.registry
    : following
      ? new MirrorRegistry({ remote: config.registry.remote, clock, portPools: portPools(config), portReuseSeconds: config.registry.portReuseSeconds })
      : new MemoryRegistry({ ...config.registry, portPools: portPools(config), clock });
  const state = config.registry.stateFile && !shared ? restoreState(config.registry.stateFile, registry, clock, logger) : undefined;
  const saver = state?.saver;
  // Warm-up: a start without state waits a lease for heartbeats (or, following other servers,
  // for their first view) before telling Envoy anything, so a restart never announces that
  // every node is gone.
  const publishFromMs = state?.loaded ? clock.now() : clock.now() + config.registry.warmupSeconds * 1000;
  let poller: RemotePoller | undefined;
  const publishGate = (): boolean =>
    shared ? shared.publishGate() : following ? state?.loaded === true || poller?.hasView === true : clock.now() >= publishFromMs;
  if (!publishGate()) {
    logger.info(
      following ? { remote: config.registry.remote } : { warmupSeconds: config.registry.warmupSeconds },
      following ? 'waiting for the first view of the followed discovery servers before answering xDS' : 'warming up: xDS answers wait until the registry has heard from its nodes',
    );
  }
  const cache = new SnapshotCache();
  const watcher = new Watcher({
    // A follower's nodes never expire locally: the followed server judges liveness (or the etcd store's judge).
    ...(following || shared ? {} : { expiryGuard }),
    publishGate,
    config,
    registry,
    cache,
    clock,
    logger: logger.child({ component: 'watcher' }),
    // The last line of defence: a resource that breaks Envoy's validate rules is never published.
    checkResource: (resource) =>
      validateEncoded(messageNameOf(resource.typeUrl), resource.value).map((v) => `${v.path}: ${v.message} (${v.rule})`),
  });
  const xds = new XdsServer({
    cache,
    groups: () => current.groups.map((group) => group.name),
    clock,
    logger: logger.child({ component: 'xds' }),
    version: VERSION,
    // The running xDS keys: those bound at start keep their value through reloads (reload.ts).
    get settings() {
      return current.xds;
    },
    tls: config.grpc.tls,
    // CSDS shows what GET /v1/xds/clients shows: the read token guards both (contract 9).
    authorizeRead: metadataTokenCheck(() => current.auth, 'read'),
    controlPlaneId: config.xds.controlPlaneId,
  });
  const observers = startObservers({
    config: () => current,
    ...(shared ? { store: { status: () => shared.status(), observe: (observer: StoreObserver) => shared.registry.observe(observer) } } : {}),
    registry,
    watcher,
    clock,
    xdsClients: () => xds.clients(),
  });
  for (const observer of observers.xds) xds.observe(observer);
  const dkv = dkvDiscoveryService({
    registry,
    clock,
    logger: logger.child({ component: 'dkv' }),
    authorize: metadataTokenCheck(() => current.auth, 'heartbeat'),
    authorizeRead: metadataTokenCheck(() => current.auth, 'read'),
    preserved: () => watcher.routingView().preserved,
    onHeartbeat: (outcome) => observers.metrics.heartbeat('dkv', outcome),
  });
  xds.addService(dkv.definition, dkv.implementation);
  const app = await buildApp({
    get config() {
      return current;
    },
    registry,
    routingView: () => watcher.routingView(),
    xdsClients: () => xds.clients(),
    readiness: () => {
      const trouble = shared?.trouble();
      if (trouble) return { ready: false, reason: trouble };
      if (watcher.isWarm()) return { ready: true };
      if (shared) return { ready: false, reason: 'reading the registry from etcd (or warming up an empty one) before answering xDS' };
      if (following) return { ready: false, reason: `no view yet from the followed discovery servers ${config.registry.remote.join(', ')}` };
      return { ready: false, reason: `warming up: xDS answers start at ${new Date(publishFromMs).toISOString()} (registry.warmupSeconds)` };
    },
    resumeExpiry: shared
      ? async () => {
          // The judge may run elsewhere: it hears the request through etcd.
          const wasPreserving = shared.registry.judgeStatus()?.preserving ?? false;
          await shared.registry.requestResume();
          return wasPreserving;
        }
      : () => watcher.resumeExpiry(),
    metrics: observers.metrics,
    events: observers.events,
    onHeartbeat: observers.metrics.heartbeat,
    clock,
    logger: logger.child({ component: 'http' }),
  });

  watcher.start();
  saver?.start();
  let warmupTimer: NodeJS.Timeout | undefined;
  const openGate = () => {
    // A timer may fire a millisecond before the clock reaches its time: wait until the gate is open.
    if (!watcher.isWarm()) warmupTimer = setTimeout(openGate, 5);
    else watcher.rebuild();
    warmupTimer?.unref();
  };
  if (!following) {
    warmupTimer = setTimeout(openGate, Math.max(0, publishFromMs - clock.now()));
    warmupTimer.unref();
  }
  if (registry instanceof MirrorRegistry) {
    poller = new RemotePoller({
      addresses: config.registry.remote,
      databases: () => [...new Set(current.groups.map((g) => g.database))],
      intervalMs: config.registry.pollIntervalSeconds * 1000,
      mirror: registry,
      logger: logger.child({ component: 'follower' }),
      onView: () => watcher.rebuild(),
    });
    poller.start();
  }
  const grpcAddress = await xds.listen(config.grpc.listen);
  shared?.start(xds.identifier);
  logger.info({ service: 'grpc', address: formatHostPort(grpcAddress) }, `listening for xDS on ${formatHostPort(grpcAddress)}`);
  await app.listen({ host: config.http.listen.host, port: config.http.listen.port });
  const bound = app.server.address();
  const httpAddress = { host: config.http.listen.host, port: typeof bound === 'object' && bound ? bound.port : config.http.listen.port };
  logger.info({ service: 'http', address: formatHostPort(httpAddress) }, `listening for HTTP on ${formatHostPort(httpAddress)}`);

  let stopping: Promise<void> | undefined;
  return {
    get config() {
      return current;
    },
    http: httpAddress,
    grpc: grpcAddress,
    registry,
    cache,
    watcher,
    xds,
    app,
    observers,
    reload: (next) => {
      const reconciled = reconcile(current, next);
      const removed = current.groups.map((g) => g.name).filter((name) => !reconciled.config.groups.some((g) => g.name === name));
      current = reconciled.config;
      // Envoys of a group that is gone are told so, as at connect time, and go elsewhere.
      xds.closeGroups(removed);
      if (shared) shared.reconfigure(current);
      else if (registry instanceof MirrorRegistry) registry.reconfigure(portPools(current), current.registry.portReuseSeconds);
      else registry.reconfigure({ ...current.registry, portPools: portPools(current) });
      expiryGuard.reconfigure(current.registry.selfPreservation, current.registry.leaseSeconds * 1000);
      watcher.reconfigure(current);
      observers.events.reconfigure(current.events?.retain ?? DEFAULT_EVENTS_RETAIN);
      logger.info({ groups: current.groups.map((g) => g.name), needsRestart: reconciled.needsRestart }, 'configuration reloaded');
      if (reconciled.needsRestart.length > 0) {
        logger.warn({ keys: reconciled.needsRestart }, `these keys changed but apply only after a restart: ${reconciled.needsRestart.join(', ')}`);
      }
      return reconciled;
    },
    stop: () =>
      (stopping ??= (async () => {
        await app.close();
        await xds.close();
        poller?.stop();
        if (warmupTimer) clearTimeout(warmupTimer);
        watcher.stop();
        observers.stop();
        saver?.stop();
        await shared?.stop();
        logger.info('stopped');
      })()),
  };
}
