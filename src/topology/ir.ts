/**
 * The intermediate representation: what each Envoy group should see, as plain frozen data with
 * no Envoy types in it. The builder fills it from config + registry; the translator turns it into
 * Envoy resources. Keeping the two apart keeps routing decisions testable without protobufs.
 */
import type { HostPort } from '../config/types.js';

export interface EndpointIR {
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
  /** The node's DC, sent as the locality zone. */
  readonly zone: string | undefined;
  /** 0 in the group's own DC (or when the group has none), 1 elsewhere. */
  readonly priority: number;
  readonly draining: boolean;
}

export interface ClusterIR {
  readonly name: string;
  readonly connectTimeoutMs: number;
  /** Upstream speaks HTTP/2 (http2 shards): set on the cluster's protocol options. */
  readonly upstreamHttp2: boolean;
  /** Active TCP health checking (http2 shards, as dkvoy configured it). */
  readonly tcpHealthCheck: boolean;
  readonly endpoints: readonly EndpointIR[];
}

export interface VirtualHostIR {
  readonly name: string;
  readonly domains: readonly string[];
  readonly cluster: string;
}

/** A TCP listener that forwards every connection to one cluster. */
export interface TcpListenerIR {
  readonly kind: 'tcp';
  readonly name: string;
  readonly address: HostPort;
  readonly cluster: string;
  /**
   * The filter chain's name, set on `<shard>-masters` listeners only: it changes when the set of
   * routable masters does, and Envoy then closes the connections opened before (contract 11).
   * Absent: the chain keeps no name, and connections stay open across endpoint changes.
   */
  readonly connectionGeneration?: string;
}

/** An HTTP listener routing by :authority to one cluster per virtual host (dkvoy's shape). */
export interface HttpListenerIR {
  readonly kind: 'http';
  readonly name: string;
  readonly address: HostPort;
  readonly virtualHosts: readonly VirtualHostIR[];
}

/** A listener for proxyless gRPC clients: no socket, just the route to a cluster. */
export interface ApiListenerIR {
  readonly kind: 'api';
  readonly name: string;
  readonly virtualHosts: readonly VirtualHostIR[];
}

export type ListenerIR = TcpListenerIR | HttpListenerIR | ApiListenerIR;

export interface GroupTopology {
  readonly group: string;
  readonly listeners: readonly ListenerIR[];
  readonly clusters: readonly ClusterIR[];
}
