// What the dashboard reads from the server: the endpoints the CLI reads, with the read token when
// the server asks for one. The token is kept in this tab's sessionStorage and sent only as an
// Authorization header, never in a URL; the event stream is read with fetch() rather than
// EventSource for that reason (EventSource cannot send a header), with EventSource's rules:
// `retry:` honoured, resumed after the last id with Last-Event-ID.

const TOKEN_KEY = 'shardvoy.readToken';

/** The server's root: the page is served at <root>/ui/. */
export const apiBase = new URL('../', location.href);

export class Unauthorized extends Error {}

export function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || undefined;
  } catch {
    return undefined;
  }
}

export function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused (a locked-down browser): the token lasts until the page is reloaded.
  }
  memoryToken = token || undefined;
}

let memoryToken;

function headers(extra) {
  const token = storedToken() ?? memoryToken;
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

async function get(path, accept, signal) {
  const response = await fetch(new URL(path, apiBase), { headers: headers({ accept }), cache: 'no-store', credentials: 'omit', signal });
  if (response.status === 401) throw new Unauthorized(`GET /${path}: 401`);
  return response;
}

/** GET a JSON endpoint; a status in `allow` is returned rather than thrown. */
export async function getJson(path, allow = [], signal = undefined) {
  const response = await get(path, 'application/json', signal);
  if (!response.ok && !allow.includes(response.status)) throw new Error(`GET /${path}: ${response.status} ${(await response.text()).slice(0, 200)}`);
  return { status: response.status, body: await response.json() };
}

export async function getText(path, signal = undefined) {
  const response = await get(path, 'text/plain', signal);
  if (!response.ok) throw new Error(`GET /${path}: ${response.status}`);
  return response.text();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * GET /v1/events/stream, kept open: each event to `onEvent`, the connection's state
 * (connecting, live, reconnecting, unauthorized) to `onState`. Resumes after `lastId`.
 */
export class EventStream {
  constructor({ lastId, onEvent, onState }) {
    this.lastId = lastId;
    this.onEvent = onEvent;
    this.onState = onState;
    this.retryMs = 1000;
    this.stopped = false;
    this.controller = undefined;
  }

  start() {
    void this.loop();
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
  }

  async loop() {
    let first = true;
    while (!this.stopped) {
      this.onState(first ? 'connecting' : 'reconnecting');
      first = false;
      try {
        this.controller = new AbortController();
        const h = headers({ accept: 'text/event-stream' });
        if (this.lastId !== undefined) h['last-event-id'] = String(this.lastId);
        const response = await fetch(new URL('v1/events/stream', apiBase), { headers: h, cache: 'no-store', credentials: 'omit', signal: this.controller.signal });
        if (response.status === 401) {
          this.onState('unauthorized');
          return;
        }
        if (!response.ok || !response.body) throw new Error(`event stream: ${response.status}`);
        this.onState('live');
        await this.read(response.body);
      } catch {
        // Dropped or refused: try again after `retry`, as EventSource would.
      }
      if (this.stopped) return;
      this.onState('reconnecting');
      await sleep(this.retryMs);
    }
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done || this.stopped) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        this.dispatch(block);
      }
    }
  }

  dispatch(block) {
    let id;
    const data = [];
    for (const raw of block.split('\n')) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
      else if (field === 'retry' && /^[0-9]+$/.test(value)) this.retryMs = Number(value);
    }
    if (id !== undefined && /^[0-9]+$/.test(id)) this.lastId = Number(id);
    if (data.length === 0) return;
    let event;
    try {
      event = JSON.parse(data.join('\n'));
    } catch {
      return;
    }
    this.onEvent(event);
  }
}
