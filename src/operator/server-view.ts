/**
 * What the operator commands read from the HTTP API, typed by the server's own types (the route
 * handlers return them), and what status and check derive from it: per shard its routable
 * masters, per Envoy its worst config status, and the problems check fails on.
 */
import type { Static } from '@sinclair/typebox';
import { ClustersReply, XdsClientsReply, type EventsReply, type NodesReply } from '../sources/http/response-schemas.js';
import type { ClusterView, EndpointView } from '../topology/cluster-view.js';
import type { ConfigStatus } from '../xds/stream-base.js';
import { ApiError, type ApiClient } from './api-client.js';
import { compare } from './render.js';

// The answers as the API's response schemas (response-schemas.ts) type them.
export type NodesAnswer = Static<typeof NodesReply>;
export type NodeJson = NodesAnswer['nodes'][number];
export type ClustersAnswer = Static<typeof ClustersReply>;
export type ClientsAnswer = Static<typeof XdsClientsReply>;
export type XdsClient = ClientsAnswer['clients'][number];
export type EventsAnswer = Static<typeof EventsReply>;
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

export interface ServerView {
  readonly readiness: Readiness;
  readonly clusters: ClustersAnswer;
  readonly clients: readonly XdsClient[];
  /** From /metrics: self-preservation's gauge, and every configured group (xDS streams are counted per group). */
  readonly selfPreservation: boolean;
  readonly groups: readonly string[];
}

export async function readServerView(api: ApiClient): Promise<ServerView> {
  const [readiness, clusters, clients, metrics] = await Promise.all([
    readReadiness(api),
    api.get('clusters', ClustersReply),
    api.get('v1/xds/clients', XdsClientsReply),
    readMetrics(api),
  ]);
  const { selfPreservation, groups } = fromMetrics(metrics);
  return { readiness, clusters, clients: clients.clients, selfPreservation, groups };
}

/** /metrics, or nothing from a server that does not serve it (self-preservation then shows in /clusters' `preserved` alone). */
async function readMetrics(api: ApiClient): Promise<string> {
  try {
    return await api.getText('metrics');
  } catch (error) {
    if (error instanceof ApiError && error.statusCode === 404) return '';
    throw error;
  }
}

async function readReadiness(api: ApiClient): Promise<Readiness> {
  const answer = await api.getAnswer('readyz', [503]);
  if (answer.status === 200) return { ready: true };
  const body = answer.body as { message?: unknown };
  return { ready: false, reason: typeof body?.message === 'string' ? body.message : 'not ready (no reason given)' };
}

/** The two things only /metrics says: whether self-preservation holds, and the configured groups. */
export function fromMetrics(text: string): { selfPreservation: boolean; groups: string[] } {
  let selfPreservation = false;
  const groups = new Set<string>();
  for (const line of text.split('\n')) {
    const engaged = /^shardvoy_self_preservation_engaged(?:\{\})? (\S+)$/.exec(line);
    if (engaged) selfPreservation = Number(engaged[1]) > 0;
    const streams = /^shardvoy_xds_streams\{(.*)\} \S+$/.exec(line);
    const group = streams && /(?:^|,)group="((?:[^"\\]|\\.)*)"/.exec(streams[1]!)?.[1];
    if (group) groups.add(group.replace(/\\(.)/g, '$1'));
  }
  return { selfPreservation, groups: [...groups].sort(compare) };
}

export interface ShardSummary {
  readonly database: string;
  readonly shard: string;
  /** Routable masters (healthy or draining), as the metric shardvoy_shards_without_master counts them. */
  readonly masters: readonly EndpointView[];
  /** Every master endpoint, routable or not. */
  readonly allMasters: readonly EndpointView[];
  readonly replicas: readonly EndpointView[];
  readonly fenced: readonly EndpointView[];
}

export const isRoutableHealth = (e: EndpointView) => e.health === 'healthy' || e.health === 'draining';

/** One entry per (database, shard) /clusters names, sorted; endpoints by id. */
export function shardSummaries(clusters: readonly ClusterView[]): ShardSummary[] {
  const byShard = new Map<string, { database: string; shard: string; masters: Map<string, EndpointView>; replicas: Map<string, EndpointView> }>();
  for (const cluster of clusters) {
    const key = `${cluster.database}/${cluster.shard}`;
    let entry = byShard.get(key);
    if (!entry) byShard.set(key, (entry = { database: cluster.database, shard: cluster.shard, masters: new Map(), replicas: new Map() }));
    // `<shard>-replicas` and `<shard>-slaves` hold the same nodes: one entry per node.
    for (const endpoint of cluster.endpoints) (cluster.role === 'master' ? entry.masters : entry.replicas).set(endpoint.id, endpoint);
  }
  const byId = (a: EndpointView, b: EndpointView) => compare(a.id, b.id);
  return [...byShard.values()]
    .sort((a, b) => compare(a.database, b.database) || compare(a.shard, b.shard))
    .map((entry) => {
      const allMasters = [...entry.masters.values()].sort(byId);
      const replicas = [...entry.replicas.values()].sort(byId);
      return {
        database: entry.database,
        shard: entry.shard,
        masters: allMasters.filter(isRoutableHealth),
        allMasters,
        replicas,
        fenced: [...allMasters, ...replicas].filter((e) => e.health === 'fenced'),
      };
    });
}

const SEVERITY: Readonly<Record<ConfigStatus, number>> = { ERROR: 3, STALE: 2, NOT_SENT: 1, SYNCED: 0 };
export const CONFIG_STATUSES: readonly ConfigStatus[] = ['SYNCED', 'STALE', 'NOT_SENT', 'ERROR'];

/** A stream's worst config status over its types (NOT_SENT when it has asked for nothing yet). */
export function overallStatus(client: XdsClient): ConfigStatus {
  let worst: ConfigStatus | undefined;
  for (const type of Object.values(client.types)) if (worst === undefined || SEVERITY[type.configStatus] > SEVERITY[worst]) worst = type.configStatus;
  return worst ?? 'NOT_SENT';
}

export function clientName(client: XdsClient): string {
  return client.nodeId ?? `stream ${client.streamId}`;
}

export function sortClients(clients: readonly XdsClient[]): XdsClient[] {
  return [...clients].sort((a, b) => compare(a.group ?? '', b.group ?? '') || compare(a.nodeId ?? '', b.nodeId ?? '') || a.streamId - b.streamId);
}

/** The ids of nodes self-preservation keeps routable after their lease ran out, sorted. */
export function preservedNodes(clusters: readonly ClusterView[]): string[] {
  return [...new Set(clusters.flatMap((c) => c.endpoints.filter((e) => e.preserved).map((e) => e.id)))].sort(compare);
}

/**
 * What `check` fails on (contract 15), in a fixed order: not ready, each shard without a
 * routable master, self-preservation, each Envoy type in ERROR or STALE.
 */
export function problems(view: ServerView): string[] {
  const found: string[] = [];
  if (!view.readiness.ready) found.push(`not ready: ${view.readiness.reason}`);
  for (const shard of shardSummaries(view.clusters.clusters)) {
    if (shard.masters.length > 0) continue;
    const known = shard.allMasters.map((m) => `${m.id} ${m.health}`);
    found.push(`shard ${shard.database}/${shard.shard}: no routable master (${known.length === 0 ? 'no master registered' : `masters: ${known.join(', ')}`})`);
  }
  const preserved = preservedNodes(view.clusters.clusters);
  if (view.selfPreservation || preserved.length > 0) {
    found.push(
      `self-preservation engaged: expiry is stopped${preserved.length > 0 ? `, ${preserved.length} node${preserved.length === 1 ? '' : 's'} kept routable after the lease ran out (${preserved.join(', ')})` : ''}; POST /v1/registry/resume-expiry ends it`,
    );
  }
  for (const client of sortClients(view.clients)) {
    for (const [type, status] of Object.entries(client.types).sort(([a], [b]) => compare(a, b))) {
      const who = `Envoy ${clientName(client)} (group ${client.group ?? '-'}, ${client.peer})`;
      if (status.configStatus === 'ERROR') {
        found.push(`${who}: ${type} ERROR: rejected version ${status.lastNack?.version ?? '?'}: ${oneLine(status.lastNack?.message ?? '(no message)')}`);
      } else if (status.configStatus === 'STALE') {
        found.push(`${who}: ${type} STALE: sent ${status.lastSentVersion ?? 'nothing'}, ACKed ${status.lastAckedVersion ?? 'nothing'}`);
      }
    }
  }
  return found;
}

function oneLine(text: string): string {
  const line = text.replace(/\s*\n\s*/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
