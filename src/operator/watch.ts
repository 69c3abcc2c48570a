/**
 * `-w`: a new rendering on every event of the server's stream (GET /v1/events/stream), bursts
 * within 100 ms rendered once; where the server has no stream, a poll every 2 s that prints
 * only what changed. Table renderings start with a `# TIME: why` line (on a terminal the screen
 * is cleared first); JSON ones are one line each; YAML ones one document each. A lost stream is
 * reopened after a second, from the last event seen; a restarted server is rendered afresh.
 */
import { EventsReply } from '../sources/http/response-schemas.js';
import { ApiError, type ApiClient, type EventJson } from './api-client.js';
import type { OutputFormat } from './flags.js';

export const DEBOUNCE_MS = 100;
export const POLL_MS = 2000;
export const RECONNECT_MS = 1000;
/** The highest id GET /v1/events takes: nothing is above it, so the answer is just latestId. */
const NEWEST = '999999999999999';

export interface WatchIo {
  readonly out: (text: string) => void;
  readonly err: (line: string) => void;
  readonly tty: boolean;
  readonly signal: AbortSignal;
  /** Tests shorten these; POLL_MS and RECONNECT_MS otherwise. */
  readonly pollMs?: number;
  readonly reconnectMs?: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

export function describeEvent(event: EventJson): string {
  return `event ${event.id} ${event.reason} ${event.regarding.kind}/${event.regarding.name}`;
}

/** The latest event id, or undefined from a server without events. */
async function latestEventId(api: ApiClient): Promise<number | undefined> {
  try {
    return (await api.get(`v1/events?since=${NEWEST}`, EventsReply)).latestId;
  } catch (error) {
    if (error instanceof ApiError && error.statusCode === 404) return undefined;
    throw error;
  }
}

/**
 * Renders with `render` now and after every event until `io.signal` aborts. The first reading
 * fails the command (the caller exits 2); later failures are reported and retried.
 */
export async function watchRendering(api: ApiClient, format: OutputFormat, render: (compact: boolean) => Promise<string>, io: WatchIo): Promise<void> {
  const frame = (text: string, why: string): string => {
    if (format === 'json') return text;
    if (format === 'yaml') return `---\n${text}`;
    return `${io.tty ? '\x1b[H\x1b[2J' : ''}# ${new Date().toISOString()}: ${why}\n${text}`;
  };
  let last: string | undefined;
  const show = async (why: string, onlyIfChanged = false) => {
    const text = await render(true);
    if (onlyIfChanged && text === last) return;
    last = text;
    io.out(frame(text, why));
  };

  let lastId = await latestEventId(api);
  await show('start');
  if (lastId === undefined) return poll(show, io);

  let pending: NodeJS.Timeout | undefined;
  let rendering = Promise.resolve();
  let why = '';
  const onEvent = (event: EventJson) => {
    lastId = event.id;
    why = why === '' ? describeEvent(event) : `${why} and more`;
    if (pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      const reason = why;
      why = '';
      // One rendering at a time, in order: a slow read never overtakes a later one.
      rendering = rendering.then(() => show(reason)).catch((error: Error) => io.err(error.message));
    }, DEBOUNCE_MS);
  };
  let failing = false;
  while (!io.signal.aborted) {
    try {
      const end = await api.stream(lastId, onEvent, io.signal);
      if (end.kind === 'no-stream') return poll(show, io);
      if (io.signal.aborted) break;
      io.err('event stream ended; reopening it');
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (!failing) io.err(`${error.message}; trying again every ${RECONNECT_MS / 1000} s`);
      failing = true;
      await sleep(io.reconnectMs ?? RECONNECT_MS, io.signal);
      continue;
    }
    await sleep(io.reconnectMs ?? RECONNECT_MS, io.signal);
    try {
      // Event ids start again at 1 in a new process: a restarted server is read afresh.
      const latest = await latestEventId(api);
      if (latest !== undefined && latest < lastId) {
        lastId = latest;
        // This rendering shows all the old stream's last events would have.
        clearTimeout(pending);
        pending = undefined;
        why = '';
        await (rendering = rendering.then(() => show('the server restarted')));
      } else if (failing) {
        await (rendering = rendering.then(() => show('reconnected')));
      }
      failing = false;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (!failing) io.err(`${error.message}; trying again every ${RECONNECT_MS / 1000} s`);
      failing = true;
    }
  }
  clearTimeout(pending);
}

async function poll(show: (why: string, onlyIfChanged: boolean) => Promise<void>, io: WatchIo): Promise<void> {
  io.err(`the server has no event stream; polling every ${(io.pollMs ?? POLL_MS) / 1000} s`);
  while (!io.signal.aborted) {
    await sleep(io.pollMs ?? POLL_MS, io.signal);
    if (io.signal.aborted) break;
    try {
      await show('poll', true);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      io.err(error.message);
    }
  }
}

/** `events -w`: each new event as it comes, from the stream (or by polling GET /v1/events). */
export async function watchEvents(api: ApiClient, since: number, print: (event: EventJson) => void, io: WatchIo): Promise<void> {
  let lastId = since;
  const onEvent = (event: EventJson) => {
    if (event.id <= lastId) return;
    lastId = event.id;
    print(event);
  };
  let failing = false;
  while (!io.signal.aborted) {
    try {
      const end = await api.stream(lastId, onEvent, io.signal);
      if (end.kind === 'no-stream') {
        const answer = await api.get(`v1/events?since=${lastId}`, EventsReply);
        for (const event of answer.events) onEvent(event);
        await sleep(io.pollMs ?? POLL_MS, io.signal);
        continue;
      }
      if (io.signal.aborted) break;
      io.err('event stream ended; reopening it');
      failing = false;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (!failing) io.err(`${error.message}; trying again every ${RECONNECT_MS / 1000} s`);
      failing = true;
    }
    await sleep(io.reconnectMs ?? RECONNECT_MS, io.signal);
    try {
      const latest = await latestEventId(api);
      if (latest !== undefined && latest < lastId) {
        io.err('the server restarted: its events count from 1 again');
        lastId = 0;
      }
    } catch {
      // Reported by the next attempt to open the stream.
    }
  }
}
