import { fork, type ChildProcess } from 'node:child_process';

/**
 * A heartbeat load on several shardvoy instances sharing one registry, from a process of its own
 * (ha-load-child.ts), as nodes behind a load balancer send it: each node has a home instance and
 * heartbeats every `intervalMs` (spread over the interval); a heartbeat answered 503, refused,
 * reset or timed out is tried at once on the next instance, and the next. Every answer that was
 * not a 200 is kept with its time and instance; every node's first and last 200 are kept, so a
 * test can say which heartbeats were acknowledged and whether a node went a lease without one.
 */
export interface LoadNode {
  readonly body: Record<string, unknown>;
  /** Index of the instance the node tries first. */
  readonly home: number;
}

export interface LoadFailure {
  readonly at: number;
  readonly instance: number;
  /** '503', 'timeout', 'error' (refused, reset), or another status code. */
  readonly kind: string;
  /** The answer's message, digits as N (503s: why the store is unavailable). */
  readonly reason?: string;
}

export interface LoadReport {
  /** [node id, first 200 at, last 200 at] of every node acknowledged at least once. */
  readonly acked: ReadonlyArray<readonly [string, number, number]>;
  /** Non-200 answers since the report's `sinceMs`. */
  readonly failures: readonly LoadFailure[];
  /** Heartbeats since `sinceMs` that no instance answered with 200 (all tried). */
  readonly unanswered: number;
  /** Heartbeats sent since `sinceMs`, and answered 200. */
  readonly sent: number;
  readonly ok: number;
  /** 200s per instance since `sinceMs`. */
  readonly okBy: readonly number[];
  /** The longest time between two 200s of one node, among gaps that ended (or run on) since `sinceMs`. */
  readonly maxGapMs: number;
  readonly maxGapNode: string | undefined;
  /** Answers other than 200 and 503 (a 4xx: the load sent something wrong), since `sinceMs`. */
  readonly unexpected: readonly LoadFailure[];
  /** The commonest refusals since `sinceMs`, "kind reason" -> count. */
  readonly reasons: Readonly<Record<string, number>>;
  /** Nodes acknowledged before `sinceMs`: ms from it to their next 200 (-1: none yet). */
  readonly firstOkAfter: readonly number[];
}

export class HaHeartbeatLoad {
  private readonly child: ChildProcess;
  private nextId = 0;
  private readonly waiting = new Map<number, (value: any) => void>();
  private readonly exited: Promise<void>;

  constructor(instances: readonly string[], nodes: readonly LoadNode[], intervalMs: number, timeoutMs: number) {
    this.child = fork(new URL('./ha-load-child.ts', import.meta.url).pathname, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.on('message', (message: { id: number; value: unknown }) => {
      this.waiting.get(message.id)?.(message.value);
      this.waiting.delete(message.id);
    });
    this.child.send({ type: 'init', instances, nodes, intervalMs, timeoutMs });
  }

  /** More nodes, heartbeating from now on. */
  add(nodes: readonly LoadNode[]): Promise<void> {
    return this.ask({ type: 'add', nodes });
  }

  report(sinceMs = 0): Promise<LoadReport> {
    return this.ask({ type: 'report', sinceMs });
  }

  /** The last answers each of these nodes got ([at, instance, "200" or "kind reason"]), and the times of its last 200s. */
  history(ids: readonly string[]): Promise<Record<string, { answers: Array<[number, number, string]>; oks: number[] }>> {
    return this.ask({ type: 'history', ids });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill();
      await this.exited;
    }
  }

  private ask<T>(message: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ ...message, id });
    });
  }
}
