/**
 * A DKV-speaking gRPC client (the .proto loaded with @grpc/proto-loader, as a DKV node or client
 * would) and a real XdsServer on 127.0.0.1:0 serving DKVDiscovery over a MemoryRegistry.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { dkvDiscoveryService, type DkvDiscoveryDeps } from '../../src/sources/dkv/discovery-service.js';
import { XdsServer } from '../../src/xds/server.js';
import { FakeClock } from './fake-clock.js';
import { DEFAULT_XDS_SETTINGS } from './xds-server.js';

/** Resolved from this file, independently of src/, so a wrong path in src/ cannot hide here. */
export const TEST_DKV_PROTO = fileURLToPath(new URL('../../protos/dkv/serverpb/discovery.proto', import.meta.url));

export interface RegionInfo {
  dcID?: string;
  nodeAddress?: string;
  database?: string;
  vBucket?: string;
  status?: string | number;
  masterHost?: string;
  nexusClusterUrl?: string;
  httpAddress?: string;
}

export interface UpdateStatusRequest {
  regionInfo?: RegionInfo;
  timestamp?: string | number;
}

export interface ClusterFilter {
  dcID?: string;
  database?: string;
  vBucket?: string;
}

export interface DkvClient {
  updateStatus(request: UpdateStatusRequest, metadata?: grpc.Metadata): Promise<{ code: number; message: string }>;
  getClusterInfo(request?: ClusterFilter, metadata?: grpc.Metadata): Promise<{ regionInfos: Array<Required<Omit<RegionInfo, 'masterHost' | 'nexusClusterUrl'>> & RegionInfo> }>;
  close(): void;
}

type Unary = (request: unknown, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response: any) => void) => void;

/**
 * With `oneofs: true`, proto-loader marks each set proto3 `optional` field with a virtual
 * `_<field>` key; it is not on the wire, so the tests compare without it.
 */
function withoutVirtualOneofs(info: Record<string, unknown>): any {
  return Object.fromEntries(Object.entries(info).filter(([key]) => !key.startsWith('_')));
}

export function dkvClient(address: string): DkvClient {
  const definition = protoLoader.loadSync(TEST_DKV_PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const loaded = grpc.loadPackageDefinition(definition) as any;
  const Client = loaded.dkv.serverpb.DKVDiscovery as grpc.ServiceClientConstructor;
  const client = new Client(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Unary>;
  const call = (method: string, request: unknown, metadata = new grpc.Metadata()) =>
    new Promise<any>((resolve, reject) => {
      const fn = client[method] as Unary;
      fn.call(client, request, metadata, (error, response) => (error ? reject(error) : resolve(response)));
    });
  return {
    updateStatus: (request, metadata) => call('UpdateStatus', request, metadata),
    getClusterInfo: async (request = {}, metadata) => {
      const response = await call('GetClusterInfo', request, metadata);
      return { regionInfos: response.regionInfos.map(withoutVirtualOneofs) };
    },
    close: () => client.close(),
  };
}

export interface DkvFixture {
  readonly clock: FakeClock;
  readonly registry: MemoryRegistry;
  readonly client: DkvClient;
  readonly address: string;
  close(): Promise<void>;
}

/** leaseSeconds 10, retention 300, on a FakeClock; `registry` lets a test serve a restored one. */
export async function startDkvServer(
  options: { clock?: FakeClock; registry?: MemoryRegistry } & Pick<DkvDiscoveryDeps, 'authorize' | 'authorizeRead' | 'leaseMs'> = {},
): Promise<DkvFixture> {
  const clock = options.clock ?? new FakeClock();
  const registry = options.registry ?? new MemoryRegistry({ leaseSeconds: 10, expiredRetentionSeconds: 300, clock });
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const server = new XdsServer({ cache: new SnapshotCache(), groups: () => ['edge'], clock, logger, version: 'test', settings: DEFAULT_XDS_SETTINGS });
  const service = dkvDiscoveryService({
    registry,
    logger,
    clock,
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    ...(options.authorize ? { authorize: options.authorize } : {}),
    ...(options.authorizeRead ? { authorizeRead: options.authorizeRead } : {}),
  });
  server.addService(service.definition, service.implementation);
  const bound = await server.listen({ host: '127.0.0.1', port: 0 });
  const address = `127.0.0.1:${bound.port}`;
  const client = dkvClient(address);
  return {
    clock,
    registry,
    client,
    address,
    close: async () => {
      client.close();
      await server.close(200);
    },
  };
}
