/**
 * One state-of-the-world xDS stream (ADS, or a per-type service when `fixedType` is set).
 * Transport-free: it receives decoded requests and snapshots, and answers through `send`, so the
 * protocol rules can be followed (and tested) apart from gRPC.
 *
 * Rules kept here, from Envoy's xDS protocol:
 * - a response answers a request: after sending, a type waits for the client's next request
 *   (its ACK or NACK) before anything else of that type is sent;
 * - a request whose nonce is not the latest one sent for its type is stale and ignored;
 * - a NACKed response is never sent again: only a changed snapshot is;
 * - a client reconnecting with the version it holds is not sent the same content again;
 * - after a CDS response, EDS is answered afresh so updated clusters can finish warming;
 * - on a snapshot change, types are answered in make-before-break order: CDS, EDS, LDS, RDS.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { CLUSTER, ENDPOINT, PUSH_ORDER, SHORT_NAMES, isResourceTypeUrl, type ResourceTypeUrl } from '../envoy-api/type-urls.js';
import type { Clock } from '../registry/clock.js';
import type { SnapshotCache } from '../snapshot/cache.js';
import { versionOf, type Snapshot } from '../snapshot/snapshot.js';
import type { DiscoveryRequest, DiscoveryResponse, NodeInfo } from './messages.js';
import { groupOfNode, unknownGroupMessage } from './node-group.js';
import { nextSubscription, select, type Subscription } from './subscription.js';

export interface TypeStatus {
  readonly subscribed: '*' | readonly string[];
  readonly lastSentVersion: string | undefined;
  readonly lastSentNonce: string | undefined;
  readonly lastSentAt: string | undefined;
  readonly lastAckedVersion: string | undefined;
  readonly lastNack: { readonly version: string; readonly message: string; readonly at: string } | undefined;
}

export interface StreamStatus {
  readonly streamId: number;
  readonly nodeId: string | undefined;
  readonly group: string | undefined;
  readonly peer: string;
  readonly connectedSince: string;
  readonly types: Readonly<Record<string, TypeStatus>>;
}

interface TypeState {
  subscription: Subscription;
  /** The client has a request outstanding that no response has answered yet. */
  pending: boolean;
  /** Answer the next request even if the content is unchanged (EDS after a CDS response). */
  forceFresh: boolean;
  sentVersion: string | undefined;
  nonce: string | undefined;
  sentAtMs: number | undefined;
  ackedVersion: string | undefined;
  nack: { version: string; message: string; atMs: number } | undefined;
}

export interface SotwStreamOptions {
  readonly streamId: number;
  readonly peer: string;
  readonly cache: SnapshotCache;
  readonly groups: () => readonly string[];
  readonly clock: Clock;
  readonly logger: Logger;
  readonly controlPlaneId: string;
  /** Per-type services serve one type; requests may leave type_url empty. */
  readonly fixedType?: ResourceTypeUrl;
  readonly send: (response: DiscoveryResponse) => void;
  readonly fail: (code: GrpcStatus, message: string) => void;
}

export class SotwStream {
  private node: NodeInfo | undefined;
  private group: string | undefined;
  private readonly types = new Map<ResourceTypeUrl, TypeState>();
  private readonly connectedAtMs: number;
  private nonceCounter = 0;
  private stopWatching: (() => void) | undefined;
  private closed = false;

  constructor(private readonly options: SotwStreamOptions) {
    this.connectedAtMs = options.clock.now();
  }

  onRequest(request: DiscoveryRequest): void {
    if (this.closed) return;
    if (!this.group && !this.bindGroup(request.node)) return;
    const typeUrl = this.typeOf(request);
    if (!typeUrl) return;

    const previous = this.types.get(typeUrl);
    if (previous?.nonce !== undefined && request.response_nonce !== previous.nonce) {
      this.options.logger.debug({ streamId: this.options.streamId, type: SHORT_NAMES[typeUrl], nonce: request.response_nonce }, 'stale nonce ignored');
      return;
    }
    const state = previous ?? this.newTypeState(request.version_info);
    if (request.response_nonce !== '' && request.response_nonce === state.nonce) {
      if (request.error_detail) {
        state.nack = { version: state.sentVersion ?? '', message: request.error_detail.message, atMs: this.options.clock.now() };
        this.options.logger.warn(
          { streamId: this.options.streamId, group: this.group, type: SHORT_NAMES[typeUrl], version: state.sentVersion, error: request.error_detail.message },
          'xds response rejected by client (NACK)',
        );
      } else {
        state.ackedVersion = request.version_info;
      }
    }
    state.subscription = nextSubscription(typeUrl, previous?.subscription, request.resource_names);
    state.pending = true;
    this.types.set(typeUrl, state);
    const snapshot = this.group ? this.options.cache.get(this.group) : undefined;
    if (snapshot) this.answer(typeUrl, snapshot);
  }

  onSnapshot(snapshot: Snapshot): void {
    if (this.closed) return;
    for (const typeUrl of PUSH_ORDER) this.answer(typeUrl, snapshot);
  }

  close(): void {
    this.closed = true;
    this.stopWatching?.();
  }

  status(): StreamStatus {
    const types: Record<string, TypeStatus> = {};
    for (const [typeUrl, state] of this.types) {
      types[typeUrl] = {
        subscribed: state.subscription.wildcard ? '*' : [...state.subscription.names].sort(),
        lastSentVersion: state.sentVersion,
        lastSentNonce: state.nonce,
        lastSentAt: state.sentAtMs === undefined ? undefined : new Date(state.sentAtMs).toISOString(),
        lastAckedVersion: state.ackedVersion,
        lastNack: state.nack && { version: state.nack.version, message: state.nack.message, at: new Date(state.nack.atMs).toISOString() },
      };
    }
    return {
      streamId: this.options.streamId,
      nodeId: this.node?.id,
      group: this.group,
      peer: this.options.peer,
      connectedSince: new Date(this.connectedAtMs).toISOString(),
      types,
    };
  }

  private bindGroup(node: NodeInfo | null): boolean {
    const groups = this.options.groups();
    const group = groupOfNode(node, groups);
    if (!group) {
      this.options.fail(GrpcStatus.INVALID_ARGUMENT, unknownGroupMessage(node, groups));
      this.close();
      return false;
    }
    this.node = node ?? undefined;
    this.group = group;
    this.stopWatching = this.options.cache.watch(group, (snapshot) => this.onSnapshot(snapshot));
    return true;
  }

  private typeOf(request: DiscoveryRequest): ResourceTypeUrl | undefined {
    const fixed = this.options.fixedType;
    if (fixed) {
      if (request.type_url === '' || request.type_url === fixed) return fixed;
      this.options.fail(GrpcStatus.INVALID_ARGUMENT, `type_url "${request.type_url}" on a stream for ${fixed}`);
      this.close();
      return undefined;
    }
    if (isResourceTypeUrl(request.type_url)) return request.type_url;
    this.options.logger.debug({ streamId: this.options.streamId, typeUrl: request.type_url }, 'request for a type shardvoy does not serve');
    return undefined;
  }

  private newTypeState(heldVersion: string): TypeState {
    return {
      subscription: { wildcard: false, names: new Set() },
      pending: false,
      forceFresh: false,
      // A reconnecting client states the version it holds; if it is current, there is nothing to send.
      sentVersion: heldVersion === '' ? undefined : heldVersion,
      nonce: undefined,
      sentAtMs: undefined,
      ackedVersion: heldVersion === '' ? undefined : heldVersion,
      nack: undefined,
    };
  }

  private answer(typeUrl: ResourceTypeUrl, snapshot: Snapshot): void {
    const state = this.types.get(typeUrl);
    if (!state?.pending) return;
    const resources = select(snapshot.sets[typeUrl], state.subscription);
    const version = state.subscription.wildcard ? snapshot.sets[typeUrl].version : versionOf(resources);
    if (version === state.sentVersion && !state.forceFresh) return;

    const nonce = String(++this.nonceCounter);
    state.pending = false;
    state.forceFresh = false;
    state.sentVersion = version;
    state.nonce = nonce;
    state.sentAtMs = this.options.clock.now();
    this.options.send({
      version_info: version,
      resources: resources.map((resource) => ({ type_url: typeUrl, value: resource.value })),
      type_url: typeUrl,
      nonce,
      control_plane: { identifier: this.options.controlPlaneId },
    });
    if (typeUrl === CLUSTER) {
      const endpoints = this.types.get(ENDPOINT);
      if (endpoints) {
        endpoints.forceFresh = true;
        this.answer(ENDPOINT, snapshot);
      }
    }
  }
}
