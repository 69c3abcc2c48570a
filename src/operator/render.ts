/**
 * How the operator commands print: aligned tables (columns in a fixed order, two spaces apart,
 * no trailing blanks), JSON with sorted keys (two-space indents, one line under -w), YAML of the
 * same value. Pure, so the rendering is tested apart from the server.
 */
import { stringify as yamlStringify } from 'yaml';
import type { OutputFormat } from './flags.js';

/** A header and rows, every cell one line; '-' stands for nothing. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const clean = rows.map((row) => header.map((_, i) => oneLine(row[i] ?? '') || '-'));
  const widths = header.map((h, i) => Math.max(h.length, ...clean.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...clean.map(line)].join('\n') + '\n';
}

/** A copy with every object's keys sorted (arrays keep their order), for output that diffs cleanly. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key];
    if (v !== undefined) sorted[key] = sortKeys(v);
  }
  return sorted;
}

export function json(value: unknown, compact = false): string {
  return `${JSON.stringify(sortKeys(value), null, compact ? undefined : 2)}\n`;
}

export function yaml(value: unknown): string {
  // Plain YAML 1.2: no anchors and aliases, long lines kept whole.
  return yamlStringify(sortKeys(value), { aliasDuplicateObjects: false, lineWidth: 0 });
}

/** A value as -o json or yaml prints it (table and wide are each command's own). */
export function data(format: Extract<OutputFormat, 'json' | 'yaml'>, value: unknown, compact = false): string {
  return format === 'json' ? json(value, compact) : yaml(value);
}

/** kubectl's short ages: 42s, 5m3s, 3h12m, 2d4h. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

/** The age of a server's ISO time by this host's clock ('-' when there is none). */
export function ageOf(iso: string | undefined | null, nowMs: number): string {
  if (!iso) return '-';
  const at = Date.parse(iso);
  return Number.isNaN(at) ? '-' : age(nowMs - at);
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Control characters (a NACK's newlines) would break a table's row. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
