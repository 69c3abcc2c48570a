/**
 * gRPC service definitions for the xDS services, built from the Envoy protos with protobufjs
 * serializers. Hand-built (rather than via proto-loader) so responses carry already-encoded
 * resource bytes: each resource is encoded once per version, however many streams receive it.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { envoyType } from '../envoy-api/protos.js';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, type ResourceTypeUrl } from '../envoy-api/type-urls.js';
import {
  checkNodeStrings,
  checkRequestBytes,
  DELTA_REQUEST_LAYOUT,
  refused,
  SOTW_REQUEST_LAYOUT,
  type RequestLayout,
  type RequestLimits,
} from './request-limits.js';

/** The server's request limits (read per request, so a reload applies); a client passes none. */
export type LimitsSource = () => RequestLimits;

/** Decodes a discovery request, or to a refusal (request-limits.ts) when it breaks a limit. */
function guarded(decode: (bytes: Buffer) => protobuf.Message, layout: RequestLayout, limits: LimitsSource | undefined) {
  if (!limits) return decode;
  return (bytes: Buffer): protobuf.Message => {
    const current = limits();
    const refusal = checkRequestBytes(bytes, layout, current);
    if (refusal) return refused(refusal) as protobuf.Message;
    const message = decode(bytes);
    const node = (message as { node?: unknown }).node;
    const nodeRefusal = node ? checkNodeStrings(node, current) : undefined;
    return nodeRefusal ? (refused(nodeRefusal) as protobuf.Message) : message;
  };
}

function codec(typeName: string): { encode: (value: object) => Buffer; decode: (bytes: Buffer) => protobuf.Message } {
  const type = envoyType(typeName);
  return {
    encode: (value) => {
      // Streams send responses encoded once and shared (response-encoding.ts): pass them through.
      if (Buffer.isBuffer(value)) return value;
      const bytes = type.encode(type.fromObject(value)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    decode: (bytes) => type.decode(bytes),
  };
}

function method(path: string, request: string, response: string, streaming: boolean, limits?: LimitsSource): MethodDefinition<object, object> {
  const req = codec(request);
  const res = codec(response);
  const layout = request === DELTA_REQUEST ? DELTA_REQUEST_LAYOUT : SOTW_REQUEST_LAYOUT;
  return {
    path,
    requestStream: streaming,
    responseStream: streaming,
    requestSerialize: req.encode,
    requestDeserialize: request === SOTW_REQUEST || request === DELTA_REQUEST ? guarded(req.decode, layout, limits) : req.decode,
    responseSerialize: res.encode,
    responseDeserialize: res.decode,
  };
}

const DISCOVERY = 'envoy.service.discovery.v3';
const SOTW_REQUEST = `${DISCOVERY}.DiscoveryRequest`;
const SOTW_RESPONSE = `${DISCOVERY}.DiscoveryResponse`;
const DELTA_REQUEST = `${DISCOVERY}.DeltaDiscoveryRequest`;
const DELTA_RESPONSE = `${DISCOVERY}.DeltaDiscoveryResponse`;

export const AGGREGATED_SERVICE = `${DISCOVERY}.AggregatedDiscoveryService`;

export function aggregatedService(limits?: LimitsSource): ServiceDefinition {
  return {
    StreamAggregatedResources: method(`/${AGGREGATED_SERVICE}/StreamAggregatedResources`, SOTW_REQUEST, SOTW_RESPONSE, true, limits),
    DeltaAggregatedResources: method(`/${AGGREGATED_SERVICE}/DeltaAggregatedResources`, DELTA_REQUEST, DELTA_RESPONSE, true, limits),
  };
}

export interface PerTypeSpec {
  readonly service: string;
  readonly typeUrl: ResourceTypeUrl;
  readonly stream: string;
  readonly delta: string;
  readonly fetch: string;
}

/** The per-type services (LDS, CDS, EDS, RDS): a SotW stream, a delta stream and a unary fetch each. */
export const PER_TYPE_SERVICES: readonly PerTypeSpec[] = [
  { service: 'envoy.service.listener.v3.ListenerDiscoveryService', typeUrl: LISTENER, stream: 'StreamListeners', delta: 'DeltaListeners', fetch: 'FetchListeners' },
  { service: 'envoy.service.cluster.v3.ClusterDiscoveryService', typeUrl: CLUSTER, stream: 'StreamClusters', delta: 'DeltaClusters', fetch: 'FetchClusters' },
  { service: 'envoy.service.endpoint.v3.EndpointDiscoveryService', typeUrl: ENDPOINT, stream: 'StreamEndpoints', delta: 'DeltaEndpoints', fetch: 'FetchEndpoints' },
  { service: 'envoy.service.route.v3.RouteDiscoveryService', typeUrl: ROUTE, stream: 'StreamRoutes', delta: 'DeltaRoutes', fetch: 'FetchRoutes' },
];

export function perTypeService(spec: PerTypeSpec, limits?: LimitsSource): ServiceDefinition {
  return {
    [spec.stream]: method(`/${spec.service}/${spec.stream}`, SOTW_REQUEST, SOTW_RESPONSE, true, limits),
    [spec.delta]: method(`/${spec.service}/${spec.delta}`, DELTA_REQUEST, DELTA_RESPONSE, true, limits),
    [spec.fetch]: method(`/${spec.service}/${spec.fetch}`, SOTW_REQUEST, SOTW_RESPONSE, false, limits),
  };
}

export const CLIENT_STATUS_SERVICE = 'envoy.service.status.v3.ClientStatusDiscoveryService';

export function clientStatusService(): ServiceDefinition {
  const request = 'envoy.service.status.v3.ClientStatusRequest';
  const response = 'envoy.service.status.v3.ClientStatusResponse';
  return {
    StreamClientStatus: method(`/${CLIENT_STATUS_SERVICE}/StreamClientStatus`, request, response, true),
    FetchClientStatus: method(`/${CLIENT_STATUS_SERVICE}/FetchClientStatus`, request, response, false),
  };
}
