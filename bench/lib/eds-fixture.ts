/**
 * Encoded EDS responses for the floor server: one ClusterLoadAssignment with 3 endpoints, about
 * the size of what shardvoy sends for `shard0-masters`, wrapped in a DiscoveryResponse or a
 * DeltaDiscoveryResponse. Built with the Envoy protos, once per version, never per stream.
 */
import { envoyType } from '../../src/envoy-api/protos.js';
import { ENDPOINT } from '../../src/envoy-api/type-urls.js';

export const EDS_TYPE_URL = ENDPOINT;
export const CLUSTER_NAME = 'shard0-masters';

function encode(typeName: string, value: object): Buffer {
  const type = envoyType(typeName);
  const bytes = type.encode(type.fromObject(value)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A load assignment whose first endpoint's port is `generation`, so every version has new bytes. */
export function loadAssignment(generation: number): Buffer {
  const endpoint = (i: number, port: number) => ({
    endpoint: { address: { socket_address: { address: `10.0.0.${i + 1}`, port_value: port } }, hostname: `node-${i}` },
    health_status: 'HEALTHY',
  });
  return encode('envoy.config.endpoint.v3.ClusterLoadAssignment', {
    cluster_name: CLUSTER_NAME,
    endpoints: [
      {
        locality: { zone: 'dc1' },
        priority: 0,
        load_balancing_weight: { value: 3 },
        lb_endpoints: [endpoint(0, 9000 + (generation % 50_000)), endpoint(1, 9000), endpoint(2, 9000)],
      },
    ],
  });
}

const CONTROL_PLANE = { identifier: 'bench-floor' };

export function sotwResponse(generation: number): Buffer {
  return encode('envoy.service.discovery.v3.DiscoveryResponse', {
    version_info: `v${generation}`,
    resources: [{ type_url: EDS_TYPE_URL, value: loadAssignment(generation) }],
    type_url: EDS_TYPE_URL,
    nonce: `n${generation}`,
    control_plane: CONTROL_PLANE,
  });
}

export function deltaResponse(generation: number): Buffer {
  return encode('envoy.service.discovery.v3.DeltaDiscoveryResponse', {
    system_version_info: `v${generation}`,
    resources: [{ name: CLUSTER_NAME, version: `r${generation}`, resource: { type_url: EDS_TYPE_URL, value: loadAssignment(generation) } }],
    type_url: EDS_TYPE_URL,
    nonce: `n${generation}`,
    control_plane: CONTROL_PLANE,
  });
}
