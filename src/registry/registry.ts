/**
 * The node registry: the contract every store implements (in memory today; a distributed
 * store later), so the watcher and the HTTP/gRPC sources never depend on how nodes are kept.
 */
import type { Heartbeat, Maintenance, NodeRecord } from './node.js';
import type { DroppedPort, PortAssignment, PortView } from './ports.js';

export interface RecordOutcome {
  readonly node: NodeRecord;
  /** True when the heartbeat created or revived the node or changed a field routing depends on. */
  readonly routingChanged: boolean;
  /** Groups with node listeners whose port ranges are full: the node has no port there. */
  readonly portsExhausted: readonly string[];
}

/** What the state file holds and gives back on start. */
export interface RegistryState {
  readonly nodes: ReadonlyArray<Heartbeat & { readonly firstSeenMs: number; readonly maintenance?: Maintenance | undefined }>;
  readonly ports: readonly PortAssignment[];
}

/**
 * Writes answer once the change is stored: at once in memory, after etcd's commit in the etcd
 * store. Callers always await; the memory store answering synchronously keeps its tests and the
 * follower's mirror simple.
 */
export type Stored<T> = T | Promise<T>;

export interface NodeRegistry {
  readonly leaseMs: number;
  /** Per-node ports of the groups with node listeners. */
  readonly ports: PortView;
  /**
   * Applies a validated heartbeat, stamped with the server's clock. A new node beyond maxNodes
   * first takes the place of expired ones (forgotten); with none to take, RegistryFullError.
   */
  record(heartbeat: Heartbeat): Stored<RecordOutcome>;
  /**
   * Puts a known node in maintenance (or, with undefined, takes it out): it reaches Envoy as
   * DRAINING until then. Returns the node as it now is, or undefined if there is no such node.
   */
  setMaintenance(id: string, maintenance: Maintenance | undefined): Stored<NodeRecord | undefined>;
  /** Forgets a node at once (operator action). Returns what was forgotten. */
  forget(id: string): Stored<NodeRecord | undefined>;
  get(id: string): NodeRecord | undefined;
  /** Every stored node, live or expired, ordered by id. */
  list(): readonly NodeRecord[];
  /** The nodes of one shard of one database. */
  shardMembers(database: string, shard: string): NodeRecord[];
  /** Ids whose routing changed, or that came or went, since the last call. */
  takeChanges(): ReadonlySet<string>;
  /** Ids whose lease ran out by `nowMs` and were not reported by an earlier call. */
  takeExpired(nowMs: number): string[];
  /**
   * Forgets nodes that have been expired for longer than the retention, but not `keep` (the
   * nodes self-preservation keeps routable, which until the next sweep also keep their places
   * under maxNodes). Returns their ids.
   */
  sweep(keep?: ReadonlySet<string>): string[];
  /** The earliest server time at which time alone changes a node's verdict (expiry or forgetting). */
  nextDeadline(): number | undefined;
  /** The registry as the state file keeps it. */
  state(): RegistryState;
  /** Loads a saved state; every node gets a fresh lease, as if it had just heartbeated. Returns the port assignments it could not keep. */
  restore(state: RegistryState): DroppedPort[];
  /** Called after any change that may alter routing or the stored set. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/** The store cannot take writes now (etcd unreachable): nothing was stored; the sender retries. */
export class StoreUnavailableError extends Error {
  constructor(
    reason: string,
    /** When to try again. */
    readonly retryAfterSeconds: number,
  ) {
    super(`the registry store is unavailable: ${reason}`);
  }
}

/** A new node beyond registry.maxNodes: refused, and nothing stored. */
export class RegistryFullError extends Error {
  constructor(readonly maxNodes: number) {
    super(`the registry holds registry.maxNodes (${maxNodes}) live or preserved nodes; a new node is refused`);
  }
}
