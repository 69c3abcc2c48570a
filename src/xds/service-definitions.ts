/**
 * gRPC service definitions for the xDS services, built from the Envoy protos with protobufjs
 * serializers. Hand-built (rather than via proto-loader) so responses carry already-encoded
 * resource bytes: each resource is encoded once per version, however many streams receive it.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { envoyType } from '../envoy-api/protos.js';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, type ResourceTypeUrl } from '../envoy-api/type-urls.js';

function codec(typeName: string): { encode: (value: object) => Buffer; decode: (bytes: Buffer) => protobuf.Message } {
  const type = envoyType(typeName);
  return {
    encode: (value) => {
      const bytes = type.encode(type.fromObject(value)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    decode: (bytes) => type.decode(bytes),
  };
}

function method(path: string, request: string, response: string, streaming: boolean): MethodDefinition<object, object> {
  const req = codec(request);
  const res = codec(response);
  return {
    path,
    requestStream: streaming,
    responseStream: streaming,
    requestSerialize: req.encode,
    requestDeserialize: req.decode,
    responseSerialize: res.encode,
    responseDeserialize: res.decode,
  };
}

const DISCOVERY = 'envoy.service.discovery.v3';
const SOTW_REQUEST = `${DISCOVERY}.DiscoveryRequest`;
const SOTW_RESPONSE = `${DISCOVERY}.DiscoveryResponse`;

export const AGGREGATED_SERVICE = `${DISCOVERY}.AggregatedDiscoveryService`;

export function aggregatedService(): ServiceDefinition {
  return {
    StreamAggregatedResources: method(`/${AGGREGATED_SERVICE}/StreamAggregatedResources`, SOTW_REQUEST, SOTW_RESPONSE, true),
  };
}

/** The per-type services (LDS, CDS, EDS, RDS), each a SotW stream of one type and a unary fetch. */
export const PER_TYPE_SERVICES: ReadonlyArray<{ service: string; typeUrl: ResourceTypeUrl; stream: string; fetch: string }> = [
  { service: 'envoy.service.listener.v3.ListenerDiscoveryService', typeUrl: LISTENER, stream: 'StreamListeners', fetch: 'FetchListeners' },
  { service: 'envoy.service.cluster.v3.ClusterDiscoveryService', typeUrl: CLUSTER, stream: 'StreamClusters', fetch: 'FetchClusters' },
  { service: 'envoy.service.endpoint.v3.EndpointDiscoveryService', typeUrl: ENDPOINT, stream: 'StreamEndpoints', fetch: 'FetchEndpoints' },
  { service: 'envoy.service.route.v3.RouteDiscoveryService', typeUrl: ROUTE, stream: 'StreamRoutes', fetch: 'FetchRoutes' },
];

export function perTypeService(spec: (typeof PER_TYPE_SERVICES)[number]): ServiceDefinition {
  return {
    [spec.stream]: method(`/${spec.service}/${spec.stream}`, SOTW_REQUEST, SOTW_RESPONSE, true),
    [spec.fetch]: method(`/${spec.service}/${spec.fetch}`, SOTW_REQUEST, SOTW_RESPONSE, false),
  };
}
