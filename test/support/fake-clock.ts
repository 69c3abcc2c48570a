import type { Clock } from '../../src/registry/clock.js';

/**
 * A clock that moves only when told, with timers on it (the xDS streams' retry timers take
 * `after`): advance() runs every timer that falls due, in order, each at its own time.
 */
export class FakeClock implements Clock {
  private readonly timers: Array<{ at: number; run: () => void }> = [];

  constructor(public ms = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    const until = this.ms + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.ms = due.at;
      due.run();
    }
    this.ms = until;
  }
  after(ms: number, run: () => void): () => void {
    const timer = { at: this.ms + ms, run };
    this.timers.push(timer);
    return () => {
      const at = this.timers.indexOf(timer);
      if (at >= 0) this.timers.splice(at, 1);
    };
  }
  /** Timers set and neither run nor cancelled. */
  get pendingTimers(): number {
    return this.timers.length;
  }
}
