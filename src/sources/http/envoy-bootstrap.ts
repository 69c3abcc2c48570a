/**
 * The Envoy sidecar bootstrap of a group (contract 7.3), in the shape of envoy/envoy.yaml: node.id
 * and node.cluster name the group, listeners and clusters come over one ADS stream from the static
 * cluster `xds_cluster` (STRICT_DNS, HTTP/2) at the control plane's gRPC address, and an admin
 * listener on loopback. Pure: the route and the tests call the same functions.
 */
import { isIP } from 'node:net';
import { Document } from 'yaml';
import type { GroupConfig, HostPort, TlsConfig } from '../../config/types.js';
import { formatHostPort } from '../../util/host-port.js';

/** Where the sidecar must hold the TLS files for the xDS connection when grpc.tls is set. */
export const SIDECAR_TLS_FILES = {
  ca: '/etc/envoy/tls/ca.crt',
  cert: '/etc/envoy/tls/client.crt',
  key: '/etc/envoy/tls/client.key',
} as const;

export const ADMIN_ADDRESS: HostPort = { host: '127.0.0.1', port: 9901 };

const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const UPSTREAM_TLS_CONTEXT = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** What of the gRPC server's TLS settings the sidecar's side depends on. */
export type XdsTls = Pick<TlsConfig, 'requireClientCert'> | undefined;

type Json = Record<string, unknown>;

/** The bootstrap as proto3-JSON (what Envoy reads from YAML). */
export function envoyBootstrap(group: GroupConfig, xds: HostPort, tls: XdsTls): Json {
  if (group.proxyless) throw new Error(`group "${group.name}" is proxyless: its clients need a gRPC xDS bootstrap, not an Envoy one`);
  const xdsCluster: Json = {
    name: 'xds_cluster',
    type: 'STRICT_DNS',
    // Hosts with no IPv6 route are common (Docker networks); try A records first.
    dns_lookup_family: 'V4_PREFERRED',
    connect_timeout: '1s',
    // gRPC needs HTTP/2 to the control plane.
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS]: {
        '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`,
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    // Notice a control plane that vanished without closing the connection.
    upstream_connection_options: { tcp_keepalive: {} },
    load_assignment: {
      cluster_name: 'xds_cluster',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: xds.host, port_value: xds.port } } } }] }],
    },
  };
  if (tls) xdsCluster['transport_socket'] = tlsTransportSocket(xds, tls);
  return {
    node: { id: group.name, cluster: group.name },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }],
        set_node_on_first_message_only: true,
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: { clusters: [xdsCluster] },
    admin: { address: { socket_address: { address: ADMIN_ADDRESS.host, port_value: ADMIN_ADDRESS.port } } },
  };
}

function tlsTransportSocket(xds: HostPort, tls: NonNullable<XdsTls>): Json {
  const commonTlsContext: Json = {
    validation_context: { trusted_ca: { filename: SIDECAR_TLS_FILES.ca } },
  };
  if (tls.requireClientCert) {
    commonTlsContext['tls_certificates'] = [
      { certificate_chain: { filename: SIDECAR_TLS_FILES.cert }, private_key: { filename: SIDECAR_TLS_FILES.key } },
    ];
  }
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': `type.googleapis.com/${UPSTREAM_TLS_CONTEXT}`,
      common_tls_context: commonTlsContext,
      // SNI carries host names only (RFC 6066 section 3): none for an IP address.
      ...(isIP(xds.host) === 0 ? { sni: xds.host } : {}),
    },
  };
}

/** The bootstrap as YAML, with a comment saying what it is for and which files the sidecar must hold. */
export function envoyBootstrapYaml(group: GroupConfig, xds: HostPort, tls: XdsTls): string {
  const lines = [
    ` Envoy sidecar bootstrap for the group "${group.name}", made by shardvoy`,
    ` (GET /v1/groups/${encodeURIComponent(group.name)}/envoy-bootstrap).`,
    ` Envoy asks the control plane at ${formatHostPort(xds)} for its listeners and clusters over ADS.`,
  ];
  if (tls) {
    lines.push(
      '',
      ' The xDS connection uses TLS; the sidecar must hold these PEM files:',
      `   ${SIDECAR_TLS_FILES.ca.padEnd(26)}the CA that signed the control plane's certificate`,
    );
    if (tls.requireClientCert) {
      lines.push(
        `   ${SIDECAR_TLS_FILES.cert.padEnd(26)}a client certificate the control plane trusts (mTLS)`,
        `   ${SIDECAR_TLS_FILES.key.padEnd(26)}its private key`,
      );
    }
  }
  const doc = new Document(envoyBootstrap(group, xds, tls));
  doc.commentBefore = lines.join('\n');
  return doc.toString({ lineWidth: 0 });
}
