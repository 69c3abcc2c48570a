/**
 * Builds the etcd store (registry.store: etcd): the client, the shared registry and the judge,
 * and says when this instance may answer xDS and why it is not ready. etcd need not be reachable
 * at start: the servers listen, /readyz says what is missing, heartbeats get 503, and Envoy is
 * answered once the registry has been read.
 */
import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import type { Logger } from 'pino';
import type { Config, EtcdConfig } from '../../config/types.js';
import type { Clock } from '../clock.js';
import { portPools } from '../ports.js';
import type { ExpiryGuard } from '../self-preservation.js';
import { EtcdJudge } from './judge.js';
import { EtcdRegistry } from './etcd-registry.js';

export interface EtcdStore {
  readonly registry: EtcdRegistry;
  readonly judge: EtcdJudge;
  /** Open once the registry has been read from etcd and, if it was empty, a warm-up lease has passed. */
  publishGate(): boolean;
  /** For the metrics: reachability, the revision read, the judge. */
  status(): { unreachableSinceMs: number | undefined; revision: number; isJudge: boolean; preserving: boolean };
  /** Why this instance is not ready, if it is not. */
  trouble(): string | undefined;
  /** Starts reading etcd and campaigning to judge, as `instance` (this instance's control_plane.identifier). */
  start(instance: string): void;
  reconfigure(config: Config): void;
  stop(): Promise<void>;
}

export interface EtcdStoreOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly guard: ExpiryGuard;
  /** The running configuration (reloads included). */
  readonly config: () => Config;
  /** Tests: how often the copy is checked and the judge looks. */
  readonly checkIntervalMs?: number;
  readonly judgeIntervalMs?: number;
}

export function etcdClientOptions(etcd: EtcdConfig): IOptions {
  const scheme = etcd.tls ? 'https' : 'http';
  return {
    hosts: etcd.endpoints.map((endpoint) => `${scheme}://${endpoint}`),
    ...(etcd.tls
      ? {
          credentials: {
            rootCertificate: Buffer.from(etcd.tls.ca ?? ''),
            ...(etcd.tls.key ? { privateKey: Buffer.from(etcd.tls.key) } : {}),
            ...(etcd.tls.cert ? { certChain: Buffer.from(etcd.tls.cert) } : {}),
          },
        }
      : {}),
    ...(etcd.auth ? { auth: { username: etcd.auth.username, password: etcd.auth.password } } : {}),
    grpcOptions: {
      // A connection that went silent (a cut network) is noticed in seconds, not at the OS's TCP timeout.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 3000,
      // A full list of a large registry in one answer (paged anyway, mirror.ts).
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    },
    faultHandling: {
      // etcd3's default shuts a member out for 5 s after three slow answers: on a busy machine that
      // refuses every heartbeat for seconds. Here a member is set aside for 1 s after five failures
      // in a row, and a failed request is tried once more (on another member if one is set aside).
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(5) }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
    },
  };
}

export function createEtcdStore(options: EtcdStoreOptions): EtcdStore {
  const config = options.config();
  const etcd = config.registry.etcd!;
  const logger = options.logger.child({ component: 'etcd' });
  const client = new Etcd3(etcdClientOptions(etcd));
  const registry = new EtcdRegistry({
    client,
    prefix: etcd.prefix,
    leaseSeconds: config.registry.leaseSeconds,
    portPools: portPools(config),
    portReuseSeconds: config.registry.portReuseSeconds,
    maxNodes: config.registry.maxNodes,
    clock: options.clock,
    logger,
    ...(options.checkIntervalMs === undefined ? {} : { checkIntervalMs: options.checkIntervalMs }),
  });
  let instance = 'unnamed';
  const judge = new EtcdJudge({
    client,
    registry,
    guard: options.guard,
    retentionMs: () => options.config().registry.expiredRetentionSeconds * 1000,
    instance: () => instance,
    clock: options.clock,
    logger: logger.child({ component: 'judge' }),
    ...(options.judgeIntervalMs === undefined ? {} : { intervalMs: options.judgeIntervalMs }),
  });
  const startedAt = options.clock.now();
  return {
    registry,
    judge,
    publishGate: () => registry.listed && (registry.listedNodes > 0 || options.clock.now() >= startedAt + config.registry.warmupSeconds * 1000),
    status: () => ({
      unreachableSinceMs: registry.trouble()?.sinceMs,
      revision: registry.mirror.revision,
      isJudge: judge.isJudge,
      preserving: registry.judgeStatus()?.preserving ?? false,
    }),
    trouble: () => {
      const trouble = registry.trouble();
      if (!trouble) return undefined;
      return `etcd (${etcd.endpoints.join(', ')}) unreachable since ${new Date(trouble.sinceMs).toISOString()}: ${trouble.reason}; serving the last snapshot, heartbeats refused with 503`;
    },
    start: (name) => {
      instance = name;
      void registry.start().then(() => {
        logger.info({ nodes: registry.listedNodes, revision: registry.mirror.revision }, 'registry read from etcd');
      });
      judge.start();
    },
    reconfigure: (next) =>
      registry.reconfigure({
        portPools: portPools(next),
        portReuseSeconds: next.registry.portReuseSeconds,
        maxNodes: next.registry.maxNodes,
        leaseSeconds: next.registry.leaseSeconds,
      }),
    stop: async () => {
      // An etcd out of reach must not hold up a shutdown: resigning and cancelling are courtesies.
      const atMost = (work: Promise<void>) => Promise.race([work, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
      await atMost(judge.stop());
      await atMost(registry.stop());
      client.close();
    },
  };
}
