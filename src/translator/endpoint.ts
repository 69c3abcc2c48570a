import type { ClusterIR, EndpointIR } from '../topology/ir.js';
import { socketAddress } from './address.js';
import { HEALTH_DRAINING, HEALTH_HEALTHY } from './enums.js';

/**
 * One locality per (zone, priority). Its weight is its endpoint count, so weighted-locality
 * balancers (gRPC's always, Envoy's when enabled) spread load evenly per node.
 */
export function loadAssignmentResource(cluster: ClusterIR): Record<string, unknown> {
  const localities = new Map<string, EndpointIR[]>();
  for (const endpoint of cluster.endpoints) {
    const key = `${endpoint.priority}/${endpoint.zone ?? ''}`;
    let list = localities.get(key);
    if (!list) localities.set(key, (list = []));
    list.push(endpoint);
  }
  const keys = [...localities.keys()].sort();
  return {
    cluster_name: cluster.name,
    endpoints: keys.map((key) => {
      const endpoints = [...(localities.get(key) ?? [])].sort((a, b) => compare(a.nodeId, b.nodeId));
      const first = endpoints[0];
      return {
        locality: first?.zone === undefined ? {} : { zone: first.zone },
        priority: first?.priority ?? 0,
        load_balancing_weight: { value: endpoints.length },
        lb_endpoints: endpoints.map((endpoint) => ({
          endpoint: { address: socketAddress(endpoint.host, endpoint.port), hostname: endpoint.nodeId },
          health_status: endpoint.draining ? HEALTH_DRAINING : HEALTH_HEALTHY,
        })),
      };
    }),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
