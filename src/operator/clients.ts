/**
 * `shardvoy clients`: every open xDS stream (GET /v1/xds/clients), Istio's `proxy-status`: per
 * Envoy its config status per type (cds, eds, lds, rds), by group, node id and stream.
 */
import { XdsClientsReply } from '../sources/http/response-schemas.js';
import type { ApiClient } from './api-client.js';
import type { OutputFormat } from './flags.js';
import { ageOf, compare, data, table, truncate } from './render.js';
import { clientName, overallStatus, sortClients, type XdsClient } from './server-view.js';

const TYPES = ['cds', 'eds', 'lds', 'rds'] as const;

export interface ClientsReport {
  readonly clients: readonly XdsClient[];
}

export async function readClients(api: ApiClient): Promise<ClientsReport> {
  const answer = await api.get('v1/xds/clients', XdsClientsReply);
  return { clients: sortClients(answer.clients) };
}

export function renderClients(report: ClientsReport, format: OutputFormat, nowMs: number, compact = false): string {
  if (format === 'json' || format === 'yaml') return data(format, report, compact);
  const wide = format === 'wide';
  const header = ['NODE', 'GROUP', 'PROTOCOL', 'STATUS', ...TYPES.map((t) => t.toUpperCase()), 'PEER', 'AGE', ...(wide ? ['STREAM', 'VERSIONS', 'NACK'] : [])];
  const rows = report.clients.map((client) => {
    const types = Object.keys(client.types).sort(compare);
    const nacks = types.flatMap((t) => {
      const nack = client.types[t]!.lastNack;
      return nack && client.types[t]!.configStatus === 'ERROR' ? [`${t}@${nack.version}: ${nack.message}`] : [];
    });
    return [
      clientName(client),
      client.group ?? '-',
      client.protocol,
      overallStatus(client),
      ...TYPES.map((t) => client.types[t]?.configStatus ?? '-'),
      client.peer,
      ageOf(client.connectedSince, nowMs),
      ...(wide
        ? [
            String(client.streamId),
            types.map((t) => `${t}=${client.types[t]!.lastAckedVersion ?? '-'}/${client.types[t]!.lastSentVersion ?? '-'}`).join(','),
            truncate(nacks.join('; '), 200),
          ]
        : []),
    ];
  });
  return table(header, rows);
}
