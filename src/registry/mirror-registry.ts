/**
 * The registry of an instance that follows other discovery servers (contract 7.2): its nodes are
 * exactly the last view polled from them. Liveness is the followed server's business, so leases
 * never run out here, and a failed poll changes nothing: the last view stays. Local heartbeats
 * and deletions are refused, naming the servers followed.
 */
import type { Clock } from './clock.js';
import { JudgedElsewhere } from './judged-elsewhere.js';
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

export class MirrorRegistry extends JudgedElsewhere implements NodeRegistry {
  readonly leaseMs = Number.POSITIVE_INFINITY;
  protected readonly view: MemoryRegistry;

  constructor(private readonly options: MirrorRegistryOptions) {
    super();
    this.view = new MemoryRegistry({
      leaseSeconds: Number.POSITIVE_INFINITY,
      expiredRetentionSeconds: 0,
      clock: options.clock,
      ...(options.portPools ? { portPools: options.portPools } : {}),
      ...(options.portReuseSeconds === undefined ? {} : { portReuseSeconds: options.portReuseSeconds }),
    });
  }

  /** A reloaded configuration's node-listener pools; the mirrored nodes stay. */
  reconfigure(portPools: readonly PortPool[], portReuseSeconds: number): void {
    this.view.reconfigure({ leaseSeconds: Number.POSITIVE_INFINITY, expiredRetentionSeconds: 0, portPools, portReuseSeconds });
  }

  get ports(): PortView {
    return this.view.ports;
  }

  /** Makes the registry exactly `view`: new and changed nodes recorded, missing ones forgotten. */
  replaceAll(view: readonly Heartbeat[]): void {
    const ids = new Set(view.map((node) => node.id));
    for (const node of view) this.view.record(node);
    for (const node of this.view.list()) if (!ids.has(node.id)) this.view.forget(node.id);
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

  state(): RegistryState {
    return this.view.state();
  }

  restore(state: RegistryState): DroppedPort[] {
    return this.view.restore(state);
  }

  onChange(listener: () => void): () => void {
    return this.view.onChange(listener);
  }
}
