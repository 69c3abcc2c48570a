/**
 * `shardvoy nodes`: the registry (GET /v1/nodes), each node with its health from /clusters, one
 * row per node by database, shard, role (masters first) and id.
 */
import type { EndpointView } from '../topology/cluster-view.js';
import { ClustersReply, NodesReply } from '../sources/http/response-schemas.js';
import type { ApiClient } from './api-client.js';
import type { OutputFormat } from './flags.js';
import { age, ageOf, compare, data, table } from './render.js';
import type { ClustersAnswer, NodeJson, NodesAnswer } from './server-view.js';

/** A node as GET /v1/nodes has it, plus its verdict (null until the server has judged it). */
export type NodeRow = NodeJson & { readonly health: string | null; readonly routed: boolean; readonly preserved: boolean; readonly lastHeartbeatAgeMs: number | null };

export interface NodesReport {
  readonly nodes: readonly NodeRow[];
}

export async function readNodes(api: ApiClient): Promise<NodesReport> {
  const [answer, clusters] = await Promise.all([api.get('v1/nodes', NodesReply), api.get('clusters', ClustersReply)]);
  return nodesReport(answer, clusters);
}

export function nodesReport(answer: NodesAnswer, clusters: ClustersAnswer): NodesReport {
  const verdicts = new Map<string, EndpointView>();
  for (const cluster of clusters.clusters) for (const endpoint of cluster.endpoints) verdicts.set(endpoint.id, endpoint);
  const roleOrder = (role: string) => (role === 'master' ? 0 : 1);
  const nodes = [...answer.nodes]
    .sort((a, b) => compare(a.database, b.database) || compare(a.shard, b.shard) || roleOrder(a.role) - roleOrder(b.role) || compare(a.id, b.id))
    .map((node) => {
      const verdict = verdicts.get(node.id);
      return {
        ...node,
        health: verdict?.health ?? null,
        routed: verdict?.routed ?? false,
        preserved: verdict?.preserved ?? false,
        lastHeartbeatAgeMs: verdict?.lastHeartbeatAgeMs ?? null,
      };
    });
  return { nodes };
}

export function renderNodes(report: NodesReport, format: OutputFormat, nowMs: number, compact = false): string {
  if (format === 'json' || format === 'yaml') return data(format, report, compact);
  const wide = format === 'wide';
  const header = ['ID', 'DATABASE', 'SHARD', 'ROLE', 'EPOCH', 'STATUS', 'HEALTH', 'ADDRESS', 'AGE', 'MAINTENANCE', ...(wide ? ['DC', 'ROUTED', 'PRESERVED', 'LABELS', 'FIRST_SEEN', 'LAST_HEARTBEAT'] : [])];
  const rows = report.nodes.map((n) => [
    n.id,
    n.database,
    n.shard,
    n.role,
    String(n.epoch),
    n.status,
    n.health ?? '-',
    n.address,
    // The server's own age where it judged the node: no clock skew between hosts.
    n.lastHeartbeatAgeMs === null ? ageOf(n.lastHeartbeat, nowMs) : age(n.lastHeartbeatAgeMs),
    n.maintenance ? n.maintenance.reason : '-',
    ...(wide
      ? [
          n.dc ?? '-',
          n.routed ? 'yes' : 'no',
          n.preserved ? 'yes' : 'no',
          Object.entries(n.labels)
            .sort(([a], [b]) => compare(a, b))
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
          n.firstSeen,
          n.lastHeartbeat,
        ]
      : []),
  ]);
  return table(header, rows);
}
