/**
 * The one Config every stage reads. Both dialects (native and dkvoy) and the built-in default
 * become this shape, with every default filled in, so no other module deals with optional keys.
 */

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type ShardProtocol = 'tcp' | 'http2';

export interface ShardConfig {
  readonly name: string;
  /** Where the shard's first listener binds; absent only in proxyless groups, which get no TCP listeners. */
  readonly listen: HostPort | undefined;
  /** Cluster names, each `<shard>-masters`, `<shard>-replicas` or `<shard>-slaves`. */
  readonly clusters: readonly string[];
  readonly protocol: ShardProtocol;
}

export interface GroupConfig {
  readonly name: string;
  /** The group's own DC: its endpoints get priority 0, others priority 1. Undefined: all priority 0. */
  readonly dc: string | undefined;
  readonly database: string;
  /** Serves gRPC clients that speak xDS themselves (api_listener) instead of Envoy sidecars. */
  readonly proxyless: boolean;
  readonly shards: readonly ShardConfig[];
}

export interface ClusterSettings {
  readonly connectTimeoutMs: number;
}

export interface RegistryConfig {
  readonly leaseSeconds: number;
  readonly expiredRetentionSeconds: number;
}

export interface XdsConfig {
  /** Changes arriving within this window are pushed as one update. */
  readonly debounceMs: number;
  /** No update waits longer than this, however busy the registry is. */
  readonly maxDelayMs: number;
  /** Connections are closed (GOAWAY) after about this long, ±10% jitter, so Envoys spread over instances. */
  readonly maxConnectionAgeSeconds: number;
  /** How long streams may go on after that GOAWAY before the connection is cut. */
  readonly maxConnectionAgeGraceSeconds: number;
  /** Per-stream request rate (token bucket refill); a client over it is cut off with RESOURCE_EXHAUSTED. */
  readonly streamRequestsPerSecond: number;
  readonly streamRequestBurst: number;
}

export interface Config {
  readonly http: { readonly listen: HostPort };
  readonly grpc: { readonly listen: HostPort };
  readonly registry: RegistryConfig;
  readonly xds: XdsConfig;
  readonly groups: readonly GroupConfig[];
  /** Settings for every cluster any shard names (defaults filled in), keyed by cluster name. */
  readonly clusters: Readonly<Record<string, ClusterSettings>>;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
