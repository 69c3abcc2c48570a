/**
 * Client Status Discovery Service: per connected client, every resource it should hold with its
 * version and the config status of its type (SYNCED, NOT_SENT, STALE, ERROR), the same facts
 * /v1/xds/clients shows. Answers envoy.service.status.v3.ClientStatusRequest.
 */
import { ALL_TYPES } from '../snapshot/snapshot.js';
import type { StreamStatus } from './stream-base.js';

export interface ClientView {
  readonly status: StreamStatus;
  readonly held: (typeUrl: (typeof ALL_TYPES)[number]) => ReadonlyArray<{ name: string; version: string; value: Uint8Array }>;
}

interface StringMatcher {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  ignore_case?: boolean;
  match_pattern?: string;
}

export interface ClientStatusRequest {
  readonly node_matchers: ReadonlyArray<{ node_id: StringMatcher | null }>;
  readonly exclude_resource_contents: boolean;
}

/** Matches a node id against an Envoy StringMatcher (exact, prefix, suffix, contains). */
export function matchesNodeId(matcher: StringMatcher | null, id: string): boolean {
  if (!matcher) return true;
  const fold = (s: string) => (matcher.ignore_case ? s.toLowerCase() : s);
  const subject = fold(id);
  switch (matcher.match_pattern) {
    case 'exact':
      return subject === fold(matcher.exact ?? '');
    case 'prefix':
      return subject.startsWith(fold(matcher.prefix ?? ''));
    case 'suffix':
      return subject.endsWith(fold(matcher.suffix ?? ''));
    case 'contains':
      return subject.includes(fold(matcher.contains ?? ''));
    default:
      return false; // regexes are not supported: match nothing rather than everything
  }
}

export function clientStatusResponse(clients: readonly ClientView[], request: ClientStatusRequest) {
  const selected = clients.filter(({ status }) =>
    request.node_matchers.length === 0 || request.node_matchers.some((m) => matchesNodeId(m.node_id, status.nodeId ?? '')),
  );
  return {
    config: selected.map(({ status, held }) => ({
      node: { id: status.nodeId ?? '', cluster: status.group ?? '' },
      client_scope: `stream-${status.streamId}`,
      generic_xds_configs: ALL_TYPES.flatMap((typeUrl) => {
        const type = status.types[typeUrl];
        if (!type) return [];
        const common = {
          type_url: typeUrl,
          config_status: type.configStatus,
          client_status: type.configStatus === 'ERROR' ? 'NACKED' : type.lastAckedVersion ? 'ACKED' : 'REQUESTED',
          ...(type.lastSentAt ? { last_updated: timestamp(type.lastSentAt) } : {}),
          ...(type.configStatus === 'ERROR' && type.lastNack
            ? { error_state: { details: type.lastNack.message, version_info: type.lastNack.version, last_update_attempt: timestamp(type.lastNack.at) } }
            : {}),
        };
        const resources = held(typeUrl);
        if (resources.length === 0) return [{ ...common, name: '', version_info: type.lastSentVersion ?? '' }];
        return resources.map((r) => ({
          ...common,
          name: r.name,
          version_info: r.version,
          ...(request.exclude_resource_contents ? {} : { xds_config: { type_url: typeUrl, value: r.value } }),
        }));
      }),
    })),
  };
}

function timestamp(iso: string): { seconds: number; nanos: number } {
  const ms = Date.parse(iso);
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
