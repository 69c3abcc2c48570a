/**
 * The child processes of a run, by role: which file, which Node flags, and how long each may live.
 * A scenario starts its children through `Spawner`, which remembers them so that the runner can
 * stop every one of them when the scenario ends, however it ends.
 */
import { fileURLToPath } from 'node:url';
import { GcpPeer, type PeerOptions, PeerNotRun, type PeerSnapshot } from '../peers/go-control-plane/peer.js';
import { ENDPOINT } from '../../src/envoy-api/type-urls.js';
import { Child, stopAll } from './ipc.js';

const file = (relative: string) => fileURLToPath(new URL(`../${relative}`, import.meta.url));

export interface ShardvoyInfo {
  readonly http: string;
  readonly grpc: string;
}
export interface FloorInfo {
  readonly grpc: string;
  readonly responseBytes: { readonly sotw: number; readonly delta: number };
}
export interface HttpInfo {
  readonly http: string;
}

/** No child outlives this, whatever happens to the runner (the full run takes a few minutes). */
const MAX_LIFETIME_MS = 20 * 60_000;

/** The go-control-plane peer, or why it did not run (its column then says so). */
export type PeerStart = ({ readonly peer: GcpPeer; readonly notRun?: undefined } | { readonly peer?: undefined; readonly notRun: string }) & {
  /** The EDS names of the group's snapshot: what the bench streams subscribe to. */
  readonly edsNames: readonly string[];
};

export class Spawner {
  private readonly children: Child<unknown>[] = [];
  private readonly peers: GcpPeer[] = [];

  /**
   * shardvoy with a raw native configuration, its servers on free ports of `host` (default
   * 127.0.0.1); --expose-gc so memory can be read after a full GC.
   */
  shardvoy(config: object, host = '127.0.0.1', name = 'shardvoy'): Promise<Child<ShardvoyInfo>> {
    // FSTDEP022: a Fastify deprecation shardvoy's app triggers on start; noise in every scenario's output.
    return this.start(name, 'servers/shardvoy.ts', [JSON.stringify(config), host], ['--expose-gc', '--disable-warning=FSTDEP022']);
  }

  floor(): Promise<Child<FloorInfo>> {
    return this.start('floor-xds', 'servers/floor-xds.ts', [], ['--expose-gc']);
  }

  parseOnly(): Promise<Child<HttpInfo>> {
    return this.start('parse-only', 'servers/parse-only.ts', [], []);
  }

  adsClients(): Promise<Child<{ pid: number }>> {
    return this.start('ads-streams', 'clients/ads-streams.ts', [], []);
  }

  /** `count` ADS client processes, for the streams to be spread over. */
  adsClientPool(count: number): Promise<Child<{ pid: number }>[]> {
    return Promise.all(Array.from({ length: Math.max(1, count) }, () => this.adsClients()));
  }

  ingestLoad(): Promise<Child<{ pid: number }>> {
    return this.start('ingest-load', 'clients/ingest-load.ts', [], []);
  }

  /** A paced heartbeat load (clients/renewal-load.ts), scenario 7. */
  renewalLoad(): Promise<Child<{ pid: number }>> {
    return this.start('renewal-load', 'clients/renewal-load.ts', [], []);
  }

  scale(): Promise<Child<{ pid: number }>> {
    return this.start('scale', 'scale/scale-child.ts', [], []);
  }

  /**
   * The go-control-plane peer (bench/peers/go-control-plane), built if needed, serving the
   * snapshot `group` has in `shardvoy` (which must have published it), or `options.fixture`, to
   * the node ids `options.nodes` (default: the group's name). A missing toolchain or a failed
   * build is not an error: the result says why it did not run.
   */
  async gcp(shardvoy: Child<unknown>, group: string, options: Omit<PeerOptions, 'maxLifetimeMs'> & { readonly nodes?: readonly string[]; readonly fixture?: PeerSnapshot } = {}): Promise<PeerStart> {
    const fixture = options.fixture ?? (await shardvoy.request<PeerSnapshot | null>('snapshotResources', { group }, 10_000));
    if (fixture === null) throw new Error(`shardvoy has no snapshot of group ${group} for the go-control-plane fixture`);
    const edsNames = [...(fixture.names?.[ENDPOINT] ?? [])].sort();
    try {
      const peer = await GcpPeer.start(fixture, options.nodes ?? [group], { ...options, maxLifetimeMs: MAX_LIFETIME_MS });
      this.peers.push(peer);
      return { peer, edsNames };
    } catch (error) {
      if (error instanceof PeerNotRun) return { notRun: error.message, edsNames };
      throw error;
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all([stopAll(this.children.splice(0)), ...this.peers.splice(0).map((peer) => peer.stop().catch(() => undefined))]);
  }

  private async start<Info>(name: string, relative: string, args: string[], nodeFlags: string[]): Promise<Child<Info>> {
    const child = await Child.start<Info>(file(relative), { name, args, nodeFlags, maxLifetimeMs: MAX_LIFETIME_MS, readyTimeoutMs: 60_000 });
    this.children.push(child as Child<unknown>);
    return child;
  }
}
