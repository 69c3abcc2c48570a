/**
 * Wiring only: builds the pipeline (registry -> watcher -> snapshot cache -> xDS server, with the
 * HTTP API beside it), starts it, and stops it in the reverse order.
 */
import type { Logger } from 'pino';
import type { Config, HostPort } from './config/types.js';
import { messageNameOf } from './envoy-api/type-urls.js';
import { validateEncoded } from './envoy-api/pgv.js';
import { systemClock, type Clock } from './registry/clock.js';
import { MemoryRegistry } from './registry/memory-registry.js';
import { SnapshotCache } from './snapshot/cache.js';
import { buildApp, type App } from './sources/http/app.js';
import { formatHostPort } from './util/host-port.js';
import { VERSION } from './version.js';
import { Watcher } from './watcher/watcher.js';
import { XdsServer } from './xds/server.js';

export interface Shardvoy {
  readonly config: Config;
  readonly http: HostPort;
  readonly grpc: HostPort;
  readonly registry: MemoryRegistry;
  readonly cache: SnapshotCache;
  readonly watcher: Watcher;
  readonly xds: XdsServer;
  readonly app: App;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly logger: Logger;
  readonly clock?: Clock;
}

export async function startShardvoy(config: Config, options: StartOptions): Promise<Shardvoy> {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const registry = new MemoryRegistry({ ...config.registry, clock });
  const cache = new SnapshotCache();
  const watcher = new Watcher({
    config,
    registry,
    cache,
    clock,
    logger: logger.child({ component: 'watcher' }),
    // The last line of defence: a resource that breaks Envoy's validate rules is never published.
    checkResource: (resource) =>
      validateEncoded(messageNameOf(resource.typeUrl), resource.value).map((v) => `${v.path}: ${v.message} (${v.rule})`),
  });
  const groupNames = config.groups.map((group) => group.name);
  const xds = new XdsServer({ cache, groups: () => groupNames, clock, logger: logger.child({ component: 'xds' }), version: VERSION, settings: config.xds });
  const app = await buildApp({
    config,
    registry,
    routingView: () => watcher.routingView(),
    xdsClients: () => xds.clients(),
    readiness: () => ({ ready: true }),
    clock,
    logger: logger.child({ component: 'http' }),
  });

  watcher.start();
  const grpcAddress = await xds.listen(config.grpc.listen);
  logger.info({ service: 'grpc', address: formatHostPort(grpcAddress) }, `listening for xDS on ${formatHostPort(grpcAddress)}`);
  await app.listen({ host: config.http.listen.host, port: config.http.listen.port });
  const bound = app.server.address();
  const httpAddress = { host: config.http.listen.host, port: typeof bound === 'object' && bound ? bound.port : config.http.listen.port };
  logger.info({ service: 'http', address: formatHostPort(httpAddress) }, `listening for HTTP on ${formatHostPort(httpAddress)}`);

  let stopping: Promise<void> | undefined;
  return {
    config,
    http: httpAddress,
    grpc: grpcAddress,
    registry,
    cache,
    watcher,
    xds,
    app,
    stop: () =>
      (stopping ??= (async () => {
        await app.close();
        await xds.close();
        watcher.stop();
        logger.info('stopped');
      })()),
  };
}
