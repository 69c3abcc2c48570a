/** Backoff with equal jitter, on a fake clock. */
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/agent/backoff.js';
import { FakeClock } from '../support/fake-clock.js';

describe('backoff', () => {
  it('doubles up to its ceiling, waiting between half and all of it', () => {
    const clock = new FakeClock();
    const low = new Backoff(() => ({ initialMs: 500, maxMs: 3_000 }), clock, () => 0);
    const high = new Backoff(() => ({ initialMs: 500, maxMs: 3_000 }), clock, () => 0.999999);
    const lows = Array.from({ length: 6 }, () => low.failed());
    const highs = Array.from({ length: 6 }, () => Math.round(high.failed()));
    expect(lows).toEqual([250, 500, 1_000, 1_500, 1_500, 1_500]);
    expect(highs).toEqual([500, 1_000, 2_000, 3_000, 3_000, 3_000]);
    expect(low.attempts).toBe(6);
  });

  it('never waits less than half its step, whatever the draw: no tight loop', () => {
    const clock = new FakeClock();
    const backoff = new Backoff(() => ({ initialMs: 1_000, maxMs: 60_000 }), clock);
    let floor = 500;
    for (let i = 0; i < 20; i++) {
      const delay = backoff.failed();
      expect(delay).toBeGreaterThanOrEqual(floor);
      expect(delay).toBeLessThanOrEqual(Math.min(60_000, floor * 2));
      floor = Math.min(30_000, floor * 2);
    }
  });

  it('spreads agents that failed together', () => {
    const clock = new FakeClock();
    const delays = Array.from({ length: 50 }, () => new Backoff(() => ({ initialMs: 2_000, maxMs: 2_000 }), clock).failed());
    expect(new Set(delays.map((d) => Math.floor(d / 100))).size).toBeGreaterThan(5);
  });

  it('waits on the clock it was given, and starts over after a success', () => {
    const clock = new FakeClock();
    const backoff = new Backoff(() => ({ initialMs: 1_000, maxMs: 8_000 }), clock, () => 0.5);
    expect(backoff.waiting()).toBe(false);
    const delay = backoff.failed();
    expect(delay).toBe(750);
    expect(backoff.retryAt).toBe(clock.now() + 750);
    clock.advance(749);
    expect(backoff.waiting()).toBe(true);
    clock.advance(1);
    expect(backoff.waiting()).toBe(false);
    expect(backoff.failed()).toBe(1_500);
    backoff.succeeded();
    expect(backoff.attempts).toBe(0);
    expect(backoff.waiting()).toBe(false);
    expect(backoff.failed()).toBe(750);
  });

  it('reads its bounds at each failure, so they can follow the lease', () => {
    const clock = new FakeClock();
    let maxMs = 1_000;
    const backoff = new Backoff(() => ({ initialMs: 1_000, maxMs }), clock, () => 0);
    expect(backoff.failed()).toBe(500);
    maxMs = 10_000;
    expect(backoff.failed()).toBe(1_000);
  });
});
