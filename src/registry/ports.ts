/**
 * Stable per-node ports for groups with node listeners (contract section 6): a node gets the
 * lowest free port of its group's front ends when first seen and keeps it across its own
 * restarts and address changes; a forgotten node's port is held for `reuseMs` before another
 * node may have it, so a client holding the old advertised address never reaches a stranger.
 */
import type { Config, FrontEnd } from '../config/types.js';

export interface PortPool {
  readonly group: string;
  readonly database: string;
  readonly frontEnds: readonly FrontEnd[];
}

export interface PortAssignment {
  readonly group: string;
  readonly nodeId: string;
  readonly port: number;
  readonly advertisedHost: string;
  /** When its owner was forgotten; undefined while the owner is known. */
  readonly releasedAtMs: number | undefined;
}

/** Read-only view for the topology builder and the API. */
export interface PortView {
  /** The port a known node holds in a group, if any. */
  portOf(group: string, nodeId: string): PortAssignment | undefined;
  /** Every assignment, released ones included (for the state file). */
  all(): PortAssignment[];
}

export interface AssignOutcome {
  /** A port was given or reclaimed: the node's listeners change. */
  readonly changed: boolean;
  /** Groups whose ranges are full, so the node has no port there. */
  readonly exhausted: readonly string[];
}

/** A saved assignment left out of a restore, and why. */
export interface DroppedPort {
  readonly entry: string;
  readonly reason: string;
}

/** Ids and group names as they may have been stored: cut to 64 characters, JSON-escaped. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

export function portPools(config: Config): PortPool[] {
  return config.groups.flatMap((g) => (g.nodeListeners ? [{ group: g.name, database: g.database, frontEnds: g.nodeListeners.frontEnds }] : []));
}

export class PortAllocator implements PortView {
  /** group -> nodeId -> assignment */
  private readonly byGroup = new Map<string, Map<string, PortAssignment>>();

  constructor(
    private pools: readonly PortPool[],
    private reuseMs: number,
  ) {
    for (const pool of pools) this.byGroup.set(pool.group, new Map());
  }

  /**
   * A reloaded configuration: assignments that still fit their group's front ends are kept (a
   * node never loses its port to a reload), the others dropped; new groups start empty.
   */
  reconfigure(pools: readonly PortPool[], reuseMs: number): void {
    const kept = this.all();
    this.pools = pools;
    this.reuseMs = reuseMs;
    this.byGroup.clear();
    for (const pool of pools) this.byGroup.set(pool.group, new Map());
    this.restore(kept);
  }

  assign(nodeId: string, database: string, nowMs: number): AssignOutcome {
    let changed = false;
    const exhausted: string[] = [];
    for (const pool of this.pools) {
      const held = this.byGroup.get(pool.group)!;
      const current = held.get(nodeId);
      if (pool.database !== database) {
        // The node moved to another database: its port here is released like a forgotten node's.
        if (current && current.releasedAtMs === undefined) held.set(nodeId, { ...current, releasedAtMs: nowMs });
        continue;
      }
      if (current) {
        if (current.releasedAtMs !== undefined) {
          held.set(nodeId, { ...current, releasedAtMs: undefined });
          changed = true;
        }
        continue;
      }
      const slot = this.lowestFree(pool, held, nowMs);
      if (!slot) {
        exhausted.push(pool.group);
        continue;
      }
      held.set(nodeId, { group: pool.group, nodeId, port: slot.port, advertisedHost: slot.frontEnd.advertisedHost, releasedAtMs: undefined });
      changed = true;
    }
    return { changed, exhausted };
  }

  /** The node was forgotten: its ports are kept for it until the reuse period ends. */
  release(nodeId: string, nowMs: number): void {
    for (const held of this.byGroup.values()) {
      const current = held.get(nodeId);
      if (current && current.releasedAtMs === undefined) held.set(nodeId, { ...current, releasedAtMs: nowMs });
    }
  }

  portOf(group: string, nodeId: string): PortAssignment | undefined {
    const assignment = this.byGroup.get(group)?.get(nodeId);
    return assignment?.releasedAtMs === undefined ? assignment : undefined;
  }

  all(): PortAssignment[] {
    return [...this.byGroup.values()].flatMap((held) => [...held.values()]);
  }

  /**
   * Restores saved assignments (state file, reload). Dropped, and returned with the reason: one
   * whose group or port range is no longer configured, whose port another node already holds,
   * or whose node already holds a port in that group.
   */
  restore(assignments: readonly PortAssignment[]): DroppedPort[] {
    const dropped: DroppedPort[] = [];
    for (const a of assignments) {
      const reason = this.restoreOne(a);
      if (reason) dropped.push({ entry: `port of node ${quoted(a.nodeId)} in group ${quoted(a.group)}`, reason });
    }
    return dropped;
  }

  private restoreOne(a: PortAssignment): string | undefined {
    const pool = this.pools.find((p) => p.group === a.group);
    if (!pool) return `group ${a.group} has no node listeners`;
    const frontEnd = pool.frontEnds.find((f) => a.port >= f.firstPort && a.port <= f.lastPort);
    if (!frontEnd) {
      const ranges = pool.frontEnds.map((f) => `${f.firstPort}..${f.lastPort}`).join(', ');
      return `port ${a.port} is outside the node-listener ranges of group ${a.group} (${ranges})`;
    }
    const held = this.byGroup.get(a.group)!;
    const own = held.get(a.nodeId);
    if (own) return `the node already holds port ${own.port} here`;
    const holder = [...held.values()].find((other) => other.port === a.port);
    if (holder) return `port ${a.port} is held by node ${quoted(holder.nodeId)}`;
    held.set(a.nodeId, { ...a, advertisedHost: frontEnd.advertisedHost });
    return undefined;
  }

  private lowestFree(pool: PortPool, held: Map<string, PortAssignment>, nowMs: number) {
    const taken = new Set<number>();
    for (const [id, a] of held) {
      if (a.releasedAtMs !== undefined && nowMs - a.releasedAtMs >= this.reuseMs) held.delete(id);
      else taken.add(a.port);
    }
    for (const frontEnd of pool.frontEnds) {
      for (let port = frontEnd.firstPort; port <= frontEnd.lastPort; port++) {
        if (!taken.has(port)) return { port, frontEnd };
      }
    }
    return undefined;
  }
}
