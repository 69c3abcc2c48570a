/**
 * `shardvoy drain ID [--reason …]` and `shardvoy undrain ID`: Consul's `maint`
 * (PUT / DELETE /v1/nodes/:id/maintenance). `shardvoy forget ID`: DELETE /v1/nodes/:id.
 * Each prints one sentence (table, wide) or the API's answer (json, yaml).
 */
import type { ApiClient } from './api-client.js';
import type { OutputFormat } from './flags.js';
import { data } from './render.js';
import type { NodeJson } from './server-view.js';

export interface DrainAnswer {
  readonly id: string;
  readonly maintenance: { readonly reason: string; readonly since: string } | null;
}
export interface UndrainAnswer {
  readonly id: string;
  readonly maintenance: null;
  readonly wasInMaintenance: boolean;
}
export interface ForgetAnswer {
  readonly forgotten: NodeJson;
}

const nodePath = (id: string) => `v1/nodes/${encodeURIComponent(id)}`;

export function drain(api: ApiClient, id: string, reason: string | undefined): Promise<DrainAnswer> {
  return api.send<DrainAnswer>('PUT', `${nodePath(id)}/maintenance`, reason === undefined ? {} : { reason });
}

export function undrain(api: ApiClient, id: string): Promise<UndrainAnswer> {
  return api.send<UndrainAnswer>('DELETE', `${nodePath(id)}/maintenance`);
}

export function forget(api: ApiClient, id: string): Promise<ForgetAnswer> {
  return api.send<ForgetAnswer>('DELETE', nodePath(id));
}

export function renderDrain(answer: DrainAnswer, format: OutputFormat): string {
  if (format === 'json' || format === 'yaml') return data(format, answer);
  const m = answer.maintenance;
  return `node ${answer.id} in maintenance${m ? ` (${m.reason})` : ''}: Envoy gets it as DRAINING until shardvoy undrain ${answer.id}\n`;
}

export function renderUndrain(answer: UndrainAnswer, format: OutputFormat): string {
  if (format === 'json' || format === 'yaml') return data(format, answer);
  return answer.wasInMaintenance
    ? `node ${answer.id} out of maintenance: its heartbeats decide its status again\n`
    : `node ${answer.id} was not in maintenance; nothing changed\n`;
}

export function renderForget(answer: ForgetAnswer, format: OutputFormat): string {
  if (format === 'json' || format === 'yaml') return data(format, answer);
  const n = answer.forgotten;
  return `node ${n.id} forgotten (${n.database}/${n.shard} ${n.role}, epoch ${n.epoch}, ${n.address}); its next heartbeat registers it again\n`;
}
