/**
 * The debouncer on a fake clock (vitest's timers, which move Date.now too): it fires `quietMs`
 * after the last trigger, never later than `maxDelayMs` after the first trigger of a burst, once
 * per burst; flush fires a pending burst now, cancel drops it. The watcher tests check the same
 * in real time, which can only bound it from one side.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Debouncer } from '../../src/watcher/debouncer.js';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
});
afterEach(() => {
  vi.useRealTimers();
});

function counting(quietMs: number, maxDelayMs: number) {
  let fired = 0;
  const debouncer = new Debouncer(quietMs, maxDelayMs, () => fired++);
  return { debouncer, fired: () => fired };
}

describe('Debouncer', () => {
  it('fires quietMs after a single trigger, not a millisecond before, and once', () => {
    const { debouncer, fired } = counting(20, 100);
    debouncer.trigger();
    vi.advanceTimersByTime(19);
    expect(fired()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired()).toBe(1);
    vi.advanceTimersByTime(1_000);
    expect(fired()).toBe(1);
  });

  it('waits for quietMs after the last trigger of a burst', () => {
    const { debouncer, fired } = counting(20, 100);
    debouncer.trigger();
    vi.advanceTimersByTime(15);
    debouncer.trigger();
    vi.advanceTimersByTime(15);
    debouncer.trigger();
    vi.advanceTimersByTime(19); // 49 ms in, 19 after the last
    expect(fired()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired()).toBe(1);
  });

  it('fires maxDelayMs after the first trigger of a steady burst, then starts a new burst', () => {
    const { debouncer, fired } = counting(20, 100);
    for (let t = 0; t < 100; t += 10) {
      debouncer.trigger();
      vi.advanceTimersByTime(10);
    }
    // Triggered at 0, 10, ..., 90: the quiet window never passed, but 100 ms did.
    expect(fired()).toBe(1);
    // The next trigger begins a burst of its own: quietMs, not at once.
    debouncer.trigger();
    vi.advanceTimersByTime(19);
    expect(fired()).toBe(1);
    vi.advanceTimersByTime(1);
    expect(fired()).toBe(2);
  });

  it('fires at maxDelayMs when it is shorter than quietMs', () => {
    const { debouncer, fired } = counting(50, 10);
    debouncer.trigger();
    vi.advanceTimersByTime(9);
    expect(fired()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired()).toBe(1);
  });

  it('flush fires a pending burst now and not again; with nothing pending it fires nothing', () => {
    const { debouncer, fired } = counting(20, 100);
    debouncer.flush();
    expect(fired()).toBe(0);
    debouncer.trigger();
    debouncer.flush();
    expect(fired()).toBe(1);
    vi.advanceTimersByTime(1_000);
    expect(fired()).toBe(1);
    debouncer.flush();
    expect(fired()).toBe(1);
  });

  it('after a flush, a new trigger is a new burst: quietMs, with its own maxDelayMs', () => {
    const { debouncer, fired } = counting(20, 100);
    debouncer.trigger();
    vi.advanceTimersByTime(90);
    debouncer.flush();
    debouncer.trigger(); // at 90; were the old burst kept, it would fire at 100
    vi.advanceTimersByTime(19);
    expect(fired()).toBe(1);
    vi.advanceTimersByTime(1);
    expect(fired()).toBe(2);
  });

  it('cancel drops a pending burst, and the next trigger begins a new one', () => {
    const { debouncer, fired } = counting(20, 100);
    debouncer.trigger();
    debouncer.cancel();
    vi.advanceTimersByTime(1_000);
    expect(fired()).toBe(0);

    debouncer.trigger();
    vi.advanceTimersByTime(10);
    debouncer.cancel();
    vi.advanceTimersByTime(85); // 95 ms after that burst's first trigger
    debouncer.trigger(); // a new burst: quietMs from now, not the old burst's end at 100
    vi.advanceTimersByTime(19);
    expect(fired()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired()).toBe(1);
  });

  it('a burst after a flush or a cancel is timed from its own triggers, not by the timer of the burst before', () => {
    const { debouncer, fired } = counting(20, 100);
    debouncer.trigger(); // its timer would fire at 20
    vi.advanceTimersByTime(5);
    debouncer.flush();
    vi.advanceTimersByTime(5);
    debouncer.trigger(); // at 10: due at 30
    vi.advanceTimersByTime(19);
    expect(fired()).toBe(1);
    vi.advanceTimersByTime(1);
    expect(fired()).toBe(2);

    debouncer.trigger(); // at 30: its timer would fire at 50
    vi.advanceTimersByTime(10);
    debouncer.cancel();
    vi.advanceTimersByTime(5);
    debouncer.trigger(); // at 45: due at 65
    vi.advanceTimersByTime(19);
    expect(fired()).toBe(2);
    vi.advanceTimersByTime(1);
    expect(fired()).toBe(3);
  });

  it('never fires a cancelled burst on flush', () => {
    const { debouncer, fired } = counting(20, 100);
    debouncer.trigger();
    debouncer.cancel();
    debouncer.flush();
    expect(fired()).toBe(0);
  });

  it('leaves no timer holding the process open', () => {
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const { debouncer } = counting(20, 100);
    debouncer.trigger();
    debouncer.trigger();
    const made = timers.mock.results.map((r) => r.value as NodeJS.Timeout);
    timers.mockRestore();
    expect(made).toHaveLength(2);
    expect(made.map((t) => t.hasRef())).toEqual([false, false]);
  });
});
