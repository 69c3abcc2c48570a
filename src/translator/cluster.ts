import type { ClusterIR } from '../topology/ir.js';
import { packAny } from './any.js';
import { duration } from './duration.js';
import { API_VERSION_V3, DISCOVERY_TYPE_EDS, LB_POLICY_ROUND_ROBIN } from './enums.js';

const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** An EDS cluster whose endpoints come over the same ADS stream. */
export function clusterResource(cluster: ClusterIR): Record<string, unknown> {
  const resource: Record<string, unknown> = {
    name: cluster.name,
    type: DISCOVERY_TYPE_EDS,
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: API_VERSION_V3 } },
    connect_timeout: duration(cluster.connectTimeoutMs),
    lb_policy: LB_POLICY_ROUND_ROBIN,
  };
  if (cluster.upstreamHttp2) {
    resource.typed_extension_protocol_options = {
      [HTTP_PROTOCOL_OPTIONS]: packAny(HTTP_PROTOCOL_OPTIONS, { explicit_http_config: { http2_protocol_options: {} } }),
    };
  }
  if (cluster.tcpHealthCheck) {
    // dkvoy's health check, kept so failing nodes leave rotation before their lease runs out.
    resource.health_checks = [
      {
        timeout: duration(1_000),
        interval: duration(5_000),
        interval_jitter: duration(1_000),
        unhealthy_threshold: { value: 3 },
        healthy_threshold: { value: 2 },
        tcp_health_check: {},
      },
    ];
    // With health checks, Envoy keeps a host that left EDS until it fails them (15 s here): a
    // deposed master would go on taking writes. The control plane's word is final.
    resource.ignore_health_on_host_removal = true;
  }
  return resource;
}
