/**
 * `shardvoy events [--since ID]`: the retained events (GET /v1/events), oldest first; under -w
 * each new one as it comes (a row, or one JSON line, or one YAML document).
 */
import { EventsReply } from '../sources/http/response-schemas.js';
import type { ApiClient, EventJson } from './api-client.js';
import type { OutputFormat } from './flags.js';
import { ageOf, data, table } from './render.js';
import type { EventsAnswer } from './server-view.js';

export async function readEvents(api: ApiClient, since: number | undefined): Promise<EventsAnswer> {
  const answer = await api.get(`v1/events?since=${since ?? 0}`, EventsReply);
  return { latestId: answer.latestId, events: [...answer.events].sort((a, b) => a.id - b.id) };
}

export const EVENT_HEADER = ['ID', 'AGE', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'];
const WIDE_HEADER = [...EVENT_HEADER, 'TIME'];

function row(event: EventJson, wide: boolean, nowMs: number): string[] {
  return [String(event.id), ageOf(event.time, nowMs), event.type, event.reason, `${event.regarding.kind}/${event.regarding.name}`, event.message, ...(wide ? [event.time] : [])];
}

export function renderEvents(answer: EventsAnswer, format: OutputFormat, nowMs: number): string {
  if (format === 'json' || format === 'yaml') return data(format, answer);
  const wide = format === 'wide';
  return table(wide ? WIDE_HEADER : EVENT_HEADER, answer.events.map((e) => row(e, wide, nowMs)));
}

/**
 * One event under -w. Table rows are padded to the widths of the header only (later rows cannot
 * widen earlier ones); JSON is one line per event; YAML one document per event.
 */
export function renderWatchedEvent(event: EventJson, format: OutputFormat, nowMs: number, widths: number[]): string {
  if (format === 'json') return data('json', event, true);
  if (format === 'yaml') return `---\n${data('yaml', event)}`;
  const cells = row(event, format === 'wide', nowMs);
  return `${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()}\n`;
}

/** The column widths of the first rendering, which the watched rows keep to. */
export function eventWidths(answer: EventsAnswer, format: OutputFormat, nowMs: number): number[] {
  const wide = format === 'wide';
  const header = wide ? WIDE_HEADER : EVENT_HEADER;
  const rows = answer.events.map((e) => row(e, wide, nowMs));
  return header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
}
