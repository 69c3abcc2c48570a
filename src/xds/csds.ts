/**
 * Client Status Discovery Service: per connected client, every resource it should hold with its
 * version and the config status of its type (SYNCED, NOT_SENT, STALE, ERROR), the same facts
 * /v1/xds/clients shows. Answers envoy.service.status.v3.ClientStatusRequest.
 */
import { performance } from 'node:perf_hooks';
import protobuf from 'protobufjs';
import { envoyType } from '../envoy-api/protos.js';
import { ALL_TYPES } from '../snapshot/snapshot.js';
import type { StreamStatus } from './stream-base.js';

/**
 * An answer covers every stream with every resource it holds: megabytes and tens of
 * milliseconds with thousands of streams. It is encoded a client at a time, handing the event
 * loop back after each slice of this much work, so heartbeats and xDS updates go on meanwhile.
 */
export const CSDS_SLICE_MS = 4;
/** ClientStatusResponse.config is field 1, length-delimited: (1 << 3) | 2. */
const CONFIG_FIELD_TAG = 10;

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

function selected(clients: readonly ClientView[], request: ClientStatusRequest): readonly ClientView[] {
  // A client's status is read (built) only when a matcher needs its node id.
  if (request.node_matchers.length === 0) return clients;
  return clients.filter((view) => request.node_matchers.some((m) => matchesNodeId(m.node_id, view.status.nodeId ?? '')));
}

/** How an encoding takes turns with the rest of the process: a clock in ms, and a wait for the next turn. */
export interface Slicing {
  readonly now: () => number;
  readonly pause: () => Promise<void>;
}

/** Encodings waiting for a turn: one slice of one of them runs per turn of the event loop, whatever their number. */
const waiting: Array<() => void> = [];
let turnScheduled = false;

function nextTurn(): void {
  if (turnScheduled || waiting.length === 0) return;
  turnScheduled = true;
  setImmediate(() => {
    turnScheduled = false;
    waiting.shift()!();
    nextTurn();
  });
}

const EVENT_LOOP_TURNS: Slicing = {
  now: () => performance.now(),
  pause: () =>
    new Promise((resolve) => {
      waiting.push(resolve);
      nextTurn();
    }),
};

/**
 * The encoded ClientStatusResponse, built a client at a time: after each CSDS_SLICE_MS of work it
 * waits for a turn of its own (answers being built at once take turns: one slice a turn). Each
 * client's part is read when it is encoded, so a client that leaves meanwhile is still listed
 * as it was.
 */
export async function encodeClientStatus(clients: readonly ClientView[], request: ClientStatusRequest, slicing: Slicing = EVENT_LOOP_TURNS): Promise<Buffer> {
  const type = envoyType('envoy.service.status.v3.ClientConfig');
  const writer = protobuf.Writer.create();
  let sliceStart = slicing.now();
  for (const view of selected(clients, request)) {
    type.encode(type.fromObject(clientConfig(view, request)), writer.uint32(CONFIG_FIELD_TAG).fork()).ldelim();
    if (slicing.now() - sliceStart >= CSDS_SLICE_MS) {
      await slicing.pause();
      sliceStart = slicing.now();
    }
  }
  const bytes = writer.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One client's part of the answer: an envoy.service.status.v3.ClientConfig, as an object. */
export function clientConfig({ status, held }: ClientView, request: ClientStatusRequest) {
  return {
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
  };
}

function timestamp(iso: string): { seconds: number; nanos: number } {
  const ms = Date.parse(iso);
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
