/**
 * The xDS gRPC server: ADS (state-of-the-world and delta), the per-type LDS/CDS/EDS/RDS services
 * and CSDS, over one port. It reads snapshots from the cache and knows nothing of how they were made.
 */
import * as grpc from '@grpc/grpc-js';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { HostPort, TlsConfig, XdsConfig } from '../config/types.js';
import { SHORT_NAMES, type ResourceTypeUrl } from '../envoy-api/type-urls.js';
import type { Clock } from '../registry/clock.js';
import type { SnapshotCache } from '../snapshot/cache.js';
import { versionOf } from '../snapshot/snapshot.js';
import { formatHostPort } from '../util/host-port.js';
import { encodeClientStatus, type ClientStatusRequest, type ClientView } from './csds.js';
import { DeltaStream } from './delta-stream.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from './messages.js';
import { groupOfNode, unknownGroupMessage } from './node-group.js';
import { PER_TYPE_SERVICES, aggregatedService, clientStatusService, perTypeService } from './service-definitions.js';
import { SotwStream } from './sotw-stream.js';
import { realTimers, type RetryTimers } from './nack-retry.js';
import type { StreamOptions, StreamStatus } from './stream-base.js';
import { nextSubscription, select } from './subscription.js';
import { XdsObservers, type XdsObserver } from './observer.js';
import { refusalOf, type Refusal } from './request-limits.js';
import { RefusalGuard } from './refusal-guard.js';
import { resetCall, StreamWriter } from './stream-writer.js';
import { TokenBucket } from './token-bucket.js';
import { RepeatLimiter, truncateForLog } from '../util/log-limits.js';

/** Peers whose fetch budgets are remembered at once; past it the oldest is forgotten. */
const MAX_FETCH_PEERS = 10_000;

/** The IP address of a grpc-js peer string (`1.2.3.4:5678`, `::1:5678`): streams are counted per address. */
export function peerAddress(peer: string): string {
  const colon = peer.lastIndexOf(':');
  return colon > 0 ? peer.slice(0, colon).replace(/^\[|\]$/g, '') : peer;
}

/** The peer presented a client certificate the server verified (grpc-js reports one only then). */
function isAuthenticated(call: { getAuthContext?: () => { sslPeerCertificate?: unknown } | null }): boolean {
  return call.getAuthContext?.()?.sslPeerCertificate !== undefined;
}

export interface XdsServerOptions {
  readonly cache: SnapshotCache;
  readonly groups: () => readonly string[];
  readonly clock: Clock;
  /** Timers for the streams' NACK retries; real ones unless a test puts them on a fake clock. */
  readonly timers?: RetryTimers;
  readonly logger: Logger;
  readonly version: string;
  /** `control_plane.identifier` of every response (xds.controlPlaneId); default `<host name>:<gRPC port>`. */
  readonly controlPlaneId?: string | undefined;
  /** Read when needed, so a getter serves the reloaded keys (the connection limits are bound at start). */
  readonly settings: XdsConfig;
  /** TLS for the xDS port; with requireClientCert, only clients with a certificate from `ca` get in. */
  readonly tls?: TlsConfig | undefined;
  /** Checked first on CSDS calls (contract 9, `auth.readToken`): why one is refused, or undefined. Absent: open. */
  readonly authorizeRead?: (metadata: grpc.Metadata) => string | undefined;
}

type AnyStream = SotwStream | DeltaStream;
type Duplex<Req, Res> = grpc.ServerDuplexStream<Req, Res>;

const KEEPALIVE_TIME_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 5_000;

export class XdsServer {
  private readonly server: grpc.Server;
  private readonly streams = new Map<number, { stream: AnyStream; call: grpc.ServerDuplexStream<unknown, unknown> }>();
  private nextStreamId = 1;
  private controlPlaneId: string;
  private readonly observers = new XdsObservers();
  /** Streaming calls open (xDS and CSDS), in all and per peer IP address (xds.maxStreams, xds.maxStreamsPerPeer). */
  private openStreams = 0;
  private readonly perPeer = new Map<string, number>();
  /** Unary fetches (per-type and CSDS) share a request budget per peer IP address. */
  private readonly fetchBudgets = new Map<string, TokenBucket>();
  private readonly logLimiter = new RepeatLimiter();
  private readonly refusalGuard = new RefusalGuard(
    () => this.options.settings.maxRefusedStreamsPerConnection,
    () => this.options.clock.now(),
    (peer, refusals) =>
      this.logLimiter.log(this.options.logger, 'warn', 'refusals-closed', { peer, refusals }, 'xds connection closed: more of its calls were refused at once than xds.maxRefusedStreamsPerConnection'),
  );

  constructor(private readonly options: XdsServerOptions) {
    // Until the port is bound (listen), the host name alone.
    this.controlPlaneId = options.controlPlaneId ?? hostname();
    this.server = new grpc.Server({
      // Dead peers are noticed within 35 s; connections are recycled (grpc-js adds ±10% jitter)
      // so that Envoys spread over instances after a scale-out.
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      'grpc.max_connection_age_ms': options.settings.maxConnectionAgeSeconds * 1000,
      'grpc.max_connection_age_grace_ms': options.settings.maxConnectionAgeGraceSeconds * 1000,
      'grpc.max_receive_message_length': options.settings.maxRequestBytes,
      // Calls past it on one connection are refused by nghttp2 before grpc-js builds them: a
      // client sending hundreds at once cannot make the event loop set each one up (issue 11).
      'grpc.max_concurrent_streams': options.settings.maxStreamsPerConnection,
    });
    const limits = () => this.options.settings;
    this.server.addService(aggregatedService(limits), {
      StreamAggregatedResources: (call: Duplex<DiscoveryRequest, Buffer>) => this.serve(call, (o) => new SotwStream(o), undefined),
      DeltaAggregatedResources: (call: Duplex<DeltaDiscoveryRequest, Buffer>) => this.serve(call, (o) => new DeltaStream(o), undefined),
    });
    for (const spec of PER_TYPE_SERVICES) {
      this.server.addService(perTypeService(spec, limits), {
        [spec.stream]: (call: Duplex<DiscoveryRequest, Buffer>) => this.serve(call, (o) => new SotwStream(o), spec.typeUrl),
        [spec.delta]: (call: Duplex<DeltaDiscoveryRequest, Buffer>) => this.serve(call, (o) => new DeltaStream(o), spec.typeUrl),
        [spec.fetch]: (call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, callback: grpc.sendUnaryData<DiscoveryResponse>) =>
          this.fetch(spec.typeUrl, call, callback),
      });
    }
    this.server.addService(clientStatusService(), {
      FetchClientStatus: (call: grpc.ServerUnaryCall<ClientStatusRequest, object>, callback: grpc.sendUnaryData<object>) => {
        const refusal = this.authorizeCsds(call.metadata) ?? this.fetchRefusal(call.getPeer());
        if (refusal) {
          this.refuse(call, refusal, 'csds', () => callback({ code: refusal.code, details: refusal.message }));
          return;
        }
        this.clientStatus(call.request).then(
          (answer) => callback(null, answer),
          (error: Error) => callback({ code: grpc.status.INTERNAL, details: `client status: ${error.message}` }),
        );
      },
      StreamClientStatus: (call: Duplex<ClientStatusRequest, object>) => this.serveClientStatus(call),
    });
  }

  /** CSDS reads what /v1/xds/clients does, so the read token guards it as it guards the reads (contract 9). */
  private authorizeCsds(metadata: grpc.Metadata): Refusal | undefined {
    const reason = this.options.authorizeRead?.(metadata);
    return reason === undefined ? undefined : { code: grpc.status.UNAUTHENTICATED, message: reason };
  }

  /**
   * A CSDS stream: the read token first, the same request budget as an xDS stream, and
   * backpressure: a request is answered when the last answer was written, from the state then,
   * and a newer request replaces an unanswered one. One answer is built at a time.
   */
  private serveClientStatus(call: Duplex<ClientStatusRequest, object>): void {
    const peer = call.getPeer();
    const refusal = this.authorizeCsds(call.metadata) ?? this.admit(peer);
    if (refusal) {
      this.refuse(call, refusal, 'csds', () => call.emit('error', { code: refusal.code, details: refusal.message }));
      return;
    }
    const release = this.hold(peer);
    const settings = this.options.settings;
    const budget = new TokenBucket(settings.streamRequestsPerSecond, settings.streamRequestBurst, this.options.clock.now());
    let latest: ClientStatusRequest | undefined;
    let building = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      writer.close();
      release();
    };
    const answer = () => {
      if (done || building || !latest || !writer.ready) return;
      const request = latest;
      latest = undefined;
      building = true;
      this.clientStatus(request).then(
        (bytes) => {
          building = false;
          if (done) return;
          writer.write(bytes);
          answer();
        },
        (error: Error) => {
          finish();
          call.emit('error', { code: grpc.status.INTERNAL, details: `client status: ${error.message}` });
        },
      );
    };
    const writer = new StreamWriter(call, () => this.options.settings.writeTimeoutSeconds * 1000, answer, () => {
      this.logLimiter.log(this.options.logger, 'warn', 'csds-stuck', { peer }, 'csds stream closed: the client read nothing within xds.writeTimeoutSeconds');
      finish();
      if (!resetCall(call)) call.emit('error', { code: grpc.status.DEADLINE_EXCEEDED, details: 'the client read nothing within xds.writeTimeoutSeconds' });
    });
    call.on('data', (request: ClientStatusRequest) => {
      if (done) return;
      if (!budget.take(this.options.clock.now())) {
        const message = `more than ${settings.streamRequestsPerSecond} requests per second (burst ${settings.streamRequestBurst}) on one stream`;
        // Behind an answer the client has not taken, the status waits; the writer still watches it.
        finish();
        this.refuse(call, { code: grpc.status.RESOURCE_EXHAUSTED, message }, 'csds', () => call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: message }));
        return;
      }
      latest = request;
      answer();
    });
    call.on('end', () => {
      finish();
      call.end();
    });
    call.on('error', finish);
    call.on('cancelled', finish);
    call.on('close', finish);
  }

  /** Whether one more streaming call may open: xds.maxStreams in all, xds.maxStreamsPerPeer per IP address. */
  private admit(peer: string): Refusal | undefined {
    const settings = this.options.settings;
    if (this.openStreams >= settings.maxStreams) {
      return { code: grpc.status.RESOURCE_EXHAUSTED, message: `${this.openStreams} streams open, the limit xds.maxStreams (${settings.maxStreams})` };
    }
    const ip = peerAddress(peer);
    const fromPeer = this.perPeer.get(ip) ?? 0;
    if (fromPeer >= settings.maxStreamsPerPeer) {
      return { code: grpc.status.RESOURCE_EXHAUSTED, message: `${fromPeer} streams open from ${ip}, the limit xds.maxStreamsPerPeer (${settings.maxStreamsPerPeer})` };
    }
    return undefined;
  }

  /** Counts an admitted streaming call; the returned function (idempotent) lets go of it. */
  private hold(peer: string): () => void {
    const ip = peerAddress(peer);
    this.openStreams++;
    this.perPeer.set(ip, (this.perPeer.get(ip) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.openStreams--;
      const left = (this.perPeer.get(ip) ?? 1) - 1;
      if (left <= 0) this.perPeer.delete(ip);
      else this.perPeer.set(ip, left);
    };
  }

  /** Unary fetches: the per-stream request budget, per peer IP address. */
  private fetchRefusal(peer: string): Refusal | undefined {
    const ip = peerAddress(peer);
    const settings = this.options.settings;
    let budget = this.fetchBudgets.get(ip);
    if (!budget) {
      if (this.fetchBudgets.size >= MAX_FETCH_PEERS) this.fetchBudgets.delete(this.fetchBudgets.keys().next().value as string);
      budget = new TokenBucket(settings.streamRequestsPerSecond, settings.streamRequestBurst, this.options.clock.now());
      this.fetchBudgets.set(ip, budget);
    }
    if (budget.take(this.options.clock.now())) return undefined;
    return { code: grpc.status.RESOURCE_EXHAUSTED, message: `more than ${settings.streamRequestsPerSecond} fetches per second (burst ${settings.streamRequestBurst}) from ${ip}` };
  }

  /**
   * A refused call: one warning line per kind of refusal and interval, however many clients are
   * refused; the status sent (`answer`); then the call counted against its connection, which is
   * closed once too many were refused on it (RefusalGuard).
   */
  private refuse(call: { getPeer(): string }, refusal: Refusal, kind: string, answer: () => void): void {
    const peer = call.getPeer();
    const reason = truncateForLog(refusal.message, 512);
    // Keyed by what shardvoy chose, never by what the client sent: a client cannot make new keys.
    this.logLimiter.log(this.options.logger, 'warn', `refused|${kind}|${refusal.code}`, { kind, peer, code: grpc.status[refusal.code], reason }, 'xds stream refused');
    answer();
    this.refusalGuard.count(call, peer);
  }

  /** Serves another gRPC service on the same port (DKV discovery); call before listen(). */
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    this.server.addService(service, implementation);
  }

  /** Binds and starts serving; resolves to the bound address (port 0 picks a free one). */
  listen(address: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(formatHostPort(address), this.credentials(), (error, port) => {
        if (error) return reject(error);
        // The instance's name: the host and the port it serves xDS on (port 0 picked one).
        this.controlPlaneId = this.options.controlPlaneId ?? `${hostname()}:${port}`;
        resolve({ host: address.host, port });
      });
    });
  }

  private credentials(): grpc.ServerCredentials {
    const tls = this.options.tls;
    if (!tls) return grpc.ServerCredentials.createInsecure();
    return grpc.ServerCredentials.createSsl(
      tls.ca === undefined ? null : Buffer.from(tls.ca),
      [{ private_key: Buffer.from(tls.key), cert_chain: Buffer.from(tls.cert) }],
      tls.requireClientCert,
    );
  }

  /** Closes the streams of groups no longer configured, with the status a stranger gets at connect. */
  closeGroups(groups: readonly string[]): void {
    if (groups.length === 0) return;
    const configured = this.options.groups();
    for (const { stream, call } of this.streams.values()) {
      const group = stream.status().group;
      if (group === undefined || !groups.includes(group)) continue;
      stream.close();
      const listed = isAuthenticated(call) ? `; ${unknownGroupMessage(null, configured, true).replace(/^.*; /, '')}` : '';
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `group ${group} is no longer configured${listed}` });
    }
  }

  clients(): StreamStatus[] {
    return [...this.streams.values()].map(({ stream }) => stream.status());
  }

  /** The name every response carries in `control_plane.identifier`. */
  get identifier(): string {
    return this.controlPlaneId;
  }

  /** Tells `observer` of every stream's replies from now on (metrics, events). Returns an unsubscribe function. */
  observe(observer: XdsObserver): () => void {
    return this.observers.add(observer);
  }

  /** Ends every stream (clients reconnect elsewhere), then stops, forcing it after `graceMs`. */
  async close(graceMs = 2_000): Promise<void> {
    for (const { stream, call } of this.streams.values()) {
      stream.close();
      call.end();
    }
    this.streams.clear();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  /** Encoded a slice at a time (csds.ts): each stream's status is read when its turn comes. */
  private clientStatus(request: ClientStatusRequest): Promise<Buffer> {
    const views = [...this.streams.values()].map(({ stream }): ClientView => {
      let status: StreamStatus | undefined;
      return {
        get status() {
          return (status ??= stream.status());
        },
        held: (typeUrl) => stream.heldResources(typeUrl),
      };
    });
    return encodeClientStatus(views, request);
  }

  private serve<Req, Res>(
    call: Duplex<Req, Buffer>,
    create: (options: StreamOptions<Res>) => AnyStream,
    fixedType: ResourceTypeUrl | undefined,
  ): void {
    const peer = call.getPeer();
    const admission = this.admit(peer);
    if (admission) {
      this.refuse(call, admission, 'xds', () => call.emit('error', { code: admission.code, details: admission.message }));
      return;
    }
    const release = this.hold(peer);
    const streamId = this.nextStreamId++;
    const logger = this.options.logger.child({ streamId });
    const writer = new StreamWriter(
      call,
      () => this.options.settings.writeTimeoutSeconds * 1000,
      () => stream.onWritable(),
      () => {
        this.logLimiter.log(logger, 'warn', 'xds-stuck', { peer, node: truncateForLog(stream.status().nodeId ?? '') }, 'xds stream closed: the client read nothing within xds.writeTimeoutSeconds');
        finish('the client read nothing within xds.writeTimeoutSeconds');
        if (!resetCall(call)) call.emit('error', { code: grpc.status.DEADLINE_EXCEEDED, details: 'the client read nothing within xds.writeTimeoutSeconds' });
      },
    );
    const stream = create({
      streamId,
      peer,
      cache: this.options.cache,
      groups: this.options.groups,
      clock: this.options.clock,
      timers: this.options.timers ?? realTimers,
      nackRetryMaxSeconds: () => this.options.settings.nackRetryMaxSeconds,
      logger,
      controlPlaneId: this.controlPlaneId,
      fixedType,
      rateLimit: { perSecond: this.options.settings.streamRequestsPerSecond, burst: this.options.settings.streamRequestBurst },
      send: (response) => writer.write(response),
      writable: () => writer.ready,
      observer: this.observers,
      maxSubscribedNames: () => this.options.settings.maxSubscribedNames,
      authenticated: isAuthenticated(call),
      logLimiter: this.logLimiter,
      fail: (code, message) => {
        this.refuse(call, { code, message }, 'xds', () => call.emit('error', { code, details: message }));
      },
    });
    this.streams.set(streamId, { stream, call: call as grpc.ServerDuplexStream<unknown, unknown> });
        // Behind a response the client has not taken, the status waits; the writer still watches
        // that response and resets the stream if it stays untaken (xds.writeTimeoutSeconds).
    logger.info({ peer: call.getPeer(), protocol: stream.protocol, type: fixedType ? SHORT_NAMES[fixedType] : 'ads' }, 'xds stream opened');
    const finish = (reason: string) => {
      writer.close();
      release();
      if (!this.streams.delete(streamId)) return;
      stream.close();
      this.observers.streamClosed({ streamId });
      logger.info({ reason }, 'xds stream closed');
    };
    call.on('data', (request: Req) => {
      const refusal = refusalOf(request);
      if (refusal) {
        stream.abort(refusal.code, refusal.message);
        return;
      }
      try {
        (stream as { onRequest(r: Req): void }).onRequest(request);
      } catch (error) {
        logger.error({ err: error }, 'xds request failed');
        call.emit('error', { code: grpc.status.INTERNAL, details: 'internal error' });
      }
    });
    call.on('end', () => {
      // The client half-closed: finish our side too, or its process cannot exit.
      finish('client ended the stream');
      call.end();
    });
    call.on('error', () => finish('stream error'));
    call.on('cancelled', () => finish('cancelled by client'));
    call.on('close', () => finish('closed'));
  }

  private fetch(typeUrl: ResourceTypeUrl, call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, callback: grpc.sendUnaryData<DiscoveryResponse>): void {
    const request = call.request;
    const refusal = refusalOf(request) ?? this.fetchRefusal(call.getPeer());
    if (refusal) {
      this.refuse(call, refusal, 'fetch', () => callback({ code: refusal.code, details: refusal.message }));
      return;
    }
    const groups = this.options.groups();
    const group = groupOfNode(request.node, groups);
    if (!group) {
      const message = unknownGroupMessage(request.node, groups, isAuthenticated(call));
      this.refuse(call, { code: grpc.status.INVALID_ARGUMENT, message }, 'fetch', () => callback({ code: grpc.status.INVALID_ARGUMENT, details: message }));
      return;
    }
    const snapshot = this.options.cache.get(group);
    if (!snapshot) {
      callback({ code: grpc.status.UNAVAILABLE, details: `no configuration for group ${group} yet` });
      return;
    }
    const resources = select(snapshot.sets[typeUrl], nextSubscription(typeUrl, undefined, request.resource_names));
    callback(null, {
      version_info: versionOf(resources),
      resources: resources.map((resource) => ({ type_url: typeUrl, value: resource.value })),
      type_url: typeUrl,
      nonce: '',
      control_plane: { identifier: this.controlPlaneId },
    });
  }
}
