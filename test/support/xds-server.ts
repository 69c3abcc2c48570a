/** The real xDS gRPC server on 127.0.0.1:0 over a cache the test publishes snapshots into. */
import { pino } from 'pino';
import { afterEach, beforeEach, expect } from 'vitest';
import type { XdsConfig } from '../../src/config/types.js';
import { systemClock, type Clock } from '../../src/registry/clock.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import type { RetryTimers } from '../../src/xds/nack-retry.js';
import { XdsServer } from '../../src/xds/server.js';
import { snapshotOf, type TopologySpec } from './snapshots.js';

export const DEFAULT_XDS_SETTINGS: XdsConfig = {
  debounceMs: 10,
  maxDelayMs: 100,
  maxConnectionAgeSeconds: 1800,
  maxConnectionAgeGraceSeconds: 60,
  streamRequestsPerSecond: 50,
  streamRequestBurst: 200,
  fencedConnectionCloseSeconds: 1,
  nackRetryMaxSeconds: 300,
  maxRequestBytes: 1024 * 1024,
  maxNodeBytes: 256 * 1024,
  maxNodeStringLength: 8 * 1024,
  maxResourceNameLength: 512,
  maxSubscribedNames: 10_000,
  maxStreamsPerPeer: 100,
  maxStreams: 10_000,
  maxStreamsPerConnection: 32,
  maxRefusedStreamsPerConnection: 10,
  writeTimeoutSeconds: 30,
};

/** `time` puts the streams on a fake clock whose timers the test runs (test/support/fake-clock.ts). */
export async function startXdsServer(groups: string[], settings: Partial<XdsConfig> = {}, time?: { clock: Clock; timers: RetryTimers }) {
  const cache = new SnapshotCache();
  const server = new XdsServer({
    cache,
    groups: () => groups,
    clock: time?.clock ?? systemClock,
    ...(time ? { timers: time.timers } : {}),
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    version: 'test',
    settings: { ...DEFAULT_XDS_SETTINGS, ...settings },
  });
  const bound = await server.listen({ host: '127.0.0.1', port: 0 });
  return { cache, server, address: `127.0.0.1:${bound.port}` };
}

/**
 * Registers hooks that start a fresh server with `initial` published before each test, and after
 * each test check that every stream opened through `open` received only valid resources.
 */
export function xdsServerPerTest<S extends { readonly violations: string[]; close(): void }>(
  connect: (address: string) => S,
  initial: TopologySpec,
) {
  const fixture = {
    xds: undefined as unknown as Awaited<ReturnType<typeof startXdsServer>>,
    open(): S {
      const stream = connect(fixture.xds.address);
      streams.push(stream);
      return stream;
    },
  };
  const streams: S[] = [];
  beforeEach(async () => {
    fixture.xds = await startXdsServer(['edge']);
    fixture.xds.cache.publish(snapshotOf('edge', initial));
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) {
      expect(stream.violations).toEqual([]);
      stream.close();
    }
    await fixture.xds.server.close(200);
  });
  return fixture;
}
