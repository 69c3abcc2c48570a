/** What the registry stores about a node, and how it is judged at a given moment. */

export type Role = 'master' | 'replica';
export type NodeStatus = 'active' | 'draining' | 'inactive';

/** DKV's `RegionStatus` (contract section 7.1), by name. */
export type DkvRegionStatus = 'INACTIVE' | 'LEADER' | 'PRIMARY_FOLLOWER' | 'SECONDARY_FOLLOWER' | 'ACTIVE_SLAVE';
export const DKV_REGION_STATUSES: readonly DkvRegionStatus[] = ['INACTIVE', 'LEADER', 'PRIMARY_FOLLOWER', 'SECONDARY_FOLLOWER', 'ACTIVE_SLAVE'];

/**
 * What a DKV node last reported over `DKVDiscovery.UpdateStatus` beyond the routing fields, so
 * that `GetClusterInfo` can answer with it. Nodes registered over HTTP have none.
 */
export interface DkvDetails {
  readonly regionStatus: DkvRegionStatus;
  /** The request's uint64 `timestamp`, in decimal as sent (DKV sends a hybrid-logical-clock value). Recorded only: liveness uses the server's clock. */
  readonly timestamp: string;
  /** `RegionInfo.httpAddress` as sent ("" when the node sent none). */
  readonly httpAddress: string;
  readonly masterHost?: string | undefined;
  readonly nexusClusterUrl?: string | undefined;
}

/** A validated heartbeat, every default applied. Sources (HTTP, DKV gRPC) produce these. */
export interface Heartbeat {
  readonly id: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly shard: string;
  readonly role: Role;
  readonly status: NodeStatus;
  readonly dc: string | undefined;
  readonly epoch: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Set by the DKV gRPC source only. Not a routing field (see sameRouting). */
  readonly dkv?: DkvDetails | undefined;
}

/** An operator's maintenance (Consul's `maint`): the node goes to Envoy as DRAINING whatever its heartbeats say. */
export interface Maintenance {
  readonly reason: string;
  /** Server clock, ms. */
  readonly sinceMs: number;
}

export interface NodeRecord extends Heartbeat {
  /** Server clock, ms. The node's own clock never decides anything. */
  readonly firstSeenMs: number;
  readonly lastHeartbeatMs: number;
  /** Set by an operator, kept across heartbeats and restarts until lifted. */
  readonly maintenance?: Maintenance | undefined;
  /**
   * The verdict of a judge elsewhere (the etcd store's elected instance), which then replaces
   * the lease arithmetic on this host's clock; undefined in a store that judges by itself.
   */
  readonly expired?: boolean | undefined;
}

/**
 * healthy and draining nodes reach Envoy; the rest do not.
 * expired: no heartbeat for a lease. fenced: a master whose epoch is below the shard's highest live master epoch.
 */
export type Health = 'healthy' | 'draining' | 'inactive' | 'expired' | 'fenced';

export function isRoutable(health: Health): boolean {
  return health === 'healthy' || health === 'draining';
}

/**
 * The fields that decide where traffic goes: a heartbeat that changes none of them changes no route.
 * `labels` and `dkv` are left out on purpose: a DKV node moving between LEADER and PRIMARY_FOLLOWER
 * (both masters) or sending a new timestamp routes nothing differently.
 */
export function sameRouting(a: Heartbeat, b: Heartbeat): boolean {
  return (
    a.address === b.address &&
    a.database === b.database &&
    a.shard === b.shard &&
    a.role === b.role &&
    a.status === b.status &&
    a.dc === b.dc &&
    a.epoch === b.epoch
  );
}
