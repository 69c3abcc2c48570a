/**
 * Coalesces bursts: fires `quietMs` after the last trigger, but never later than `maxDelayMs`
 * after the first trigger of the burst, so a steady stream of changes cannot starve updates.
 */
export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  private burstStartedAt: number | undefined;

  constructor(
    private readonly quietMs: number,
    private readonly maxDelayMs: number,
    private readonly fire: () => void,
  ) {}

  trigger(): void {
    const now = Date.now();
    this.burstStartedAt ??= now;
    const latest = this.burstStartedAt + this.maxDelayMs;
    const delay = Math.max(0, Math.min(this.quietMs, latest - now));
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), delay);
    this.timer.unref();
  }

  /** Fires now if a burst is pending. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    const pending = this.burstStartedAt !== undefined;
    this.timer = undefined;
    this.burstStartedAt = undefined;
    if (pending) this.fire();
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.burstStartedAt = undefined;
  }
}
