/**
 * IR -> Envoy resources. Pure: the same topology always gives the same objects, hence the same
 * bytes and the same content-hash versions, after a restart and on every instance.
 */
import { CLUSTER, ENDPOINT, LISTENER, type ResourceTypeUrl } from '../envoy-api/type-urls.js';
import type { ClusterIR, GroupTopology, ListenerIR } from '../topology/ir.js';
import { clusterResource } from './cluster.js';
import { loadAssignmentResource } from './endpoint.js';
import { listenerResource } from './listener.js';

export interface TranslatedResource {
  readonly typeUrl: ResourceTypeUrl;
  readonly name: string;
  /** The Envoy message as a plain object protobufjs can encode as it is: proto field names, enums as numbers. */
  readonly message: Record<string, unknown>;
  /** Clusters this resource sends traffic to (listeners) or describes (load assignments): the consistency check follows them. */
  readonly clusterRefs: readonly string[];
}

export function translateCluster(cluster: ClusterIR): TranslatedResource {
  return { typeUrl: CLUSTER, name: cluster.name, message: clusterResource(cluster), clusterRefs: [] };
}

export function translateAssignment(cluster: ClusterIR): TranslatedResource {
  return { typeUrl: ENDPOINT, name: cluster.name, message: loadAssignmentResource(cluster), clusterRefs: [cluster.name] };
}

export function translateListener(listener: ListenerIR): TranslatedResource {
  return { typeUrl: LISTENER, name: listener.name, message: listenerResource(listener), clusterRefs: clustersOf(listener) };
}

export function translateGroup(topology: GroupTopology): TranslatedResource[] {
  return [
    ...topology.clusters.flatMap((cluster) => [translateCluster(cluster), translateAssignment(cluster)]),
    ...topology.listeners.map(translateListener),
  ];
}

function clustersOf(listener: ListenerIR): string[] {
  return listener.kind === 'tcp' ? [listener.cluster] : listener.virtualHosts.map((host) => host.cluster);
}
