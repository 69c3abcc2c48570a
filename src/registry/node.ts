/** What the registry stores about a node, and how it is judged at a given moment. */

export type Role = 'master' | 'replica';
export type NodeStatus = 'active' | 'draining' | 'inactive';

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
}

export interface NodeRecord extends Heartbeat {
  /** Server clock, ms. The node's own clock never decides anything. */
  readonly firstSeenMs: number;
  readonly lastHeartbeatMs: number;
}

/**
 * healthy and draining nodes reach Envoy; the rest do not.
 * expired: no heartbeat for a lease. fenced: a master whose epoch is below the shard's highest live master epoch.
 */
export type Health = 'healthy' | 'draining' | 'inactive' | 'expired' | 'fenced';

export function isRoutable(health: Health): boolean {
  return health === 'healthy' || health === 'draining';
}

/** The fields that decide where traffic goes: a heartbeat that changes none of them changes no route. */
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
