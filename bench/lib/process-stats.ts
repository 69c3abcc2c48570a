/**
 * What a server child reports about itself: RSS, and the event-loop delay since the last reset.
 * The delay histogram is how a long synchronous stretch (a rebuild, a fan-out loop, a burst of
 * new streams) shows up: as the longest time the loop could not run anything else.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface ProcessStats {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Longest event-loop delay since the last reset, ms. */
  readonly eventLoopMaxMs: number;
  readonly eventLoopP99Ms: number;
  /** CPU time used since the process started (user + system), ms. */
  readonly cpuMs: number;
}

export interface StatsRequest {
  /** Reset the delay histogram after reading it. */
  readonly reset?: boolean;
  /** Run a full GC first (the child must run with --expose-gc), so RSS is not inflated by garbage. */
  readonly gc?: boolean;
}

const NS_PER_MS = 1e6;

export function processStatsMonitor(): (request?: StatsRequest) => Promise<ProcessStats> {
  // 5 ms resolution: fine enough to see a 200 ms stall, coarse enough to cost nothing.
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  return async (request = {}) => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (request.gc && gc) {
      gc();
      // Let freed pages go back before RSS is read.
      await new Promise((resolve) => setTimeout(resolve, 50));
      gc();
    }
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    const stats: ProcessStats = {
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      eventLoopMaxMs: histogram.count === 0 ? 0 : histogram.max / NS_PER_MS,
      eventLoopP99Ms: histogram.count === 0 ? 0 : histogram.percentile(99) / NS_PER_MS,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
    if (request.reset) histogram.reset();
    return stats;
  };
}

/** An absolute time in ms with sub-ms precision, comparable between processes of one machine. */
export function nowAbs(): number {
  return performance.timeOrigin + performance.now();
}
