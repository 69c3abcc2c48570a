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
import { clientStatusResponse, type ClientStatusRequest } from './csds.js';
import { DeltaStream } from './delta-stream.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from './messages.js';
import { groupOfNode, unknownGroupMessage } from './node-group.js';
import { PER_TYPE_SERVICES, aggregatedService, clientStatusService, perTypeService } from './service-definitions.js';
import { SotwStream } from './sotw-stream.js';
import { realTimers, type RetryTimers } from './nack-retry.js';
import type { StreamOptions, StreamStatus } from './stream-base.js';
import { nextSubscription, select } from './subscription.js';

export interface XdsServerOptions {
  readonly cache: SnapshotCache;
  readonly groups: () => readonly string[];
  readonly clock: Clock;
  /** Timers for the streams' NACK retries; real ones unless a test puts them on a fake clock. */
  readonly timers?: RetryTimers;
  readonly logger: Logger;
  readonly version: string;
  /** Read when needed, so a getter serves the reloaded keys (the connection limits are bound at start). */
  readonly settings: XdsConfig;
  /** TLS for the xDS port; with requireClientCert, only clients with a certificate from `ca` get in. */
  readonly tls?: TlsConfig | undefined;
}

type AnyStream = SotwStream | DeltaStream;
type Duplex<Req, Res> = grpc.ServerDuplexStream<Req, Res>;

const KEEPALIVE_TIME_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 5_000;

export class XdsServer {
  private readonly server: grpc.Server;
  private readonly streams = new Map<number, { stream: AnyStream; call: grpc.ServerDuplexStream<unknown, unknown> }>();
  private nextStreamId = 1;
  private readonly controlPlaneId: string;

  constructor(private readonly options: XdsServerOptions) {
    this.controlPlaneId = `shardvoy/${options.version}@${hostname()}`;
    this.server = new grpc.Server({
      // Dead peers are noticed within 35 s; connections are recycled (grpc-js adds ±10% jitter)
      // so that Envoys spread over instances after a scale-out.
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      'grpc.max_connection_age_ms': options.settings.maxConnectionAgeSeconds * 1000,
      'grpc.max_connection_age_grace_ms': options.settings.maxConnectionAgeGraceSeconds * 1000,
    });
    this.server.addService(aggregatedService(), {
      StreamAggregatedResources: (call: Duplex<DiscoveryRequest, Buffer>) => this.serve(call, (o) => new SotwStream(o), undefined),
      DeltaAggregatedResources: (call: Duplex<DeltaDiscoveryRequest, Buffer>) => this.serve(call, (o) => new DeltaStream(o), undefined),
    });
    for (const spec of PER_TYPE_SERVICES) {
      this.server.addService(perTypeService(spec), {
        [spec.stream]: (call: Duplex<DiscoveryRequest, Buffer>) => this.serve(call, (o) => new SotwStream(o), spec.typeUrl),
        [spec.delta]: (call: Duplex<DeltaDiscoveryRequest, Buffer>) => this.serve(call, (o) => new DeltaStream(o), spec.typeUrl),
        [spec.fetch]: (call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, callback: grpc.sendUnaryData<DiscoveryResponse>) =>
          this.fetch(spec.typeUrl, call.request, callback),
      });
    }
    this.server.addService(clientStatusService(), {
      FetchClientStatus: (call: grpc.ServerUnaryCall<ClientStatusRequest, object>, callback: grpc.sendUnaryData<object>) =>
        callback(null, this.clientStatus(call.request)),
      StreamClientStatus: (call: Duplex<ClientStatusRequest, object>) => {
        call.on('data', (request: ClientStatusRequest) => call.write(this.clientStatus(request)));
        call.on('end', () => call.end());
      },
    });
  }

  /** Serves another gRPC service on the same port (DKV discovery); call before listen(). */
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    this.server.addService(service, implementation);
  }

  /** Binds and starts serving; resolves to the bound address (port 0 picks a free one). */
  listen(address: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(formatHostPort(address), this.credentials(), (error, port) => {
        if (error) reject(error);
        else resolve({ host: address.host, port });
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
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `group ${group} is no longer configured; configured groups: ${configured.join(', ')}` });
    }
  }

  clients(): StreamStatus[] {
    return [...this.streams.values()].map(({ stream }) => stream.status());
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

  private clientStatus(request: ClientStatusRequest): object {
    return clientStatusResponse(
      [...this.streams.values()].map(({ stream }) => ({ status: stream.status(), held: (typeUrl) => stream.heldResources(typeUrl) })),
      request,
    );
  }

  private serve<Req, Res>(
    call: Duplex<Req, Buffer>,
    create: (options: StreamOptions<Res>) => AnyStream,
    fixedType: ResourceTypeUrl | undefined,
  ): void {
    const streamId = this.nextStreamId++;
    const logger = this.options.logger.child({ streamId });
    const stream = create({
      streamId,
      peer: call.getPeer(),
      cache: this.options.cache,
      groups: this.options.groups,
      clock: this.options.clock,
      timers: this.options.timers ?? realTimers,
      nackRetryMaxSeconds: () => this.options.settings.nackRetryMaxSeconds,
      logger,
      controlPlaneId: this.controlPlaneId,
      fixedType,
      rateLimit: { perSecond: this.options.settings.streamRequestsPerSecond, burst: this.options.settings.streamRequestBurst },
      send: (response) => call.write(response),
      fail: (code, message) => {
        logger.warn({ code: grpc.status[code], reason: message }, 'xds stream refused');
        call.emit('error', { code, details: message });
      },
    });
    this.streams.set(streamId, { stream, call: call as grpc.ServerDuplexStream<unknown, unknown> });
    logger.info({ peer: call.getPeer(), protocol: stream.protocol, type: fixedType ? SHORT_NAMES[fixedType] : 'ads' }, 'xds stream opened');
    const finish = (reason: string) => {
      if (!this.streams.delete(streamId)) return;
      stream.close();
      logger.info({ reason }, 'xds stream closed');
    };
    call.on('data', (request: Req) => {
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

  private fetch(typeUrl: ResourceTypeUrl, request: DiscoveryRequest, callback: grpc.sendUnaryData<DiscoveryResponse>): void {
    const groups = this.options.groups();
    const group = groupOfNode(request.node, groups);
    if (!group) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: unknownGroupMessage(request.node, groups) });
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
