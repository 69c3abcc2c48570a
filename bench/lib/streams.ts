/**
 * The orchestrator's side of bench/clients/ads-streams.ts: typed requests, and the fallback the
 * issue allows (10 streams per connection) should one connection per stream prove impossible.
 */
import type { Child } from './ipc.js';
import { GROUP } from './fixtures.js';
import type { ProcessStats, StatsRequest } from './process-stats.js';

export type Protocol = 'sotw' | 'delta';

export interface OpenResult {
  readonly ms: number;
  readonly ready: number;
  readonly failed: number;
  readonly retries: number;
  readonly errors: readonly string[];
  readonly streamsPerConnection: number;
}

export interface StormResult {
  readonly ms: number;
  readonly served: number;
  readonly missing: number;
  readonly retries: number;
  readonly errors: readonly string[];
}

export class AdsClients {
  /**
   * The EDS names every stream subscribes to: the group's load assignments, as an Envoy of the
   * group asks for them (go-control-plane's ADS mode answers only a request naming every one).
   */
  names: readonly string[] | undefined;

  constructor(
    private readonly child: Child<unknown>,
    private readonly log: (line: string) => void,
  ) {}

  /** Opens `count` streams, one connection each; falls back to 10 per connection if over 1% fail. */
  async open(address: string, count: number, protocol: Protocol, waveSize: number): Promise<OpenResult> {
    const timeoutMs = 30_000 + count * 20;
    for (const streamsPerConnection of [1, 10]) {
      const result = await this.child.request<Omit<OpenResult, 'streamsPerConnection'>>(
        'open',
        { address, count, protocol, group: GROUP, streamsPerConnection, waveSize, timeoutMs, ...(this.names ? { names: this.names } : {}) },
        timeoutMs + 10_000,
      );
      if (result.failed <= count * 0.01) return { ...result, streamsPerConnection };
      this.log(`  ${result.failed} of ${count} streams failed with one connection each (${result.errors.join('; ')}); retrying with 10 streams per connection`);
    }
    throw new Error(`could not open ${count} ${protocol} streams to ${address}, even 10 per connection`);
  }

  arm(): Promise<{ armed: number }> {
    return this.child.request('arm', {}, 10_000);
  }

  collect(timeoutMs: number): Promise<{ arrivals: number[]; missing: number }> {
    return this.child.request('collect', { timeoutMs }, timeoutMs + 10_000);
  }

  storm(timeoutMs: number): Promise<StormResult> {
    return this.child.request('storm', { timeoutMs }, timeoutMs + 10_000);
  }

  stats(request: StatsRequest = {}): Promise<ProcessStats> {
    return this.child.request('stats', request, 10_000);
  }

  close(): Promise<unknown> {
    return this.child.request('close', {}, 30_000);
  }
}

/** Anything driven by numbered requests: a bench child, or the go-control-plane peer. */
export interface Requester {
  request<T>(type: string, payload: unknown, timeoutMs: number): Promise<T>;
}

/**
 * The share of one core the client process used over a window (its CPU time / wall time): at
 * this or above, a figure measured through it is client-bound, since a Node process runs its
 * JavaScript on one thread.
 */
export const CLIENT_BOUND_BUSY = 0.85;

/** What a server reports: a Node server all of ProcessStats, the Go peer no event-loop figures. */
export function serverStats(child: Requester, request: StatsRequest = {}): Promise<ProcessStats> {
  return child.request<ProcessStats>('stats', request, 15_000);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
