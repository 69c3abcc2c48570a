/**
 * Hot reload: which parts of a new configuration can be applied to a running instance. Groups,
 * shards, clusters, node listeners, leases, self-preservation, debounce and tokens apply at once
 * without dropping a stream; listen addresses, TLS, the store (etcd), the state file, the followed servers and the
 * xDS connection settings are bound at start, so a change there keeps the running value and is
 * reported as needing a restart.
 */
import type { Config } from './types.js';

const RESTART_ONLY: ReadonlyArray<readonly [string, (c: Config) => unknown]> = [
  ['http', (c) => c.http],
  ['grpc', (c) => c.grpc],
  ['registry.store', (c) => c.registry.store],
  ['registry.etcd', (c) => c.registry.etcd],
  ['registry.stateFile', (c) => c.registry.stateFile],
  ['registry.remote', (c) => c.registry.remote],
  ['registry.pollIntervalSeconds', (c) => c.registry.pollIntervalSeconds],
  ['xds.maxConnectionAgeSeconds', (c) => c.xds.maxConnectionAgeSeconds],
  ['xds.maxConnectionAgeGraceSeconds', (c) => c.xds.maxConnectionAgeGraceSeconds],
  ['xds.streamRequestsPerSecond', (c) => c.xds.streamRequestsPerSecond],
  ['xds.streamRequestBurst', (c) => c.xds.streamRequestBurst],
  ['xds.maxRequestBytes', (c) => c.xds.maxRequestBytes],
  ['xds.maxStreamsPerConnection', (c) => c.xds.maxStreamsPerConnection],
  ['xds.controlPlaneId', (c) => c.xds.controlPlaneId],
];

export interface Reconciled {
  /** What to run with: `next`, but with the running value of every key that needs a restart. */
  readonly config: Config;
  /** Keys whose new value waits for a restart. */
  readonly needsRestart: readonly string[];
}

export function reconcile(running: Config, next: Config): Reconciled {
  const needsRestart = RESTART_ONLY.filter(([, get]) => JSON.stringify(get(running)) !== JSON.stringify(get(next))).map(([key]) => key);
  const config: Config = Object.freeze({
    ...next,
    http: running.http,
    grpc: running.grpc,
    registry: Object.freeze({
      ...next.registry,
      store: running.registry.store,
      etcd: running.registry.etcd,
      stateFile: running.registry.stateFile,
      remote: running.registry.remote,
      pollIntervalSeconds: running.registry.pollIntervalSeconds,
    }),
    xds: Object.freeze({
      ...next.xds,
      maxConnectionAgeSeconds: running.xds.maxConnectionAgeSeconds,
      maxConnectionAgeGraceSeconds: running.xds.maxConnectionAgeGraceSeconds,
      streamRequestsPerSecond: running.xds.streamRequestsPerSecond,
      streamRequestBurst: running.xds.streamRequestBurst,
      maxRequestBytes: running.xds.maxRequestBytes,
      maxStreamsPerConnection: running.xds.maxStreamsPerConnection,
      controlPlaneId: running.xds.controlPlaneId,
    }),
  });
  return { config, needsRestart };
}
