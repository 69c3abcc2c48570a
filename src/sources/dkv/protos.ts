/**
 * DKV's discovery service (`dkv.serverpb.DKVDiscovery`, contract section 7.1), loaded from this
 * project's own protos/dkv/serverpb/discovery.proto.
 *
 * Loaded with @grpc/proto-loader rather than hand-built protobufjs codecs (as the xDS services
 * are): these messages are small and built per call, there are no pre-encoded bytes to reuse, and
 * proto-loader gives a ready grpc-js ServiceDefinition whose objects DKV's own Go client and any
 * proto-loader client (the tests, a following shardvoy) see identically. keepCase keeps DKV's
 * field names (dcID, vBucket); longs as String keep the uint64 timestamp exact; enums as String
 * give RegionStatus names (an unknown number stays a number, which validation rejects).
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { DkvRegionStatus } from '../../registry/node.js';

export const DKV_DISCOVERY_SERVICE = 'dkv.serverpb.DKVDiscovery';

export const DKV_PROTO_LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

/**
 * The .proto's path for a module at `moduleUrl`: protos/ sits at the package root, three levels
 * above both src/sources/dkv (run from source) and dist/sources/dkv (built).
 */
export function dkvProtoPathFrom(moduleUrl: string): string {
  return fileURLToPath(new URL('../../../protos/dkv/serverpb/discovery.proto', moduleUrl));
}

export const DKV_PROTO_PATH = dkvProtoPathFrom(import.meta.url);

let cached: ServiceDefinition | undefined;

/** The DKVDiscovery service definition (UpdateStatus, GetClusterInfo), loaded once per process. */
export function dkvDiscoveryDefinition(): ServiceDefinition {
  if (!cached) {
    const definition = protoLoader.loadSync(DKV_PROTO_PATH, DKV_PROTO_LOADER_OPTIONS);
    cached = definition[DKV_DISCOVERY_SERVICE] as ServiceDefinition;
  }
  return cached;
}

/** The messages as proto-loader decodes/encodes them with the options above. */

export interface RegionInfoMessage {
  dcID: string;
  nodeAddress: string;
  database: string;
  vBucket: string;
  /** A name, or the raw number when the sender used a value this enum does not know. */
  status: DkvRegionStatus | number;
  masterHost?: string;
  nexusClusterUrl?: string;
  httpAddress: string;
}

export interface UpdateStatusRequestMessage {
  /** null when the sender left it out. */
  regionInfo: RegionInfoMessage | null;
  /** uint64, in decimal. */
  timestamp: string;
}

export interface GetClusterInfoRequestMessage {
  dcID?: string;
  database?: string;
  vBucket?: string;
}

export interface GetClusterInfoResponseMessage {
  regionInfos: RegionInfoMessage[];
}

export interface StatusMessage {
  code: number;
  message: string;
}
