/**
 * Judges every node at one instant: lease expiry on the server's clock, then epoch fencing.
 * Pure, so the watcher, /clusters and tests all see the same verdicts for the same inputs.
 */
import type { Health, NodeRecord } from './node.js';

export function isExpired(node: NodeRecord, nowMs: number, leaseMs: number): boolean {
  // A shared store's judge decided (etcd): this host's clock has no say.
  if (node.expired !== undefined) return node.expired;
  return nowMs - node.lastHeartbeatMs > leaseMs;
}

/** `${database}/${shard}`: the unit within which one master epoch wins. */
export function shardKey(database: string, shard: string): string {
  return `${database}/${shard}`;
}

/** The database and shard of a shardKey (database names have no "/"). */
export function splitShardKey(key: string): [database: string, shard: string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

/**
 * `preserved` nodes (self-preservation) are judged as if their lease had not run out, for their
 * own verdict and for fencing alike.
 */
export function assessHealth(
  nodes: Iterable<NodeRecord>,
  nowMs: number,
  leaseMs: number,
  preserved: ReadonlySet<string> = new Set(),
): Map<string, Health> {
  const list = [...nodes];
  const expired = (node: NodeRecord) => !preserved.has(node.id) && isExpired(node, nowMs, leaseMs);
  // Highest epoch among live masters per shard. An inactive master still counts: its term exists,
  // so an older master must not take writes because the newer one paused. Expired masters do not.
  const highestEpoch = new Map<string, number>();
  for (const node of list) {
    if (node.role !== 'master' || expired(node)) continue;
    const key = shardKey(node.database, node.shard);
    highestEpoch.set(key, Math.max(highestEpoch.get(key) ?? 0, node.epoch));
  }
  const verdicts = new Map<string, Health>();
  for (const node of list) {
    verdicts.set(node.id, judge(node, expired(node), highestEpoch));
  }
  return verdicts;
}

function judge(node: NodeRecord, expired: boolean, highestEpoch: Map<string, number>): Health {
  if (expired) return 'expired';
  if (node.status === 'inactive') return 'inactive';
  if (node.role === 'master' && node.epoch < (highestEpoch.get(shardKey(node.database, node.shard)) ?? 0)) {
    return 'fenced';
  }
  return node.status === 'draining' || node.maintenance !== undefined ? 'draining' : 'healthy';
}
