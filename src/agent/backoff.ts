/**
 * Exponential backoff with "equal jitter": after the n-th failure in a row, wait between half and
 * all of min(max, initial * 2^(n-1)). Half of it is fixed, so no draw ever makes a tight loop; the
 * random half spreads agents that failed together (a server restart) so they do not come back in
 * step. Times are on an injected clock, so tests need not wait.
 */
import type { Clock } from '../registry/clock.js';

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

export class Backoff {
  private failures = 0;
  private until = -Infinity;

  /** `policy` is read at each failure, so its bounds may follow the lease. */
  constructor(
    private readonly policy: () => BackoffPolicy,
    private readonly clock: Clock,
    private readonly random: () => number = Math.random,
  ) {}

  /** Counts a failure; returns how long to wait before the next attempt. */
  failed(): number {
    this.failures++;
    const { initialMs, maxMs } = this.policy();
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(this.failures - 1, 30));
    const delay = ceiling / 2 + this.random() * (ceiling / 2);
    this.until = this.clock.now() + delay;
    return delay;
  }

  succeeded(): void {
    this.failures = 0;
    this.until = -Infinity;
  }

  /** Failures in a row since the last success. */
  get attempts(): number {
    return this.failures;
  }

  /** When the wait after the last failure ends (server clock ms). */
  get retryAt(): number {
    return this.until;
  }

  waiting(): boolean {
    return this.clock.now() < this.until;
  }
}
