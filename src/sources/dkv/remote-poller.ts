/**
 * Follows other discovery servers (a DKV discovery server or another shardvoy): every poll
 * interval, GetClusterInfo for each database the groups reach, from the first server that
 * answers, going down the list on failure. A poll that fails everywhere keeps the last view.
 * Every DC is asked for (dcID empty): unlike dkvoy, remote DCs stay reachable at priority 1.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Heartbeat } from '../../registry/node.js';
import type { MirrorRegistry } from '../../registry/mirror-registry.js';
import { dkvDiscoveryDefinition, type GetClusterInfoResponseMessage } from './protos.js';
import { dkvToHeartbeat } from './to-heartbeat.js';

export interface RemotePollerOptions {
  readonly addresses: readonly string[];
  /** The databases the groups reach, read at every poll (a reload may add one). */
  readonly databases: () => readonly string[];
  readonly intervalMs: number;
  readonly mirror: MirrorRegistry;
  readonly logger: Logger;
  /** Called after each successful poll, so the first view can open the xDS gate. */
  readonly onView?: () => void;
}

type GetClusterInfo = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: GetClusterInfoResponseMessage) => void,
) => void;

export class RemotePoller {
  private readonly clients: Array<{ address: string; client: grpc.Client }>;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<boolean> | undefined;
  private viewFrom: string | undefined;
  hasView = false;

  constructor(private readonly options: RemotePollerOptions) {
    const Client = grpc.makeClientConstructor(dkvDiscoveryDefinition(), 'DKVDiscovery');
    this.clients = options.addresses.map((address) => ({ address, client: new Client(address, grpc.credentials.createInsecure()) }));
  }

  start(): void {
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const { client } of this.clients) client.close();
  }

  /** One poll; resolves true if some server answered. Overlapping calls share the one in flight. */
  poll(): Promise<boolean> {
    this.polling ??= this.pollOnce().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<boolean> {
    for (const { address, client } of this.clients) {
      try {
        const view = await this.viewOf(client);
        this.options.mirror.replaceAll(view);
        if (this.viewFrom !== address) this.options.logger.info({ address, nodes: view.length }, `following discovery server ${address}`);
        this.viewFrom = address;
        this.hasView = true;
        this.options.onView?.();
        return true;
      } catch (error) {
        this.options.logger.warn({ address, err: (error as Error).message }, `discovery server ${address} did not answer; trying the next`);
      }
    }
    this.options.logger.error({ addresses: this.options.addresses }, 'no discovery server answered; keeping the last view');
    return false;
  }

  private async viewOf(client: grpc.Client): Promise<Heartbeat[]> {
    const view: Heartbeat[] = [];
    const deadline = Math.min(this.options.intervalMs, 5_000);
    for (const database of this.options.databases()) {
      const response = await new Promise<GetClusterInfoResponseMessage>((resolve, reject) => {
        const call = (client as unknown as Record<string, GetClusterInfo>).GetClusterInfo!;
        call.call(client, { dcID: '', database, vBucket: '' }, new grpc.Metadata(), { deadline: Date.now() + deadline }, (error, value) =>
          error || !value ? reject(error ?? new Error('empty answer')) : resolve(value),
        );
      });
      for (const regionInfo of response.regionInfos) {
        const converted = dkvToHeartbeat({ regionInfo, timestamp: '0' }, undefined);
        if (converted.ok) view.push(converted.heartbeat);
        else this.options.logger.warn({ node: regionInfo.nodeAddress, reason: converted.message }, 'node from the discovery server skipped');
      }
    }
    return view;
  }
}
