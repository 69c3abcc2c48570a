/**
 * Routing events from the watcher's rebuilds: it compares each judged shard with what it saw
 * last, node by node, and writes one event per change that matters to routing. It looks only at
 * the shards a rebuild judged again, so a change among 100,000 nodes costs one shard.
 * The first rebuild is the baseline (nodes loaded from the state file are not announced).
 */
import { shardKey, splitShardKey } from '../registry/health.js';
import { isRoutable, type Health, type NodeRecord } from '../registry/node.js';
import type { PortView } from '../registry/ports.js';
import type { RebuildEvent } from '../watcher/watcher.js';
import type { EventLog } from './event-log.js';

export interface RoutingEventsDeps {
  readonly log: EventLog;
  readonly shardMembers: (database: string, shard: string) => readonly NodeRecord[];
  /** Whether the registry still holds the node (a node gone from a shard either moved or was forgotten). */
  readonly known: (id: string) => boolean;
  readonly ports: PortView;
  /** The groups with node listeners (where nodes get ports), read at each rebuild (hot reload). */
  readonly portGroups: () => readonly string[];
}

interface Seen {
  readonly health: Health;
  readonly epoch: number;
  readonly maintenance: string | undefined;
  readonly ports: ReadonlyMap<string, number>;
}

export class RoutingEvents {
  private readonly seen = new Map<string, Map<string, Seen>>();
  private readonly masters = new Map<string, string>();
  private baseline = false;
  private preserving = false;

  constructor(private readonly deps: RoutingEventsDeps) {}

  /** Give this to Watcher.observe(). */
  readonly onRebuild = (event: RebuildEvent): void => {
    const announce = this.baseline;
    this.baseline = true;
    for (const key of event.shards) this.judgeShard(key, event.view.health, announce);
    if (event.preserving !== this.preserving) {
      this.preserving = event.preserving;
      if (announce) {
        this.deps.log.append(
          event.preserving
            ? {
                type: 'Warning',
                reason: 'SelfPreservationEngaged',
                regarding: { kind: 'Registry', name: 'expiry' },
                message: `self-preservation engaged: ${event.view.preserved.size} silent nodes stay routable and expiry is stopped (POST /v1/registry/resume-expiry to expire them)`,
              }
            : { type: 'Normal', reason: 'SelfPreservationEnded', regarding: { kind: 'Registry', name: 'expiry' }, message: 'self-preservation ended: expiry resumes' },
        );
      }
    }
  };

  private judgeShard(key: string, health: ReadonlyMap<string, Health>, announce: boolean): void {
    const [database, shard] = splitShardKey(key);
    const before = this.seen.get(key) ?? new Map<string, Seen>();
    const after = new Map<string, Seen>();
    // By id: the events of one rebuild come in an order that does not depend on arrival.
    const members = [...this.deps.shardMembers(database, shard)].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const groups = this.deps.portGroups();
    for (const node of members) {
      const verdict = health.get(node.id);
      if (verdict === undefined) continue;
      const ports = new Map<string, number>();
      for (const group of groups) {
        const assignment = this.deps.ports.portOf(group, node.id);
        if (assignment && assignment.releasedAtMs === undefined) ports.set(group, assignment.port);
      }
      const now: Seen = { health: verdict, epoch: node.epoch, maintenance: node.maintenance?.reason, ports };
      after.set(node.id, now);
      if (announce) this.compareNode(node, before.get(node.id), now);
    }
    for (const id of before.keys()) {
      // Gone from the shard: forgotten, or moved to another shard (then announced there).
      if (after.has(id) || !announce) continue;
      if (!this.deps.known(id)) {
        this.deps.log.append({ type: 'Normal', reason: 'NodeForgotten', regarding: { kind: 'Node', name: id }, message: `node ${id} forgotten (was in ${key})` });
      }
    }
    if (after.size > 0) this.seen.set(key, after);
    else this.seen.delete(key);
    this.compareMasters(key, members, after, announce);
  }

  private compareNode(node: NodeRecord, before: Seen | undefined, now: Seen): void {
    const { log } = this.deps;
    const regarding = { kind: 'Node', name: node.id } as const;
    const where = `${node.role} of ${shardKey(node.database, node.shard)} at ${node.address}`;
    // New here, or back after expiring: registered (a node moved from another shard is new here).
    if (now.health !== 'expired' && (before === undefined || before.health === 'expired')) {
      log.append({ type: 'Normal', reason: 'NodeRegistered', regarding, message: `node ${node.id} registered: ${where}, epoch ${node.epoch}, ${now.health}` });
    } else if (before !== undefined && now.health === 'expired' && before.health !== 'expired') {
      log.append({ type: 'Warning', reason: 'NodeExpired', regarding, message: `node ${node.id} expired: no heartbeat for a lease (${where})` });
    } else if (before !== undefined && now.health === 'fenced' && before.health !== 'fenced') {
      log.append({ type: 'Warning', reason: 'NodeFenced', regarding, message: `node ${node.id} fenced: a master with a higher epoch than ${node.epoch} is live in ${shardKey(node.database, node.shard)}` });
    }
    if (now.maintenance !== undefined && before?.maintenance === undefined) {
      log.append({ type: 'Warning', reason: 'MaintenanceStarted', regarding, message: `node ${node.id} in maintenance, sent to Envoy as DRAINING: ${now.maintenance}` });
    } else if (now.maintenance === undefined && before?.maintenance !== undefined) {
      log.append({ type: 'Normal', reason: 'MaintenanceEnded', regarding, message: `node ${node.id} out of maintenance` });
    }
    for (const [group, port] of now.ports) {
      if (before?.ports.get(group) !== port) {
        log.append({ type: 'Normal', reason: 'PortAssigned', regarding, message: `node ${node.id} holds port ${port} in group ${group}` });
      }
    }
  }

  /** The shard's routable masters, named in one string; an event when it changes. */
  private compareMasters(key: string, members: readonly NodeRecord[], seen: ReadonlyMap<string, Seen>, announce: boolean): void {
    const masters = members
      .filter((n) => n.role === 'master' && seen.has(n.id) && isRoutable(seen.get(n.id)!.health))
      .map((n) => `${n.id} (epoch ${n.epoch})`)
      .sort();
    const named = masters.join(', ');
    const before = this.masters.get(key);
    if (named === '') this.masters.delete(key);
    else this.masters.set(key, named);
    if (!announce || (before ?? '') === named) return;
    this.deps.log.append(
      named === ''
        ? { type: 'Warning', reason: 'MasterChanged', regarding: { kind: 'Shard', name: key }, message: `shard ${key} has no routable master (was ${before})` }
        : { type: 'Normal', reason: 'MasterChanged', regarding: { kind: 'Shard', name: key }, message: `shard ${key} master: ${named}${before ? ` (was ${before})` : ''}` },
    );
  }
}
