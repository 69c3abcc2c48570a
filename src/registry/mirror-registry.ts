/**
 * The registry of an instance that follows other discovery servers (contract 7.2): its nodes are
 * exactly the last view polled from them. Liveness is the followed server's business, so leases
 * never run out here, and a failed poll changes nothing: the last view stays. Local heartbeats
 * and deletions are refused, naming the servers followed.
 */
import type { Clock } from './clock.js';
import { MemoryRegistry } from './memory-registry.js';
import type { Heartbeat, NodeRecord } from './node.js';
import type { DroppedPort, PortPool, PortView } from './ports.js';
import type { NodeRegistry, RecordOutcome, RegistryState } from './registry.js';

export class FollowingError extends Error {
  constructor(readonly remote: readonly string[]) {
    super(`this instance follows the discovery servers ${remote.join(', ')}; send heartbeats and changes there`);
  }
}

export interface MirrorRegistryOptions {
  readonly remote: readonly string[];
  readonly clock: Clock;
  readonly portPools?: readonly PortPool[];
  readonly portReuseSeconds?: number;
}

export class MirrorRegistry implements NodeRegistry {
  readonly leaseMs = Number.POSITIVE_INFINITY;
  private readonly inner: MemoryRegistry;

  constructor(private readonly options: MirrorRegistryOptions) {
    this.inner = new MemoryRegistry({
      leaseSeconds: Number.POSITIVE_INFINITY,
      expiredRetentionSeconds: 0,
      clock: options.clock,
      ...(options.portPools ? { portPools: options.portPools } : {}),
      ...(options.portReuseSeconds === undefined ? {} : { portReuseSeconds: options.portReuseSeconds }),
    });
  }

  /** A reloaded configuration's node-listener pools; the mirrored nodes stay. */
  reconfigure(portPools: readonly PortPool[], portReuseSeconds: number): void {
    this.inner.reconfigure({ leaseSeconds: Number.POSITIVE_INFINITY, expiredRetentionSeconds: 0, portPools, portReuseSeconds });
  }

  get ports(): PortView {
    return this.inner.ports;
  }

  /** Makes the registry exactly `view`: new and changed nodes recorded, missing ones forgotten. */
  replaceAll(view: readonly Heartbeat[]): void {
    const ids = new Set(view.map((node) => node.id));
    for (const node of view) this.inner.record(node);
    for (const node of this.inner.list()) if (!ids.has(node.id)) this.inner.forget(node.id);
  }

  record(_heartbeat: Heartbeat): RecordOutcome {
    throw new FollowingError(this.options.remote);
  }

  forget(_id: string): NodeRecord | undefined {
    throw new FollowingError(this.options.remote);
  }

  /** Maintenance is the followed server's to set. */
  setMaintenance(): NodeRecord | undefined {
    throw new FollowingError(this.options.remote);
  }

  get(id: string): NodeRecord | undefined {
    return this.inner.get(id);
  }

  list(): readonly NodeRecord[] {
    return this.inner.list();
  }

  shardMembers(database: string, shard: string): NodeRecord[] {
    return this.inner.shardMembers(database, shard);
  }

  takeChanges(): ReadonlySet<string> {
    return this.inner.takeChanges();
  }

  takeExpired(): string[] {
    return [];
  }

  sweep(): string[] {
    return [];
  }

  nextDeadline(): number | undefined {
    return undefined;
  }

  state(): RegistryState {
    return this.inner.state();
  }

  restore(state: RegistryState): DroppedPort[] {
    return this.inner.restore(state);
  }

  onChange(listener: () => void): () => void {
    return this.inner.onChange(listener);
  }
}
