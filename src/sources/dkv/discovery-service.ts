/**
 * `dkv.serverpb.DKVDiscovery` over the registry (contract section 7.1), served on the xDS gRPC
 * port: DKV nodes register with UpdateStatus (a heartbeat) and DKV clients read GetClusterInfo.
 * As in DKV, a rejected UpdateStatus is a successful call answering Status{code: -1, message};
 * only authentication failures (and faults) end the call with a gRPC error status.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Clock } from '../../registry/clock.js';
import { assessHealth } from '../../registry/health.js';
import type { NodeRecord } from '../../registry/node.js';
import type { NodeRegistry } from '../../registry/registry.js';
import {
  dkvDiscoveryDefinition,
  type GetClusterInfoRequestMessage,
  type GetClusterInfoResponseMessage,
  type RegionInfoMessage,
  type StatusMessage,
  type UpdateStatusRequestMessage,
} from './protos.js';
import type { HeartbeatOutcome } from '../heartbeat-outcome.js';
import { dkvToHeartbeat, nodeIdOf, regionStatusOf } from './to-heartbeat.js';
import { RegistryFullError, StoreUnavailableError } from '../../registry/registry.js';
import { RepeatLimiter, truncateForLog } from '../../util/log-limits.js';

/** Returns why the call is refused (answered UNAUTHENTICATED with this message), or undefined to let it through. */
export type DkvAuthorizer = (metadata: grpc.Metadata) => string | undefined;

export interface DkvDiscoveryDeps {
  readonly registry: NodeRegistry;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Lease used by GetClusterInfo to tell live nodes; defaults to the registry's own. */
  readonly leaseMs?: number;
  /** Checked first in UpdateStatus (contract section 9, `auth.heartbeatTokens`). Absent: open. */
  readonly authorize?: DkvAuthorizer;
  /** Checked first in GetClusterInfo (contract section 9, `auth.readToken`). Absent: open. */
  readonly authorizeRead?: DkvAuthorizer;
  /** Nodes self-preservation keeps routable: live for GetClusterInfo too, so followers keep them. */
  readonly preserved?: () => ReadonlySet<string>;
  /** Told of each UpdateStatus and what became of it (observers: metrics). */
  readonly onHeartbeat?: (outcome: HeartbeatOutcome) => void;
}

export interface DkvDiscoveryService {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
}

const OK: StatusMessage = Object.freeze({ code: 0, message: '' });

function refuse(authorize: DkvAuthorizer | undefined, metadata: grpc.Metadata): Partial<grpc.StatusObject> | undefined {
  const reason = authorize?.(metadata);
  return reason === undefined ? undefined : { code: grpc.status.UNAUTHENTICATED, details: reason };
}

/** A filter value: absent or empty means any. */
function filterOf(value: string | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The registry's live, non-INACTIVE nodes matching the filters, as DKV RegionInfos ordered by nodeAddress. */
export function clusterInfo(
  nodes: readonly NodeRecord[],
  nowMs: number,
  leaseMs: number,
  request: GetClusterInfoRequestMessage,
  preserved: ReadonlySet<string> = new Set(),
): GetClusterInfoResponseMessage {
  const dc = filterOf(request.dcID);
  const database = filterOf(request.database);
  const vBucket = filterOf(request.vBucket);
  const health = assessHealth(nodes, nowMs, leaseMs, preserved);
  const regionInfos = nodes
    .filter((node) => {
      const verdict = health.get(node.id);
      // expired and inactive (a DKV node that reported INACTIVE) are not live; a fenced master
      // (deposed: a newer epoch is live) is left out too, so a DKV client never sends writes to it.
      if (verdict !== 'healthy' && verdict !== 'draining') return false;
      return (dc === undefined || node.dc === dc) && (database === undefined || node.database === database) && (vBucket === undefined || node.shard === vBucket);
    })
    .sort((a, b) => compare(a.address, b.address) || compare(a.id, b.id))
    .map(toRegionInfo);
  return { regionInfos };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toRegionInfo(node: NodeRecord): RegionInfoMessage {
  const info: RegionInfoMessage = {
    dcID: node.dc ?? '',
    nodeAddress: node.address,
    database: node.database,
    vBucket: node.shard,
    status: regionStatusOf(node),
    httpAddress: node.dkv?.httpAddress ?? '',
  };
  // proto3 `optional`: left out (not "") when unknown.
  if (node.dkv?.masterHost !== undefined) info.masterHost = node.dkv.masterHost;
  if (node.dkv?.nexusClusterUrl !== undefined) info.nexusClusterUrl = node.dkv.nexusClusterUrl;
  return info;
}

/** The service and its handlers, for `XdsServer.addService(definition, implementation)` before listen(). */
export function dkvDiscoveryService(deps: DkvDiscoveryDeps): DkvDiscoveryService {
  const { registry, clock } = deps;
  const logger = deps.logger;
  /** Warnings a client can repeat at will (rejections, a full registry): once per kind and 10 s. */
  const warnings = new RepeatLimiter();
  const announce = (outcome: HeartbeatOutcome) => deps.onHeartbeat?.(outcome);

  const updateStatus = async (
    call: grpc.ServerUnaryCall<UpdateStatusRequestMessage, StatusMessage>,
    callback: grpc.sendUnaryData<StatusMessage>,
  ): Promise<void> => {
    const refused = refuse(deps.authorize, call.metadata);
    if (refused) {
      logger.warn({ peer: call.getPeer(), reason: refused.details }, 'DKV UpdateStatus refused: not authenticated');
      announce('unauthorized');
      callback(refused);
      return;
    }
    const id = nodeIdOf(call.request);
    const result = dkvToHeartbeat(call.request, id === undefined ? undefined : registry.get(id));
    if (!result.ok) {
      warnings.log(logger, 'warn', 'dkv-rejected', { peer: call.getPeer(), reason: truncateForLog(result.message, 512) }, 'DKV UpdateStatus rejected');
      announce('invalid');
      callback(null, { code: -1, message: result.message });
      return;
    }
    let outcome;
    try {
      outcome = await registry.record(result.heartbeat);
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        warnings.log(logger, 'warn', 'store-unavailable', { reason: error.message }, 'DKV UpdateStatus refused: registry store unavailable');
      } else if (error instanceof RegistryFullError) {
        // Junk ids can be sent at any rate: one line per 10 s, counting the others (issue 11).
        warnings.log(logger, 'warn', 'registry-full', { maxNodes: error.maxNodes, node: truncateForLog(result.heartbeat.id) }, 'DKV UpdateStatus refused: registry full');
      } else {
        logger.error({ err: error, node: result.heartbeat.id }, 'DKV UpdateStatus not recorded');
      }
      announce('refused');
      callback(null, { code: -1, message: `not recorded: ${(error as Error).message}` });
      return;
    }
    const { node } = outcome;
    for (const group of outcome.portsExhausted) {
      logger.warn({ node: node.id, group }, `no free node-listener port in group ${group}: node ${node.id} gets no listener of its own`);
    }
    if (outcome.routingChanged) {
      logger.info(
        { node: node.id, address: node.address, shard: node.shard, role: node.role, status: node.status, regionStatus: node.dkv?.regionStatus, dc: node.dc },
        'node routing changed',
      );
    }
    announce('accepted');
    callback(null, OK);
  };

  const getClusterInfo = (
    call: grpc.ServerUnaryCall<GetClusterInfoRequestMessage, GetClusterInfoResponseMessage>,
    callback: grpc.sendUnaryData<GetClusterInfoResponseMessage>,
  ): void => {
    const refused = refuse(deps.authorizeRead, call.metadata);
    if (refused) {
      callback(refused);
      return;
    }
    // The lease is read per call: a reload may change it.
    callback(null, clusterInfo(registry.list(), clock.now(), deps.leaseMs ?? registry.leaseMs, call.request, deps.preserved?.()));
  };

  return {
    definition: dkvDiscoveryDefinition(),
    implementation: { UpdateStatus: updateStatus, GetClusterInfo: getClusterInfo } as grpc.UntypedServiceImplementation,
  };
}
