/**
 * `shardvoy drain ID [--reason …]` and `shardvoy undrain ID`: Consul's `maint`
 * (PUT / DELETE /v1/nodes/:id/maintenance). `shardvoy forget ID`: DELETE /v1/nodes/:id.
 * Each prints one sentence (table, wide) or the API's answer (json, yaml).
 */
import type { Static } from '@sinclair/typebox';
import { ForgottenReply, MaintenanceOffReply, MaintenanceOnReply } from '../sources/http/response-schemas.js';
import type { ApiClient } from './api-client.js';
import type { OutputFormat } from './flags.js';
import { data } from './render.js';

export type DrainAnswer = Static<typeof MaintenanceOnReply>;
export type UndrainAnswer = Static<typeof MaintenanceOffReply>;
export type ForgetAnswer = Static<typeof ForgottenReply>;

const nodePath = (id: string) => `v1/nodes/${encodeURIComponent(id)}`;

export function drain(api: ApiClient, id: string, reason: string | undefined): Promise<DrainAnswer> {
  return api.send('PUT', `${nodePath(id)}/maintenance`, MaintenanceOnReply, reason === undefined ? {} : { reason });
}

export function undrain(api: ApiClient, id: string): Promise<UndrainAnswer> {
  return api.send('DELETE', `${nodePath(id)}/maintenance`, MaintenanceOffReply);
}

export function forget(api: ApiClient, id: string): Promise<ForgetAnswer> {
  return api.send('DELETE', nodePath(id), ForgottenReply);
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
