import type { Clock } from './clock.js';
import { isExpired } from './health.js';
import { sameRouting, type Heartbeat, type NodeRecord } from './node.js';
import { PortAllocator, type PortPool } from './ports.js';
import { RegistryFullError, type NodeRegistry, type RecordOutcome, type RegistryState } from './registry.js';

export interface MemoryRegistryOptions {
  readonly leaseSeconds: number;
  readonly expiredRetentionSeconds: number;
  readonly clock: Clock;
  /** Groups with node listeners, and how long a forgotten node's port is held for it. */
  readonly portPools?: readonly PortPool[];
  readonly portReuseSeconds?: number;
  readonly maxNodes?: number;
}

/** A single-process registry. Lease renewals that change no routing field notify nobody. */
export class MemoryRegistry implements NodeRegistry {
  leaseMs: number;
  readonly ports: PortAllocator;
  private retentionMs: number;
  private maxNodes: number;
  private readonly clock: Clock;
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly listeners = new Set<() => void>();
  private sorted: readonly NodeRecord[] | undefined;

  constructor(options: MemoryRegistryOptions) {
    this.leaseMs = options.leaseSeconds * 1000;
    this.retentionMs = options.expiredRetentionSeconds * 1000;
    this.clock = options.clock;
    this.maxNodes = options.maxNodes ?? Number.POSITIVE_INFINITY;
    this.ports = new PortAllocator(options.portPools ?? [], (options.portReuseSeconds ?? 86_400) * 1000);
  }

  /** Applies a reloaded configuration's registry settings; nodes and their ports stay. */
  reconfigure(options: Omit<MemoryRegistryOptions, 'clock'>): void {
    this.leaseMs = options.leaseSeconds * 1000;
    this.retentionMs = options.expiredRetentionSeconds * 1000;
    this.maxNodes = options.maxNodes ?? Number.POSITIVE_INFINITY;
    this.ports.reconfigure(options.portPools ?? [], (options.portReuseSeconds ?? 86_400) * 1000);
    this.notify();
  }

  record(heartbeat: Heartbeat): RecordOutcome {
    const now = this.clock.now();
    const previous = this.nodes.get(heartbeat.id);
    if (!previous && this.nodes.size >= this.maxNodes) throw new RegistryFullError(this.maxNodes);
    const node: NodeRecord = Object.freeze({
      ...heartbeat,
      labels: Object.freeze({ ...heartbeat.labels }),
      firstSeenMs: previous?.firstSeenMs ?? now,
      lastHeartbeatMs: now,
    });
    this.nodes.set(node.id, node);
    this.sorted = undefined;
    const ports = this.ports.assign(node.id, node.database, now);
    const routingChanged =
      previous === undefined || isExpired(previous, now, this.leaseMs) || !sameRouting(previous, heartbeat) || ports.changed;
    if (routingChanged) this.notify();
    return { node, routingChanged, portsExhausted: ports.exhausted };
  }

  forget(id: string): NodeRecord | undefined {
    const node = this.nodes.get(id);
    if (!node) return undefined;
    this.nodes.delete(id);
    this.ports.release(id, this.clock.now());
    this.sorted = undefined;
    this.notify();
    return node;
  }

  get(id: string): NodeRecord | undefined {
    return this.nodes.get(id);
  }

  list(): readonly NodeRecord[] {
    this.sorted ??= Object.freeze([...this.nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
    return this.sorted;
  }

  sweep(keep: ReadonlySet<string> = new Set()): string[] {
    const now = this.clock.now();
    const forgotten: string[] = [];
    for (const node of this.nodes.values()) {
      if (now - node.lastHeartbeatMs > this.leaseMs + this.retentionMs && !keep.has(node.id)) forgotten.push(node.id);
    }
    for (const id of forgotten) {
      this.nodes.delete(id);
      this.ports.release(id, now);
    }
    if (forgotten.length > 0) {
      this.sorted = undefined;
      this.notify();
    }
    return forgotten;
  }

  nextDeadline(): number | undefined {
    const now = this.clock.now();
    let earliest: number | undefined;
    for (const node of this.nodes.values()) {
      // Expired means older than a whole lease, so the verdict flips 1 ms after the lease ends.
      const expiresAt = node.lastHeartbeatMs + this.leaseMs + 1;
      const deadline = expiresAt > now ? expiresAt : expiresAt + this.retentionMs;
      if (earliest === undefined || deadline < earliest) earliest = deadline;
    }
    return earliest;
  }

  state(): RegistryState {
    return {
      nodes: [...this.nodes.values()].map(({ lastHeartbeatMs: _last, ...node }) => node),
      ports: this.ports.all(),
    };
  }

  restore(state: RegistryState): void {
    const now = this.clock.now();
    this.ports.restore(state.ports);
    for (const saved of state.nodes) {
      this.nodes.set(saved.id, Object.freeze({ ...saved, labels: Object.freeze({ ...saved.labels }), lastHeartbeatMs: now }));
      this.ports.assign(saved.id, saved.database, now);
    }
    this.sorted = undefined;
    this.notify();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
