import { describe, expect, it } from 'vitest';
import { parseDuration, parseDurationMs } from '../../src/config/duration.js';

describe('parseDuration (Go syntax)', () => {
  it.each([
    ['300ms', 300],
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1.5s', 1_500],
    ['1.1s', 1_100], // exact, not 1100.0000000000002
    ['.5s', 500],
    ['1.s', 1_000],
    ['2h45m10.5s', 9_910_500],
    ['30m1h', 5_400_000], // Go accepts components in any order
    ['1500us', 1.5],
    ['1500µs', 1.5], // micro sign U+00B5
    ['1500μs', 1.5], // Greek mu U+03BC
    ['2000000ns', 2],
    ['0', 0],
    ['+5s', 5_000],
    ['-5s', -5_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, ms });
  });

  it.each([
    ['', /empty/],
    ['10', /has no unit/],
    ['s', /expected a number/],
    ['10sec', /unknown unit "sec"/],
    ['10 s', /unknown unit " s"/],
    ['1d', /unknown unit "d"/],
    ['.s', /expected a number/],
    ['ten seconds', /expected a number/],
    ['9999999999h', /too large/],
  ])('rejects %j', (text, reason) => {
    const result = parseDuration(text);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toMatch(reason);
      // Every reason shows the input and an example of what is accepted.
      expect(result.reason).toContain(JSON.stringify(text));
      expect(result.reason).toContain('"10s"');
    }
  });

  it('parseDurationMs returns milliseconds or throws the reason', () => {
    expect(parseDurationMs('2m')).toBe(120_000);
    expect(() => parseDurationMs('2x')).toThrow(/unknown unit "x"/);
  });
});
