/**
 * Go `time.ParseDuration` syntax ("300ms", "10s", "1m30s", "1.5h"), because the dkvoy seed and
 * Envoy/Consul users write timeouts that way. Arithmetic is done in integer nanoseconds, as Go
 * does, so "1.1s" is exactly 1100 ms rather than a float approximation.
 */

export type DurationResult = { ok: true; ms: number } | { ok: false; reason: string };

const NS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const UNITS_TEXT = 'ns, us, µs, ms, s, m or h';
// Go stores durations in an int64 of nanoseconds; larger values are errors there too.
const MAX_NS = 2n ** 63n - 1n;
const COMPONENT = /^([0-9]*)(?:\.([0-9]*))?([^0-9.]*)/;

export function parseDuration(text: string): DurationResult {
  const quoted = JSON.stringify(text);
  const bad = (why: string): DurationResult => ({
    ok: false,
    reason: `${quoted} is not a duration (${why}); write e.g. "10s", "500ms" or "1m30s"`,
  });
  let rest = text;
  let sign = 1n;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1n;
    rest = rest.slice(1);
  }
  // Go accepts a bare "0" (no unit needed for zero).
  if (rest === '0') return { ok: true, ms: 0 };
  if (rest === '') return bad('it is empty');
  let totalNs = 0n;
  while (rest !== '') {
    const match = COMPONENT.exec(rest);
    const whole = match?.[1] ?? '';
    const fraction = match?.[2];
    const unit = match?.[3] ?? '';
    if (!match || (whole === '' && (fraction === undefined || fraction === ''))) {
      return bad(`expected a number at "${rest}"`);
    }
    if (unit === '') return bad(`the number ${whole}${fraction !== undefined ? `.${fraction}` : ''} has no unit`);
    const unitNs = NS_PER_UNIT[unit];
    if (unitNs === undefined) return bad(`unknown unit "${unit}"; use ${UNITS_TEXT}`);
    let ns = BigInt(whole === '' ? '0' : whole) * unitNs;
    if (fraction) {
      // Truncate below one nanosecond, as Go does.
      ns += (BigInt(fraction) * unitNs) / 10n ** BigInt(fraction.length);
    }
    totalNs += ns;
    if (totalNs > MAX_NS) return bad('it is too large');
    rest = rest.slice(match[0].length);
  }
  // ns -> ms keeps sub-millisecond precision ("1500us" is 1.5 ms).
  return { ok: true, ms: Number(sign * totalNs) / 1e6 };
}

/** Like {@link parseDuration} but throws an Error whose message is the reason. */
export function parseDurationMs(text: string): number {
  const result = parseDuration(text);
  if (!result.ok) throw new Error(result.reason);
  return result.ms;
}
