/**
 * `shardvoy check`: a probe or CI gate (contract 15). Exit 0 when healthy; 1 with the reasons when
 * the server is not ready, a shard has no routable master, self-preservation is engaged, or an
 * Envoy is in ERROR or STALE. An Envoy seen STALE is read again a second later, so a push
 * answered within that second is not a failure.
 */
import type { ApiClient } from './api-client.js';
import type { OutputFormat } from './flags.js';
import { data } from './render.js';
import { XdsClientsReply } from '../sources/http/response-schemas.js';
import { problems, readServerView, shardSummaries, type ServerView } from './server-view.js';

export interface CheckReport {
  readonly healthy: boolean;
  readonly problems: readonly string[];
}

export const STALE_RECHECK_MS = 1000;

export async function runCheck(api: ApiClient, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))): Promise<{ report: CheckReport; view: ServerView }> {
  let view = await readServerView(api);
  if (view.clients.some((c) => Object.values(c.types).some((t) => t.configStatus === 'STALE'))) {
    await sleep(STALE_RECHECK_MS);
    const again = await api.get('v1/xds/clients', XdsClientsReply);
    view = { ...view, clients: again.clients };
  }
  const found = problems(view);
  return { report: { healthy: found.length === 0, problems: found }, view };
}

export function renderCheck(report: CheckReport, view: ServerView, format: OutputFormat): string {
  if (format === 'json' || format === 'yaml') return data(format, report);
  if (!report.healthy) return `FAIL: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}\n${report.problems.map((p) => `  ${p}\n`).join('')}`;
  const shards = shardSummaries(view.clusters.clusters).length;
  const envoys = view.clients.length;
  return `OK: ready, ${shards} shard${shards === 1 ? '' : 's'} with a routable master, ${envoys} Envoy${envoys === 1 ? '' : 's'} connected, none rejecting or stale, self-preservation off\n`;
}
