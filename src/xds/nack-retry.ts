/**
 * Contract 12: a version a client NACKed for a cause on its own host (a port taken there) is sent
 * again later, so the client converges once its host is fixed, with no registry change. Capped
 * exponential backoff (1 s, 2 s, 4 s ... at most the cap) keeps it from ever becoming a loop.
 */

/** Timers the retries run on; tests pass a fake clock's. A timer must not keep the process alive. */
export interface RetryTimers {
  /** Runs `run` after `ms`; the function returned cancels it. */
  after(ms: number, run: () => void): () => void;
}

export const realTimers: RetryTimers = {
  after(ms, run) {
    const timer = setTimeout(run, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

const FIRST_RETRY_MS = 1_000;

/** The retries of one resource type on one stream. */
export class NackRetry {
  /** Retries sent since the client last accepted a response of this type. */
  sent = 0;
  /** The timer went off: the next response of this type is the rejected one again. */
  due = false;
  nextAtMs: number | undefined;
  private cancelTimer: (() => void) | undefined;

  constructor(private readonly timers: RetryTimers) {}

  /** Schedules the next retry, `fire` being called when it is due; returns the delay. */
  schedule(nowMs: number, capMs: number, fire: () => void): number {
    this.cancel();
    const delayMs = Math.min(FIRST_RETRY_MS * 2 ** Math.min(this.sent, 30), capMs);
    this.nextAtMs = nowMs + delayMs;
    this.cancelTimer = this.timers.after(delayMs, () => {
      this.cancelTimer = undefined;
      this.nextAtMs = undefined;
      this.due = true;
      fire();
    });
    return delayMs;
  }

  /** A response of this type went out: the retry itself, or a newer version that makes it moot. */
  responded(): void {
    if (this.due) this.sent++;
    this.due = false;
    this.cancel();
  }

  /** The client accepted a response: the backoff starts over. Returns how many retries it took. */
  accepted(): number {
    const took = this.sent;
    this.sent = 0;
    this.due = false;
    this.cancel();
    return took;
  }

  cancel(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.nextAtMs = undefined;
  }
}
