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

/** One front end (a load balancer, a PrivateLink endpoint) and the ports it forwards, one per node. */
export interface FrontEnd {
  /** The name clients of the group use for this front end. */
  readonly advertisedHost: string;
  readonly firstPort: number;
  readonly lastPort: number;
}

/** Per-node listeners: each node of the group's database holds one port of the front ends'. */
export interface NodeListenersConfig {
  /** The IP the per-node listeners bind. */
  readonly listenHost: string;
  /** In order: a node gets the lowest free port of the first front end with one. */
  readonly frontEnds: readonly FrontEnd[];
}

export interface GroupConfig {
  readonly name: string;
  /** The group's own DC: its endpoints get priority 0, others priority 1. Undefined: all priority 0. */
  readonly dc: string | undefined;
  readonly database: string;
  /** Serves gRPC clients that speak xDS themselves (api_listener) instead of Envoy sidecars. */
  readonly proxyless: boolean;
  readonly shards: readonly ShardConfig[];
  /** The name clients of this group use for its Envoy; shard listeners are advertised at it. */
  readonly advertisedHost: string | undefined;
  /** A listener forwarding to any routable node of the database (a Kafka bootstrap address). */
  readonly bootstrapListener: HostPort | undefined;
  readonly nodeListeners: NodeListenersConfig | undefined;
}

export interface ClusterSettings {
  readonly connectTimeoutMs: number;
}

export interface RegistryConfig {
  /** Where the registry lives: this process (with stateFile) or etcd, shared by several instances (contract 14). */
  readonly store: 'memory' | 'etcd';
  /** Set when store is etcd. */
  readonly etcd: EtcdConfig | undefined;
  readonly leaseSeconds: number;
  readonly expiredRetentionSeconds: number;
  /** A forgotten node's port goes to another node only this long after it was forgotten. */
  readonly portReuseSeconds: number;
  /** Where nodes and port allocations are kept across restarts; none: kept in memory only. */
  readonly stateFile: string | undefined;
  /** After a start without state, how long to fill the registry from heartbeats before answering xDS. */
  readonly warmupSeconds: number;
  /** A new node beyond this many is refused (429). */
  readonly maxNodes: number;
  /** Discovery servers (DKV's or another shardvoy) to follow instead of the own registry; empty: own. */
  readonly remote: readonly string[];
  /** How often the followed registry is polled. */
  readonly pollIntervalSeconds: number;
  readonly selfPreservation: SelfPreservationConfig;
}

/** Stop expiring leases when many nodes go silent at once: the control plane's network is the likelier fault. */
export interface SelfPreservationConfig {
  readonly enabled: boolean;
  /** More than this fraction of the live nodes going silent within a lease stops expiry. */
  readonly maxExpiredFraction: number;
  /** Below this many live nodes a fraction says nothing about the network: expiry never stops. */
  readonly minNodes: number;
}

/** registry.etcd, secrets and PEM contents read at start. Never logged. */
export interface EtcdConfig {
  /** host:port of etcd's client URLs. */
  readonly endpoints: readonly string[];
  /** Every key shardvoy writes starts with this, so several shardvoy clusters can share one etcd. */
  readonly prefix: string;
  readonly tls: { readonly cert: string | undefined; readonly key: string | undefined; readonly ca: string | undefined } | undefined;
  readonly auth: { readonly username: string; readonly password: string } | undefined;
}

export interface TlsConfig {
  /** PEM contents, read from the configured files at start. */
  readonly cert: string;
  readonly key: string;
  readonly ca: string | undefined;
  readonly requireClientCert: boolean;
}

/** Resolved secrets. Never logged. */
export interface AuthConfig {
  readonly heartbeatTokens: readonly string[];
  readonly adminToken: string | undefined;
  readonly readToken: string | undefined;
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
  /**
   * Contract 11: when a shard's routable masters change, connections opened through its masters
   * listener are closed (Envoy drains the renamed filter chain, so Envoy's --drain-time-s must be
   * at most this). 0 disables it.
   */
  readonly fencedConnectionCloseSeconds: number;
  /**
   * Contract 12: a version NACKed for a cause on the client's host is resent after 1 s, then
   * doubling, at most this many seconds apart.
   */
  readonly nackRetryMaxSeconds: number;
  /** Issue 11, what one client may make the server hold. The gRPC max receive message length (bound at start). */
  readonly maxRequestBytes: number;
  /** A request whose encoded `node` is larger is refused (RESOURCE_EXHAUSTED). */
  readonly maxNodeBytes: number;
  /** ... and one with a string in its node longer than this (INVALID_ARGUMENT). */
  readonly maxNodeStringLength: number;
  /** Longest resource name (and version, nonce, type URL) a request may carry, in bytes (INVALID_ARGUMENT). */
  readonly maxResourceNameLength: number;
  /** Most names one stream may subscribe to of one type (RESOURCE_EXHAUSTED). */
  readonly maxSubscribedNames: number;
  /** Most streams open at once from one peer IP address, and in all (RESOURCE_EXHAUSTED). */
  readonly maxStreamsPerPeer: number;
  readonly maxStreams: number;
  /**
   * Calls open at once on one connection: the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS of the gRPC
   * port. One over it is refused by HTTP/2 itself (RST_STREAM REFUSED_STREAM), before grpc-js sets
   * it up. Bound at start.
   */
  readonly maxStreamsPerConnection: number;
  /** A connection on which more calls than this were refused is closed (GOAWAY ENHANCE_YOUR_CALM). */
  readonly maxRefusedStreamsPerConnection: number;
  /** A stream whose client reads nothing of a response for this long is closed. */
  readonly writeTimeoutSeconds: number;
  /** `control_plane.identifier` in every response; undefined: `<host name>:<gRPC port>`. Bound at start. */
  readonly controlPlaneId?: string | undefined;
}

/** Contract 15: the operator events. */
export interface EventsConfig {
  /** How many events the ring keeps (the oldest go first). */
  readonly retain: number;
}

export interface Config {
  readonly http: { readonly listen: HostPort; readonly tls: TlsConfig | undefined };
  readonly grpc: { readonly listen: HostPort; readonly tls: TlsConfig | undefined };
  readonly auth: AuthConfig;
  readonly registry: RegistryConfig;
  readonly xds: XdsConfig;
  /** Absent when the file sets no `events` key: then the defaults (DEFAULT_EVENTS_RETAIN). */
  readonly events?: EventsConfig | undefined;
  readonly groups: readonly GroupConfig[];
  /** Settings for every cluster any shard names (defaults filled in), keyed by cluster name. */
  readonly clusters: Readonly<Record<string, ClusterSettings>>;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
