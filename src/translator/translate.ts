/**
 * IR -> Envoy resources. Pure: the same topology always gives the same objects, hence the same
 * bytes and the same content-hash versions, after a restart and on every instance.
 */
import { CLUSTER, ENDPOINT, LISTENER, type ResourceTypeUrl } from '../envoy-api/type-urls.js';
import type { GroupTopology, ListenerIR } from '../topology/ir.js';
import { clusterResource } from './cluster.js';
import { loadAssignmentResource } from './endpoint.js';
import { listenerResource } from './listener.js';

export interface TranslatedResource {
  readonly typeUrl: ResourceTypeUrl;
  readonly name: string;
  /** The Envoy message as a plain object with proto field names, ready for protobufjs fromObject. */
  readonly message: Record<string, unknown>;
  /** Clusters this resource sends traffic to (listeners) or describes (load assignments): the consistency check follows them. */
  readonly clusterRefs: readonly string[];
}

export function translateGroup(topology: GroupTopology): TranslatedResource[] {
  const resources: TranslatedResource[] = [];
  for (const cluster of topology.clusters) {
    resources.push({ typeUrl: CLUSTER, name: cluster.name, message: clusterResource(cluster), clusterRefs: [] });
    resources.push({
      typeUrl: ENDPOINT,
      name: cluster.name,
      message: loadAssignmentResource(cluster),
      clusterRefs: [cluster.name],
    });
  }
  for (const listener of topology.listeners) {
    resources.push({ typeUrl: LISTENER, name: listener.name, message: listenerResource(listener), clusterRefs: clustersOf(listener) });
  }
  return resources;
}

function clustersOf(listener: ListenerIR): string[] {
  return listener.kind === 'tcp' ? [listener.cluster] : listener.virtualHosts.map((host) => host.cluster);
}
