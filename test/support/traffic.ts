/**
 * A client that opens a new connection through Envoy every few milliseconds and records which
 * node answered, so a scenario can tell when traffic followed a change and whether any of it
 * went astray afterwards.
 */
import { whoAnswers } from './id-nodes.js';

export interface Attempt {
  readonly startedAt: number;
  readonly answer: string | undefined;
  readonly error: string | undefined;
}

export interface Convergence {
  /** From the change to the first connection after it that reached the expected node. */
  readonly convergedMs: number | undefined;
  /** Connections after that point that reached another node, or failed. */
  readonly astrayAfter: number;
  readonly failedAfter: number;
  /** Connections between the change and convergence that failed. */
  readonly failedBefore: number;
  readonly attempts: number;
}

export class TrafficProbe {
  readonly attempts: Attempt[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly port: number, intervalMs = 20, private readonly host = '127.0.0.1') {
    this.timer = setInterval(() => this.attempt(), intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.inFlight);
  }

  /** How traffic followed a change made at `changeAt` towards node `expected`. */
  convergence(changeAt: number, expected: string): Convergence {
    const after = this.attempts.filter((a) => a.startedAt >= changeAt).sort((a, b) => a.startedAt - b.startedAt);
    const first = after.findIndex((a) => a.answer === expected);
    const rest = first < 0 ? [] : after.slice(first + 1);
    return {
      convergedMs: first < 0 ? undefined : after[first]!.startedAt - changeAt,
      astrayAfter: rest.filter((a) => a.answer !== undefined && a.answer !== expected).length,
      failedAfter: rest.filter((a) => a.error !== undefined).length,
      failedBefore: (first < 0 ? after : after.slice(0, first)).filter((a) => a.error !== undefined).length,
      attempts: after.length,
    };
  }

  private attempt(): void {
    const startedAt = Date.now();
    const done = whoAnswers(this.port, this.host, 1_000).then(
      (answer) => void this.attempts.push({ startedAt, answer, error: undefined }),
      (error: Error) => void this.attempts.push({ startedAt, answer: undefined, error: error.message }),
    );
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }
}

/** One line a reader (and bench/RESULTS.md) can pick out of the test output. */
export function printFigure(name: string, figures: object): void {
  console.log(`FIGURE ${name} ${JSON.stringify(figures)}`);
}
