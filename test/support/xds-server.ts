/** The real xDS gRPC server on 127.0.0.1:0 over a cache the test publishes snapshots into. */
import { pino } from 'pino';
import type { XdsConfig } from '../../src/config/types.js';
import { systemClock } from '../../src/registry/clock.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { XdsServer } from '../../src/xds/server.js';

export const DEFAULT_XDS_SETTINGS: XdsConfig = {
  debounceMs: 10,
  maxDelayMs: 100,
  maxConnectionAgeSeconds: 1800,
  maxConnectionAgeGraceSeconds: 60,
  streamRequestsPerSecond: 50,
  streamRequestBurst: 200,
};

export async function startXdsServer(groups: string[], settings: Partial<XdsConfig> = {}) {
  const cache = new SnapshotCache();
  const server = new XdsServer({
    cache,
    groups: () => groups,
    clock: systemClock,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    version: 'test',
    settings: { ...DEFAULT_XDS_SETTINGS, ...settings },
  });
  const bound = await server.listen({ host: '127.0.0.1', port: 0 });
  return { cache, server, address: `127.0.0.1:${bound.port}` };
}
