import { fork, type ChildProcess } from 'node:child_process';

/**
 * A steady heartbeat load that times every answer: `count` nodes heartbeat every `intervalMs`
 * (spread over the interval), and each heartbeat's latency is kept, so a scenario can say what
 * the p99 was while something else went on. A heartbeat that fails or times out counts as its
 * timeout.
 */
export interface LatencyFigures {
  readonly count: number;
  readonly failed: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export class HeartbeatLoad {
  private readonly samples: { at: number; ms: number; ok: boolean }[] = [];
  private readonly timer: NodeJS.Timeout;
  private next = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly bodies: readonly Record<string, unknown>[],
    intervalMs = 1_000,
    private readonly timeoutMs = 2_000,
  ) {
    const tickMs = 20;
    const perTick = Math.max(1, Math.ceil((bodies.length * tickMs) / intervalMs));
    this.timer = setInterval(() => {
      for (let i = 0; i < perTick; i++) void this.beat(this.bodies[this.next++ % this.bodies.length]!);
    }, tickMs);
  }

  /** Latency figures of the heartbeats sent since `sinceMs`. */
  figures(sinceMs = 0): LatencyFigures {
    const taken = this.samples.filter((s) => s.at >= sinceMs);
    const sorted = taken.map((s) => s.ms).sort((a, b) => a - b);
    const at = (q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
    return { count: sorted.length, failed: taken.filter((s) => !s.ok).length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? 0 };
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async beat(body: Record<string, unknown>): Promise<void> {
    const at = Date.now();
    let ok = false;
    try {
      const response = await fetch(`${this.baseUrl}/v1/heartbeat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await response.arrayBuffer();
      ok = response.ok;
    } catch {
      ok = false;
    }
    this.samples.push({ at, ms: ok ? Date.now() - at : this.timeoutMs, ok });
  }
}

/** The resident set size of a process, from /proc/<pid>/status (VmRSS), in bytes. */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Samples a process's RSS every `intervalMs` until stopped; `peak` is the highest seen. */
export class RssSampler {
  peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(pid: number, intervalMs = 100) {
    this.timer = setInterval(() => {
      void rssOf(pid).then(
        (rss) => (this.peak = Math.max(this.peak, rss)),
        () => undefined,
      );
    }, intervalMs);
  }

  stop(): number {
    clearInterval(this.timer);
    return this.peak;
  }
}

/**
 * The same load from a process of its own, so what the test process does (the attacks' clients)
 * does not show in the latencies. `figures(since)` asks it over IPC.
 */
export class HeartbeatLoadProcess {
  private readonly child: ChildProcess;
  private nextId = 0;
  private readonly waiting = new Map<number, (figures: LatencyFigures) => void>();

  constructor(baseUrl: string, bodies: readonly Record<string, unknown>[], intervalMs = 1_000) {
    this.child = fork(new URL('./heartbeat-load-child.ts', import.meta.url).pathname, [baseUrl, JSON.stringify(bodies), String(intervalMs)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: { id: number; figures: LatencyFigures }) => {
      this.waiting.get(message.id)?.(message.figures);
      this.waiting.delete(message.id);
    });
  }

  figures(sinceMs = 0): Promise<LatencyFigures> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ id, sinceMs });
    });
  }

  stop(): void {
    this.child.kill();
  }
}
