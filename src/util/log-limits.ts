/**
 * Issue 11: what a client sends must not decide how much shardvoy logs. Strings a client chose
 * (node ids, NACK messages, ids refused by a full registry) are cut to a few hundred characters
 * and say how long they were; warnings a client can repeat at will are written at most once per
 * key and interval, with the number of lines left out since.
 */
/** What a line is written to: pino's logger, or Fastify's request logger. */
export interface LineLogger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export const LOG_STRING_MAX = 128;
export const REPEAT_INTERVAL_MS = 10_000;
/** Keys remembered at once; past it the oldest are forgotten (their counts are flushed first). */
const MAX_KEYS = 1_000;

/** `value` itself if short, else its first `max` characters and how long it was. */
export function truncateForLog(value: string, max = LOG_STRING_MAX): string {
  if (value.length <= max) return value;
  return `${value.slice(0, max)}… (${value.length} characters)`;
}

interface KeyState {
  readonly windowStartMs: number;
  suppressed: number;
  timer: NodeJS.Timeout | undefined;
}

export type LogLevel = 'warn' | 'info' | 'error';

/** At most one line per key per interval; the next line (or a summary at the interval's end) counts the rest. */
export class RepeatLimiter {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly intervalMs = REPEAT_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  log(logger: LineLogger, level: LogLevel, key: string, fields: object, message: string): void {
    const now = this.now();
    const state = this.keys.get(key);
    if (state && now - state.windowStartMs < this.intervalMs) {
      state.suppressed++;
      if (!state.timer) {
        state.timer = setTimeout(() => this.summarize(logger, level, key, message), this.intervalMs - (now - state.windowStartMs));
        state.timer.unref();
      }
      return;
    }
    const suppressed = state?.suppressed ?? 0;
    if (state?.timer) clearTimeout(state.timer);
    this.keys.delete(key);
    if (this.keys.size >= MAX_KEYS) this.forgetOldest(logger, level);
    this.keys.set(key, { windowStartMs: now, suppressed: 0, timer: undefined });
    logger[level](suppressed > 0 ? { ...fields, suppressed } : fields, message);
  }

  private summarize(logger: LineLogger, level: LogLevel, key: string, message: string): void {
    const state = this.keys.get(key);
    if (!state || state.suppressed === 0) return;
    const suppressed = state.suppressed;
    // A new window starts now: the next line is written and counts from here.
    this.keys.set(key, { windowStartMs: this.now(), suppressed: 0, timer: undefined });
    logger[level]({ suppressed, intervalMs: this.intervalMs }, `${message} (${suppressed} more like this in the last ${this.intervalMs / 1000} s)`);
  }

  private forgetOldest(logger: LineLogger, level: LogLevel): void {
    const [oldest, state] = this.keys.entries().next().value as [string, KeyState];
    if (state.timer) clearTimeout(state.timer);
    this.keys.delete(oldest);
    if (state.suppressed > 0) logger[level]({ suppressed: state.suppressed, key: truncateForLog(oldest) }, 'repeated log lines suppressed');
  }
}
