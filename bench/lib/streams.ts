/**
 * The orchestrator's side of bench/clients/ads-streams.ts: typed requests, and the fallback the
 * issue allows (10 streams per connection) should one connection per stream prove impossible.
 */
import os from 'node:os';
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

/**
 * The bench's ADS clients, spread over one or more client processes (`children`): each holds an
 * even share of the streams, so that no one process's event loop sets the pace of a figure.
 */
export class AdsClients {
  /**
   * The EDS names every stream subscribes to: the group's load assignments, as an Envoy of the
   * group asks for them (go-control-plane's ADS mode answers only a request naming every one).
   */
  names: readonly string[] | undefined;
  private readonly children: readonly Child<unknown>[];

  constructor(
    children: Child<unknown> | readonly Child<unknown>[],
    private readonly log: (line: string) => void,
  ) {
    this.children = Array.isArray(children) ? children : [children as Child<unknown>];
  }

  get processes(): number {
    return this.children.length;
  }

  /** count streams split evenly over the processes, the first ones taking the remainder. */
  private shares(count: number): number[] {
    const k = this.children.length;
    return this.children.map((_, i) => Math.floor(count / k) + (i < count % k ? 1 : 0));
  }

  /** Opens `count` streams, one connection each; falls back to 10 per connection if over 1% fail. */
  async open(address: string, count: number, protocol: Protocol, waveSize: number): Promise<OpenResult> {
    const timeoutMs = 30_000 + count * 20;
    const shares = this.shares(count);
    const wave = Math.max(1, Math.ceil(waveSize / this.children.length));
    for (const streamsPerConnection of [1, 10]) {
      const results = await Promise.all(
        this.children.map((child, i) =>
          child.request<Omit<OpenResult, 'streamsPerConnection'>>(
            'open',
            { address, count: shares[i], protocol, group: GROUP, streamsPerConnection, waveSize: wave, timeoutMs, ...(this.names ? { names: this.names } : {}) },
            timeoutMs + 10_000,
          ),
        ),
      );
      const result = {
        ms: Math.max(...results.map((r) => r.ms)),
        ready: sum(results.map((r) => r.ready)),
        failed: sum(results.map((r) => r.failed)),
        retries: sum(results.map((r) => r.retries)),
        errors: results.flatMap((r) => r.errors).slice(0, 5),
      };
      if (result.failed <= count * 0.01) return { ...result, streamsPerConnection };
      this.log(`  ${result.failed} of ${count} streams failed with one connection each (${result.errors.join('; ')}); retrying with 10 streams per connection`);
    }
    throw new Error(`could not open ${count} ${protocol} streams to ${address}, even 10 per connection`);
  }

  async arm(): Promise<{ armed: number }> {
    const each = await Promise.all(this.children.map((child) => child.request<{ armed: number }>('arm', {}, 10_000)));
    return { armed: sum(each.map((e) => e.armed)) };
  }

  async collect(timeoutMs: number): Promise<{ arrivals: number[]; missing: number }> {
    const each = await Promise.all(this.children.map((child) => child.request<{ arrivals: number[]; missing: number }>('collect', { timeoutMs }, timeoutMs + 10_000)));
    return { arrivals: each.flatMap((e) => e.arrivals), missing: sum(each.map((e) => e.missing)) };
  }

  /** Every process storms at once; the time runs from the first one's start to the last first response. */
  async storm(timeoutMs: number): Promise<StormResult> {
    const each = await Promise.all(
      this.children.map((child) => child.request<StormResult & { startedAt: number }>('storm', { timeoutMs }, timeoutMs + 10_000)),
    );
    const start = Math.min(...each.map((e) => e.startedAt));
    return {
      ms: Math.max(...each.map((e) => e.startedAt + e.ms)) - start,
      served: sum(each.map((e) => e.served)),
      missing: sum(each.map((e) => e.missing)),
      retries: sum(each.map((e) => e.retries)),
      errors: each.flatMap((e) => e.errors).slice(0, 5),
    };
  }

  /** CPU time used so far by each client process, ms. */
  cpuMs(): Promise<number[]> {
    return Promise.all(this.children.map((child) => child.request<ProcessStats>('stats', {}, 10_000).then((s) => s.cpuMs)));
  }

  async close(): Promise<unknown> {
    return Promise.all(this.children.map((child) => child.request('close', {}, 30_000)));
  }
}

/** The client processes' CPU over a window: their total, and the busiest one's share of a core. */
export interface ClientCpu {
  readonly totalMs: number;
  readonly busiest: number;
}

export function clientCpu(before: readonly number[], after: readonly number[], windowMs: number): ClientCpu {
  const deltas = after.map((a, i) => a - (before[i] ?? 0));
  return { totalMs: sum(deltas), busiest: windowMs > 0 ? Math.max(...deltas) / windowMs : 0 };
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** Anything driven by numbered requests: a bench child, or the go-control-plane peer. */
export interface Requester {
  request<T>(type: string, payload: unknown, timeoutMs: number): Promise<T>;
}

/**
 * The share of one core a client process used over a window (its CPU time / wall time): when
 * the busiest one is at this or above, a figure measured through it is client-bound, since a Node
 * process runs its JavaScript on one thread.
 */
export const CLIENT_BOUND_BUSY = 0.85;

/**
 * A note when the machine had more runnable work than cores while a scenario ran (its 1-minute
 * load average): processes then wait for a core, every CPU share falls, and a figure can be
 * machine-bound without any client process reaching the client-bound share.
 */
export function contentionNote(loadAtStart: number): string | undefined {
  const cores = os.cpus().length;
  const load = Math.max(loadAtStart, os.loadavg()[0] ?? 0);
  if (load <= cores) return undefined;
  return (
    `The machine was contended: a load average of up to ${load.toFixed(1)} on ${cores} cores (other work besides the bench), so every ` +
    'process waited for a core; the client shares are low because of that, and the figures (of every server alike) are machine-bound, not client-bound.'
  );
}

/** What a server reports: a Node server all of ProcessStats, the Go peer no event-loop figures. */
export function serverStats(child: Requester, request: StatsRequest = {}): Promise<ProcessStats> {
  return child.request<ProcessStats>('stats', request, 15_000);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
