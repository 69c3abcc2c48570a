/** Percentiles and the formatting of figures, shared by every scenario. */

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** The middle value; the mean of the two middle ones for an even count (so 2 runs are not judged by the better one). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function max(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
}

/** Latency summary of one fan-out: arrival times minus the moment the change was made. */
export interface Spread {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function spread(latencies: readonly number[]): Spread {
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: max(latencies) };
}

/** A number for a table: enough digits to compare, never noise like 12.34567. */
export function fmt(value: number | undefined, unit = ''): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })}${unit}`;
}

export function fmtBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return 'n/a';
  if (Math.abs(bytes) >= 1024 * 1024) return `${fmt(bytes / (1024 * 1024))} MiB`;
  if (Math.abs(bytes) >= 1024) return `${fmt(bytes / 1024)} KiB`;
  return `${fmt(bytes)} B`;
}
