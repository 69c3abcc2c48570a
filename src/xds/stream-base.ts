/**
 * What every xDS stream shares, state-of-the-world or delta: the group its node belongs to, the
 * per-stream request budget, nonces, ACK/NACK bookkeeping, make-before-break ordering and the
 * status operators and CSDS read. Transport-free: requests and snapshots come in, responses go
 * out through `send`, so the protocol rules can be followed (and tested) apart from gRPC.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { CLUSTER, ENDPOINT, LISTENER, PUSH_ORDER, SHORT_NAMES, isResourceTypeUrl, type ResourceTypeUrl } from '../envoy-api/type-urls.js';
import type { Clock } from '../registry/clock.js';
import type { SnapshotCache } from '../snapshot/cache.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import type { ErrorDetail, NodeInfo } from './messages.js';
import type { StreamReplyEvent, XdsObserver } from './observer.js';
import { causeOnClientHost } from './nack-cause.js';
import { NackRetry, type RetryTimers } from './nack-retry.js';
import { groupOfNode, unknownGroupMessage } from './node-group.js';
import type { Subscription } from './subscription.js';
import { TokenBucket } from './token-bucket.js';
import { truncateForLog, type RepeatLimiter } from '../util/log-limits.js';
import { WarmingClusters } from './warming-clusters.js';

/** CSDS's ClientConfigStatus, per resource type of one stream. */
export type ConfigStatus = 'SYNCED' | 'NOT_SENT' | 'STALE' | 'ERROR';

export interface TypeStatus {
  readonly subscribed: '*' | readonly string[];
  readonly configStatus: ConfigStatus;
  readonly lastSentVersion: string | undefined;
  readonly lastSentNonce: string | undefined;
  readonly lastSentAt: string | undefined;
  readonly lastAckedVersion: string | undefined;
  /** When the oldest response of this type the client has not answered (ACK or NACK) went out; undefined once it answered the last. */
  readonly awaitingReplySince: string | undefined;
  readonly lastNack: { readonly version: string; readonly message: string; readonly at: string } | undefined;
  /** Resends of a version NACKed for a cause on the client host, since the client last accepted one. */
  readonly nackRetries: number;
  /** When the next of them is due, if one is. */
  readonly nextRetryAt: string | undefined;
}

export interface StreamStatus {
  readonly streamId: number;
  readonly protocol: 'sotw' | 'delta';
  readonly nodeId: string | undefined;
  readonly group: string | undefined;
  readonly peer: string;
  readonly connectedSince: string;
  readonly types: Readonly<Record<string, TypeStatus>>;
}

export interface TypeStateBase {
  subscription: Subscription;
  /** The client has a request outstanding that no response has answered: a response may be sent. */
  pending: boolean;
  nonce: string | undefined;
  /** The last response has not been ACKed or NACKed yet. */
  awaitingReply: boolean;
  /** When the first response sent since the client's last reply went out (it may be waiting behind newer ones). */
  awaitingSinceMs: number | undefined;
  sentVersion: string | undefined;
  sentAtMs: number | undefined;
  ackedVersion: string | undefined;
  nack: { version: string; nonce: string; message: string; atMs: number } | undefined;
}

export interface StreamOptions<Response> {
  readonly streamId: number;
  readonly peer: string;
  readonly cache: SnapshotCache;
  readonly groups: () => readonly string[];
  readonly clock: Clock;
  /** Timers of the NACK retries, on the same time as `clock`. */
  readonly timers: RetryTimers;
  /** The longest wait between two retries of a NACKed version, read at each NACK (hot reload). */
  readonly nackRetryMaxSeconds: () => number;
  readonly logger: Logger;
  readonly controlPlaneId: string;
  /** Told of each response sent and each ACK or NACK (metrics, events); absent: nobody listens. */
  readonly observer?: XdsObserver | undefined;
  /** Per-type services serve one type; their requests may leave type_url empty. */
  readonly fixedType?: ResourceTypeUrl | undefined;
  readonly rateLimit: { readonly perSecond: number; readonly burst: number };
  /** Sends an already-encoded response (see response-encoding.ts). */
  readonly send: (response: Buffer) => void;
  /**
   * False while the transport still holds an unwritten response: nothing more is built until it
   * drains (`onWritable`), so a client that does not read gets the latest state, not a queue.
   */
  readonly writable: () => boolean;
  /** The most names the stream may subscribe to per type (xds.maxSubscribedNames), read per request. */
  readonly maxSubscribedNames: () => number;
  /** The peer authenticated (a verified client certificate): only then does a refusal list the groups. */
  readonly authenticated: boolean;
  readonly fail: (code: GrpcStatus, message: string) => void;
  /** Rate-limits the warnings a client can repeat (NACKs). */
  readonly logLimiter: RepeatLimiter;
}

/** A NACK's message as kept (for /v1/xds/clients and CSDS) and as logged. */
const MAX_NACK_MESSAGE = 16_384;
const MAX_LOGGED_NACK = 1_024;

interface RequestBase {
  readonly node: NodeInfo | null;
  readonly type_url: string;
  readonly response_nonce: string;
  readonly error_detail: ErrorDetail | null;
}

export type Acknowledgement = 'ack' | 'nack' | 'stale' | 'none';

export abstract class XdsStream<Request extends RequestBase, Response, State extends TypeStateBase> {
  abstract readonly protocol: 'sotw' | 'delta';
  protected readonly types = new Map<ResourceTypeUrl, State>();
  protected node: NodeInfo | undefined;
  protected group: string | undefined;
  protected readonly warming = new WarmingClusters();
  private readonly retries = new Map<ResourceTypeUrl, NackRetry>();
  private readonly connectedAtMs: number;
  private readonly budget: TokenBucket;
  private nonceCounter = 0;
  private stopWatching: (() => void) | undefined;
  private closed = false;
  /** Where the last pass stopped because the transport was busy: it goes on from there once written. */
  private blockedAt: number | undefined;

  constructor(protected readonly options: StreamOptions<Response>) {
    this.connectedAtMs = options.clock.now();
    this.budget = new TokenBucket(options.rateLimit.perSecond, options.rateLimit.burst, this.connectedAtMs);
  }

  onRequest(request: Request): void {
    if (this.closed) return;
    if (!this.budget.take(this.options.clock.now())) {
      // A looping client must not starve the others of the event loop.
      this.refuse(GrpcStatus.RESOURCE_EXHAUSTED, `more than ${this.options.rateLimit.perSecond} requests per second (burst ${this.options.rateLimit.burst}) on one stream`);
      return;
    }
    if (!this.group && !this.bindGroup(request.node)) return;
    const typeUrl = this.typeOf(request);
    if (!typeUrl) return;
    this.handle(typeUrl, request);
    const subscribed = this.types.get(typeUrl)?.subscription.names.size ?? 0;
    const max = this.options.maxSubscribedNames();
    if (subscribed > max) {
      this.refuse(GrpcStatus.RESOURCE_EXHAUSTED, `${subscribed} ${SHORT_NAMES[typeUrl]} names subscribed on one stream, over the limit xds.maxSubscribedNames (${max})`);
      return;
    }
    this.flush();
  }

  onSnapshot(): void {
    if (!this.closed) this.flush();
  }

  /** The transport took the last response: send what is owed now, from the latest snapshot. */
  onWritable(): void {
    if (!this.closed && this.blockedAt !== undefined) this.flush(this.blockedAt);
  }

  /** Closes the stream with a status (a request over a limit, say). */
  abort(code: GrpcStatus, message: string): void {
    if (!this.closed) this.refuse(code, message);
  }

  close(): void {
    this.closed = true;
    this.stopWatching?.();
    for (const retry of this.retries.values()) retry.cancel();
  }

  status(): StreamStatus {
    const snapshot = this.snapshot();
    const types: Record<string, TypeStatus> = {};
    for (const [typeUrl, state] of this.types) {
      types[typeUrl] = {
        subscribed: state.subscription.wildcard ? '*' : [...state.subscription.names].sort(),
        configStatus: this.configStatus(typeUrl, state, snapshot),
        lastSentVersion: state.sentVersion,
        lastSentNonce: state.nonce,
        lastSentAt: isoTime(state.sentAtMs),
        lastAckedVersion: state.ackedVersion,
        // Envoy does not answer a response to a type it no longer asks for anything of (an EDS
        // request naming no cluster once its last cluster went): nothing is awaited there.
        awaitingReplySince: state.awaitingReply && (state.subscription.wildcard || state.subscription.names.size > 0) ? isoTime(state.awaitingSinceMs) : undefined,
        lastNack: state.nack && { version: state.nack.version, message: state.nack.message, at: new Date(state.nack.atMs).toISOString() },
        nackRetries: this.retries.get(typeUrl)?.sent ?? 0,
        nextRetryAt: isoTime(this.retries.get(typeUrl)?.nextAtMs),
      };
    }
    return {
      streamId: this.options.streamId,
      protocol: this.protocol,
      nodeId: this.node?.id,
      group: this.group,
      peer: this.options.peer,
      connectedSince: new Date(this.connectedAtMs).toISOString(),
      types,
    };
  }

  /** What the client of this stream should hold now, per type, for CSDS. */
  abstract heldResources(typeUrl: ResourceTypeUrl): ReadonlyArray<{ name: string; version: string; value: Uint8Array }>;

  /** Applies a request of one type to its state (subscription, ACK or NACK). */
  protected abstract handle(typeUrl: ResourceTypeUrl, request: Request): void;
  /** True when the client should be sent something of this type. */
  protected abstract hasChange(typeUrl: ResourceTypeUrl, state: State, snapshot: Snapshot): boolean;
  protected abstract respond(typeUrl: ResourceTypeUrl, state: State, snapshot: Snapshot): void;

  protected snapshot(): Snapshot | undefined {
    return this.group === undefined ? undefined : this.options.cache.get(this.group);
  }

  /**
   * Sends what changed, type by type in make-before-break order (CDS, EDS, LDS, RDS). A type with
   * a change it cannot send yet (its last response is not ACKed) holds back the types after it,
   * and listeners also wait for their clusters to be warm, so a listener never arrives before
   * the clusters it routes to can take traffic.
   */
  protected flush(from = 0): void {
    const snapshot = this.snapshot();
    if (!snapshot || this.closed) return;
    this.blockedAt = undefined;
    for (let i = from; i < PUSH_ORDER.length; i++) {
      const typeUrl = PUSH_ORDER[i]!;
      const state = this.types.get(typeUrl);
      if (!state || !this.hasChange(typeUrl, state, snapshot)) continue;
      if (!state.pending || (typeUrl === LISTENER && !this.clustersWarm(snapshot))) break;
      // Built only when it can be written, so what goes out is the latest state, never a queue.
      // Once written, the same pass goes on from this type (onWritable), as if it had not waited.
      if (!this.options.writable()) {
        this.blockedAt = i;
        break;
      }
      this.respond(typeUrl, state, snapshot);
    }
  }

  /**
   * Envoy warms a cluster until it gets its endpoints, and a listener routing to a warming cluster
   * warms too: listeners wait until the clusters were ACKed and fresh endpoints went out for each.
   */
  private clustersWarm(snapshot: Snapshot): boolean {
    const clusters = this.types.get(CLUSTER);
    if (clusters && (clusters.awaitingReply || this.nackedLast(clusters))) return false;
    return !this.warming.holdsListeners(snapshot.sets[ENDPOINT]);
  }

  private nackedLast(state: State): boolean {
    return state.nack !== undefined && state.nack.nonce === state.nonce;
  }

  /** Matches a request's nonce against the last response of its type and records an ACK or NACK. */
  protected acknowledge(typeUrl: ResourceTypeUrl, state: State, request: Request, ackedVersion: string | undefined): Acknowledgement {
    if (request.response_nonce === '') return 'none';
    if (request.response_nonce !== state.nonce) {
      this.options.logger.debug({ type: SHORT_NAMES[typeUrl], nonce: request.response_nonce, latest: state.nonce }, 'stale nonce');
      return 'stale';
    }
    state.awaitingReply = false;
    state.awaitingSinceMs = undefined;
    const retry = this.retryOf(typeUrl);
    const about = { group: this.group, node: this.node?.id, type: SHORT_NAMES[typeUrl], version: state.sentVersion };
    if (request.error_detail) {
      const message = truncateForLog(request.error_detail.message, MAX_NACK_MESSAGE);
      state.nack = { version: state.sentVersion ?? '', nonce: request.response_nonce, message, atMs: this.options.clock.now() };
      // Resending would only be rejected again, unless the client's host is what stood in the way.
      const retryInMs = causeOnClientHost(message) ? this.scheduleRetry(typeUrl, retry) : undefined;
      this.options.logLimiter.log(
        this.options.logger,
        'warn',
        `nack|${this.group}|${typeUrl}`,
        { ...about, node: truncateForLog(this.node?.id ?? ''), error: truncateForLog(message, MAX_LOGGED_NACK), retryInMs },
        'xds response rejected by client (NACK)',
      );
      this.options.observer?.nacked?.({ ...this.reply(typeUrl, state.nack.version), message });
      return 'nack';
    }
    state.ackedVersion = ackedVersion;
    const retries = retry.accepted();
    if (retries > 0) this.options.logger.info({ ...about, retries }, 'xds response accepted after NACK retries');
    this.options.observer?.acked?.(this.reply(typeUrl, state.sentVersion ?? ''));
    return 'ack';
  }

  /** True when the next response of this type is a retry: it carries the NACKed content again. */
  protected retryDue(typeUrl: ResourceTypeUrl): boolean {
    return this.retries.get(typeUrl)?.due === true;
  }

  private retryOf(typeUrl: ResourceTypeUrl): NackRetry {
    let retry = this.retries.get(typeUrl);
    if (!retry) this.retries.set(typeUrl, (retry = new NackRetry(this.options.timers)));
    return retry;
  }

  private scheduleRetry(typeUrl: ResourceTypeUrl, retry: NackRetry): number {
    return retry.schedule(this.options.clock.now(), this.options.nackRetryMaxSeconds() * 1000, () => {
      if (this.closed) return;
      const state = this.types.get(typeUrl);
      this.options.logger.info(
        { group: this.group, node: this.node?.id, type: SHORT_NAMES[typeUrl], version: state?.sentVersion, retry: retry.sent + 1 },
        'resending a NACKed xds response: the client host may have been fixed',
      );
      this.flush();
    });
  }

  protected nextNonce(): string {
    return String(++this.nonceCounter);
  }

  protected markSent(typeUrl: ResourceTypeUrl, state: State, version: string, nonce: string): void {
    this.retries.get(typeUrl)?.responded();
    state.pending = false;
    const now = this.options.clock.now();
    if (!state.awaitingReply) state.awaitingSinceMs = now;
    state.awaitingReply = true;
    state.sentVersion = version;
    state.nonce = nonce;
    state.sentAtMs = now;
    this.options.observer?.responseSent?.(this.reply(typeUrl, version));
  }

  private reply(typeUrl: ResourceTypeUrl, version: string): StreamReplyEvent {
    return { streamId: this.options.streamId, protocol: this.protocol, group: this.group, nodeId: this.node?.id, typeUrl, version };
  }

  private configStatus(typeUrl: ResourceTypeUrl, state: State, snapshot: Snapshot | undefined): ConfigStatus {
    if (this.nackedLast(state)) return 'ERROR';
    if (state.sentVersion === undefined) return 'NOT_SENT';
    const behind = snapshot !== undefined && this.hasChange(typeUrl, state, snapshot);
    return state.ackedVersion === state.sentVersion && !behind ? 'SYNCED' : 'STALE';
  }

  private refuse(code: GrpcStatus, message: string): void {
    this.options.fail(code, message);
    this.close();
  }

  private bindGroup(node: NodeInfo | null): boolean {
    const groups = this.options.groups();
    const group = groupOfNode(node, groups);
    if (!group) {
      this.refuse(GrpcStatus.INVALID_ARGUMENT, unknownGroupMessage(node, groups, this.options.authenticated));
      return false;
    }
    // Only what the stream uses: the rest of the node (extensions, metadata) is let go.
    this.node = node ? { id: node.id, cluster: node.cluster } : undefined;
    this.group = group;
    this.stopWatching = this.options.cache.watch(group, () => this.onSnapshot());
    return true;
  }

  private typeOf(request: Request): ResourceTypeUrl | undefined {
    const fixed = this.options.fixedType;
    if (fixed) {
      if (request.type_url === '' || request.type_url === fixed) return fixed;
      this.refuse(GrpcStatus.INVALID_ARGUMENT, `type_url "${truncateForLog(request.type_url)}" on a stream for ${fixed}`);
      return undefined;
    }
    if (isResourceTypeUrl(request.type_url)) return request.type_url;
    this.options.logger.debug({ typeUrl: request.type_url }, 'request for a type shardvoy does not serve');
    return undefined;
  }
}

function isoTime(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
