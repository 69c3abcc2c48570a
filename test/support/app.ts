/**
 * The HTTP app over a real registry and watcher, without a port: requests go through inject().
 * Every response it sends is checked against its own GET /openapi.json (openapi-check.ts).
 */
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { portPools } from '../../src/registry/ports.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { buildApp, type App, type BuildOptions } from '../../src/sources/http/app.js';
import { startObservers, type Observers } from '../../src/observers/observers.js';
import { Watcher } from '../../src/watcher/watcher.js';
import { FakeClock } from './fake-clock.js';
import { checkResponsesAgainstOpenApi } from './openapi-check.js';

export interface TestApp {
  readonly app: App;
  readonly config: Config;
  readonly registry: MemoryRegistry;
  readonly watcher: Watcher;
  readonly clock: FakeClock;
  readonly observers: Observers;
}

/** `options.beforeRoutes` runs after the response check is hooked in. */
export async function buildTestApp(rawConfig?: Record<string, unknown>, options: BuildOptions = {}): Promise<TestApp> {
  const config = parseConfig(
    rawConfig ?? {
      groups: [{ name: 'local-group', dc: 'dc1', shards: [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters', 'shard0-replicas'] }] }],
    },
    'test',
  );
  const clock = new FakeClock();
  const logger = pino({ level: 'silent' });
  const registry = new MemoryRegistry({ ...config.registry, portPools: portPools(config), clock });
  const watcher = new Watcher({ config, registry, cache: new SnapshotCache(), clock, logger });
  const observers = startObservers({ config: () => config, registry, watcher, clock, xdsClients: () => [], defaultMetrics: false });
  const app = await buildApp({
    config,
    registry,
    routingView: () => watcher.routingView(),
    xdsClients: () => [],
    readiness: () => ({ ready: true }),
    resumeExpiry: () => false,
    metrics: observers.metrics,
    events: observers.events,
    onHeartbeat: observers.metrics.heartbeat,
    clock,
    logger,
  }, {
    beforeRoutes: (instance) => {
      checkResponsesAgainstOpenApi(instance);
      options.beforeRoutes?.(instance);
    },
  });
  return { app, config, registry, watcher, clock, observers };
}
