/**
 * The operator's view behind GET /clusters: every configured cluster and every
 * (database, shard, role) seen in heartbeats, each with all its nodes and their verdicts.
 * Pure: computed from the config and the registry as the last rebuild saw it.
 */
import type { Config } from '../config/types.js';
import type { Health, NodeRecord, NodeStatus, Role } from '../registry/node.js';
import type { PortView } from '../registry/ports.js';
import { advertisedAddresses } from './advertised.js';
import { reachesEnvoy } from './build.js';
import { clusterNameFor, parseClusterName } from './cluster-names.js';

export interface EndpointView {
  readonly id: string;
  readonly address: string;
  readonly dc: string | null;
  readonly status: NodeStatus;
  readonly epoch: number;
  readonly health: Health;
  /** Sent to Envoy: healthy or draining, and an IP address (EDS takes no DNS names). */
  readonly routed: boolean;
  /** Its lease ran out, but self-preservation keeps it routable. */
  readonly preserved: boolean;
  /** Per group with node listeners: where other networks reach this node (null: no free port). */
  readonly advertised: Readonly<Record<string, string | null>>;
  readonly lastHeartbeatAgeMs: number;
  /** An operator's maintenance: sent to Envoy as DRAINING until lifted. */
  readonly maintenance: { readonly reason: string; readonly since: string } | null;
}

export interface ClusterView {
  readonly name: string;
  readonly database: string;
  readonly shard: string;
  readonly role: Role;
  readonly endpoints: readonly EndpointView[];
}

export interface ClusterFilter {
  readonly database?: string | undefined;
  readonly shard?: string | undefined;
  readonly group?: string | undefined;
}

interface Entry {
  name: string;
  database: string;
  shard: string;
  role: Role;
}

export function clusterViews(
  config: Config,
  nodes: readonly NodeRecord[],
  health: ReadonlyMap<string, Health>,
  lastHeartbeatMs: (node: NodeRecord) => number,
  ports: PortView,
  preserved: ReadonlySet<string>,
  nowMs: number,
  filter: ClusterFilter = {},
): ClusterView[] {
  const entries = new Map<string, Entry>();
  const covered = new Set<string>();
  const groups = filter.group === undefined ? config.groups : config.groups.filter((g) => g.name === filter.group);
  for (const group of groups) {
    for (const shard of group.shards) {
      for (const name of shard.clusters) {
        const parsed = parseClusterName(name);
        if (!parsed) continue;
        entries.set(`${group.database}/${name}`, { name, database: group.database, shard: shard.name, role: parsed.role });
        covered.add(`${group.database}/${shard.name}/${parsed.role}`);
      }
    }
  }
  if (filter.group === undefined) {
    for (const node of nodes) {
      if (covered.has(`${node.database}/${node.shard}/${node.role}`)) continue;
      const name = clusterNameFor(node.shard, node.role);
      entries.set(`${node.database}/${name}`, { name, database: node.database, shard: node.shard, role: node.role });
    }
  }
  const members = new Map<string, NodeRecord[]>();
  for (const node of nodes) {
    // Heard from after the last rebuild (within the debounce): shown once judged, never misjudged.
    if (!health.has(node.id)) continue;
    const key = `${node.database}/${node.shard}/${node.role}`;
    let list = members.get(key);
    if (!list) members.set(key, (list = []));
    list.push(node);
  }
  return [...entries.values()]
    .filter((e) => (filter.database === undefined || e.database === filter.database) && (filter.shard === undefined || e.shard === filter.shard))
    .sort((a, b) => compare(a.database, b.database) || compare(a.name, b.name))
    .map((entry) => ({
      ...entry,
      endpoints: (members.get(`${entry.database}/${entry.shard}/${entry.role}`) ?? []).map((node) => ({
        id: node.id,
        address: node.address,
        dc: node.dc ?? null,
        status: node.status,
        epoch: node.epoch,
        health: health.get(node.id)!,
        routed: reachesEnvoy(node, health.get(node.id)),
        preserved: preserved.has(node.id),
        advertised: advertisedAddresses(config, ports, node.id, node.database),
        lastHeartbeatAgeMs: Math.max(0, nowMs - lastHeartbeatMs(node)),
        maintenance: node.maintenance ? { reason: node.maintenance.reason, since: new Date(node.maintenance.sinceMs).toISOString() } : null,
      })),
    }));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The same view as an aligned plain-text table, one row per endpoint (or per empty cluster). */
export function clusterTable(version: string, views: readonly ClusterView[]): string {
  const header = ['CLUSTER', 'DATABASE', 'SHARD', 'ROLE', 'ID', 'ADDRESS', 'DC', 'STATUS', 'EPOCH', 'HEALTH', 'AGE_MS'];
  const rows: string[][] = [];
  for (const view of views) {
    if (view.endpoints.length === 0) rows.push([view.name, view.database, view.shard, view.role, '-', '-', '-', '-', '-', '-', '-']);
    for (const e of view.endpoints) {
      rows.push([view.name, view.database, view.shard, view.role, e.id, e.address, e.dc ?? '-', e.status, String(e.epoch), e.health, String(e.lastHeartbeatAgeMs)]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [`version ${version}`, line(header), ...rows.map(line)].join('\n') + '\n';
}
