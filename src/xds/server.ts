/**
 * The xDS gRPC server: ADS and the per-type LDS/CDS/EDS/RDS services over one port.
 * It reads snapshots from the cache and knows nothing of how they were made.
 */
import * as grpc from '@grpc/grpc-js';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { HostPort } from '../config/types.js';
import { SHORT_NAMES, type ResourceTypeUrl } from '../envoy-api/type-urls.js';
import type { Clock } from '../registry/clock.js';
import type { SnapshotCache } from '../snapshot/cache.js';
import { formatHostPort } from '../util/host-port.js';
import type { DiscoveryRequest, DiscoveryResponse } from './messages.js';
import { groupOfNode, unknownGroupMessage } from './node-group.js';
import { PER_TYPE_SERVICES, aggregatedService, perTypeService } from './service-definitions.js';
import { SotwStream, type StreamStatus } from './sotw-stream.js';
import { select, nextSubscription } from './subscription.js';
import { versionOf } from '../snapshot/snapshot.js';

export interface XdsServerOptions {
  readonly cache: SnapshotCache;
  readonly groups: () => readonly string[];
  readonly clock: Clock;
  readonly logger: Logger;
  readonly version: string;
}

type Duplex = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

export class XdsServer {
  private readonly server = new grpc.Server();
  private readonly streams = new Map<number, { stream: SotwStream; call: Duplex }>();
  private nextStreamId = 1;
  private readonly controlPlaneId: string;

  constructor(private readonly options: XdsServerOptions) {
    this.controlPlaneId = `shardvoy/${options.version}@${hostname()}`;
    this.server.addService(aggregatedService(), {
      StreamAggregatedResources: (call: Duplex) => this.serveStream(call, undefined),
    });
    for (const spec of PER_TYPE_SERVICES) {
      this.server.addService(perTypeService(spec), {
        [spec.stream]: (call: Duplex) => this.serveStream(call, spec.typeUrl),
        [spec.fetch]: (call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, callback: grpc.sendUnaryData<DiscoveryResponse>) =>
          this.fetch(spec.typeUrl, call.request, callback),
      });
    }
  }

  /** Binds and starts serving; resolves to the bound address (port 0 picks a free one). */
  listen(address: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(formatHostPort(address), grpc.ServerCredentials.createInsecure(), (error, port) => {
        if (error) reject(error);
        else resolve({ host: address.host, port });
      });
    });
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

  private serveStream(call: Duplex, fixedType: ResourceTypeUrl | undefined): void {
    const streamId = this.nextStreamId++;
    const logger = this.options.logger.child({ streamId });
    const stream = new SotwStream({
      streamId,
      peer: call.getPeer(),
      cache: this.options.cache,
      groups: this.options.groups,
      clock: this.options.clock,
      logger,
      controlPlaneId: this.controlPlaneId,
      ...(fixedType ? { fixedType } : {}),
      send: (response) => call.write(response),
      fail: (code, message) => {
        logger.warn({ code: grpc.status[code], reason: message }, 'xds stream refused');
        call.emit('error', { code, details: message });
      },
    });
    this.streams.set(streamId, { stream, call });
    logger.info({ peer: call.getPeer(), type: fixedType ? SHORT_NAMES[fixedType] : 'ads' }, 'xds stream opened');
    const finish = (reason: string) => {
      if (!this.streams.delete(streamId)) return;
      stream.close();
      logger.info({ reason }, 'xds stream closed');
    };
    call.on('data', (request: DiscoveryRequest) => {
      try {
        stream.onRequest(request);
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
