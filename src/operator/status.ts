/**
 * `shardvoy status`: one screen an operator reads at 3 a.m. First the verdict (ready or not and
 * why, then every problem `check` fails on), then self-preservation, shards without a master,
 * fenced nodes and Envoys by status on a line each; then a row per shard (those with no master,
 * NONE, first) and a row per Envoy group (groups with no Envoy connected included).
 */
import type { ConfigStatus } from '../xds/stream-base.js';
import type { ApiClient } from './api-client.js';
import type { OutputFormat } from './flags.js';
import { age, compare, data, table } from './render.js';
import {
  CONFIG_STATUSES,
  overallStatus,
  preservedNodes,
  problems,
  readServerView,
  shardSummaries,
  type ServerView,
  type ShardSummary,
} from './server-view.js';

export interface StatusReport {
  readonly server: string;
  readonly ready: boolean;
  readonly readyReason: string | undefined;
  readonly version: string;
  readonly problems: readonly string[];
  readonly selfPreservation: { readonly engaged: boolean; readonly preservedNodes: readonly string[] };
  readonly shards: ReadonlyArray<{
    readonly database: string;
    readonly shard: string;
    readonly masters: ReadonlyArray<{ id: string; address: string; epoch: number; health: string; lastHeartbeatAgeMs: number }>;
    readonly fenced: ReadonlyArray<{ id: string; role: string; epoch: number }>;
    readonly replicas: { readonly routable: number; readonly total: number; readonly ids: readonly string[] };
  }>;
  readonly envoys: {
    readonly total: number;
    readonly byStatus: Readonly<Record<ConfigStatus, number>>;
    readonly groups: ReadonlyArray<{ readonly group: string; readonly envoys: number; readonly byStatus: Readonly<Record<ConfigStatus, number>> }>;
  };
}

export async function readStatus(api: ApiClient): Promise<StatusReport> {
  return statusReport(api.server.href, await readServerView(api));
}

export function statusReport(server: string, view: ServerView): StatusReport {
  const zero = (): Record<ConfigStatus, number> => ({ SYNCED: 0, STALE: 0, NOT_SENT: 0, ERROR: 0 });
  const byStatus = zero();
  const groups = new Map<string, { envoys: number; byStatus: Record<ConfigStatus, number> }>(view.groups.map((g) => [g, { envoys: 0, byStatus: zero() }]));
  for (const client of view.clients) {
    const status = overallStatus(client);
    byStatus[status]++;
    const name = client.group ?? '(none yet)';
    let group = groups.get(name);
    if (!group) groups.set(name, (group = { envoys: 0, byStatus: zero() }));
    group.envoys++;
    group.byStatus[status]++;
  }
  const preserved = preservedNodes(view.clusters.clusters);
  return {
    server,
    ready: view.readiness.ready,
    readyReason: view.readiness.ready ? undefined : view.readiness.reason,
    version: view.clusters.version,
    problems: problems(view),
    selfPreservation: { engaged: view.selfPreservation || preserved.length > 0, preservedNodes: preserved },
    shards: orderShards(shardSummaries(view.clusters.clusters)).map((s) => ({
      database: s.database,
      shard: s.shard,
      masters: s.masters.map((m) => ({ id: m.id, address: m.address, epoch: m.epoch, health: m.health, lastHeartbeatAgeMs: m.lastHeartbeatAgeMs })),
      fenced: s.fenced.map((f) => ({ id: f.id, role: s.allMasters.includes(f) ? 'master' : 'replica', epoch: f.epoch })),
      replicas: { routable: s.replicas.filter((r) => r.health === 'healthy' || r.health === 'draining').length, total: s.replicas.length, ids: s.replicas.map((r) => r.id) },
    })),
    envoys: {
      total: view.clients.length,
      byStatus,
      groups: [...groups.entries()].sort(([a], [b]) => compare(a, b)).map(([group, g]) => ({ group, envoys: g.envoys, byStatus: g.byStatus })),
    },
  };
}

/** Red first: shards without a routable master, then the rest, each by name. */
function orderShards(shards: ShardSummary[]): ShardSummary[] {
  return [...shards.filter((s) => s.masters.length === 0), ...shards.filter((s) => s.masters.length > 0)];
}

export function renderStatus(report: StatusReport, format: OutputFormat, compact = false): string {
  if (format === 'json' || format === 'yaml') return data(format, report, compact);
  const wide = format === 'wide';
  const lines: string[] = [];
  lines.push(`shardvoy ${report.server}: ${report.ready ? 'READY' : `NOT READY: ${report.readyReason}`}${wide ? ` (routing version ${report.version})` : ''}`);
  if (report.problems.length === 0) lines.push('problems: none');
  else {
    lines.push(`PROBLEMS (${report.problems.length}):`);
    for (const problem of report.problems) lines.push(`  ${problem}`);
  }
  const sp = report.selfPreservation;
  lines.push(`self-preservation: ${sp.engaged ? `ENGAGED (${sp.preservedNodes.length} node${sp.preservedNodes.length === 1 ? '' : 's'} kept past their lease)` : 'off'}`);
  const masterless = report.shards.filter((s) => s.masters.length === 0).map((s) => `${s.database}/${s.shard}`);
  lines.push(`shards without a master: ${masterless.length === 0 ? 'none' : `${masterless.length} (${masterless.join(', ')})`}`);
  const fenced = report.shards.flatMap((s) => s.fenced.map((f) => `${f.id} (${s.database}/${s.shard}, epoch ${f.epoch})`));
  lines.push(`fenced nodes: ${fenced.length === 0 ? 'none' : `${fenced.length}: ${fenced.join(', ')}`}`);
  const envoys = report.envoys;
  const counts = CONFIG_STATUSES.filter((s) => envoys.byStatus[s] > 0).map((s) => `${envoys.byStatus[s]} ${s}`);
  const lonely = envoys.groups.filter((g) => g.envoys === 0).map((g) => g.group);
  lines.push(
    `Envoys: ${envoys.total === 0 ? 'none connected' : `${envoys.total} connected, ${counts.join(', ')}`}${lonely.length > 0 ? `; no Envoy in ${lonely.join(', ')}` : ''}`,
  );
  lines.push('');

  const shardHeader = ['SHARD', 'MASTER', 'HEALTH', 'EPOCH', 'ADDRESS', 'REPLICAS', ...(wide ? ['AGE', 'REPLICA_IDS', 'FENCED'] : [])];
  const shardRows = report.shards.map((s) => {
    const masters = s.masters;
    return [
      `${s.database}/${s.shard}`,
      masters.length === 0 ? 'NONE' : masters.map((m) => m.id).join(','),
      masters.map((m) => m.health).join(','),
      masters.map((m) => String(m.epoch)).join(','),
      masters.map((m) => m.address).join(','),
      `${s.replicas.routable}/${s.replicas.total}`,
      ...(wide ? [masters.map((m) => age(m.lastHeartbeatAgeMs)).join(','), s.replicas.ids.join(','), s.fenced.map((f) => f.id).join(',')] : []),
    ];
  });
  lines.push(table(shardHeader, shardRows).trimEnd());
  lines.push('');
  const groupRows = envoys.groups.map((g) => [g.group, String(g.envoys), ...CONFIG_STATUSES.map((s) => String(g.byStatus[s]))]);
  lines.push(table(['GROUP', 'ENVOYS', ...CONFIG_STATUSES], groupRows).trimEnd());
  return `${lines.join('\n')}\n`;
}
