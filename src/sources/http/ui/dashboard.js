// The shardvoy dashboard (contract 15): Preact and htm, as the ES modules their packages ship,
// served by shardvoy itself. Everything shown comes from GET /clusters, /v1/xds/clients,
// /metrics, /readyz and /v1/events, re-read whenever the event stream says something changed
// (and every few seconds, for heartbeat ages and acknowledgements, which are not events).
import { Component, h, render } from './vendor/preact.mjs';
import htm from './vendor/htm.mjs';
import { EventStream, Unauthorized, getJson, getText, storeToken, storedToken, apiBase } from './live.js';
import { groupsOf, parseMetrics, problemsOf, shardsOf } from './model.js';

const html = htm.bind(h);

const MAX_EVENTS = 200;
const POLL_MS = 2000;
/** After an event, read once more a little later: Envoys ACK what the change made us send. */
const FOLLOW_UP_MS = 600;
const AFTER_ALL = '999999999999999';

function age(ms) {
  if (ms === undefined || ms === null) return '';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

function clock(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour12: false });
}

function short(version) {
  if (!version) return html`<span class="muted">–</span>`;
  return version.length > 14 ? html`<span title=${version}>${version.slice(0, 12)}…</span>` : version;
}

const BADGE = { error: 'bad', stale: 'bad', pending: 'warn', ok: 'ok', idle: 'muted' };

/**
 * What refresh() reads: each endpoint and the part of the state it fills. `urgent` ones are read
 * at once on an event (what a routing change or a NACK changes); the others follow shortly.
 */
const READS = [
  ['clusters', true, async (signal) => ({ clusters: (await getJson('clusters', [], signal)).body })],
  ['clients', true, async (signal) => ({ clients: (await getJson('v1/xds/clients', [], signal)).body.clients })],
  ['metrics', false, async (signal) => ({ metrics: parseMetrics(await getText('metrics', signal)) })],
  [
    'ready',
    false,
    async (signal) => {
      const ready = await getJson('readyz', [503], signal);
      return { ready: ready.status === 200 ? { ready: true } : { ready: false, reason: ready.body.message ?? 'not ready' } };
    },
  ],
];

class Dashboard extends Component {
  constructor() {
    super();
    this.state = {
      auth: 'unknown',
      tokenRefused: false,
      stream: 'connecting',
      clusters: undefined,
      clients: undefined,
      metrics: undefined,
      ready: undefined,
      events: [],
      error: undefined,
      updatedAt: undefined,
    };
    /** Per endpoint, the read running now, and whether an event asked for it. */
    this.inFlight = new Map();
    /** Endpoints to read once more when their running read ends (events came meanwhile). */
    this.again = new Set();
    this.timers = new Set();
  }

  componentDidMount() {
    void this.start();
  }

  componentWillUnmount() {
    this.halt();
  }

  halt() {
    this.stream?.stop();
    this.stream = undefined;
    clearInterval(this.poll);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.followUp = false;
    for (const { controller } of this.inFlight.values()) controller.abort();
    this.inFlight.clear();
    this.again.clear();
  }

  later(fn, ms) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  async start() {
    this.halt();
    try {
      const head = (await getJson(`v1/events?since=${AFTER_ALL}`)).body;
      const recent = (await getJson(`v1/events?since=${Math.max(0, head.latestId - MAX_EVENTS)}`)).body;
      this.setState({ auth: 'ok', tokenRefused: false, events: recent.events.slice().reverse(), error: undefined });
      this.stream = new EventStream({
        lastId: recent.latestId,
        onEvent: (event) => this.onEvent(event),
        onState: (stream) => this.onStreamState(stream),
      });
      this.stream.start();
      this.poll = setInterval(() => this.refresh(), POLL_MS);
    } catch (error) {
      if (error instanceof Unauthorized) return this.needToken();
      this.setState({ error: `cannot reach shardvoy: ${error.message}` });
      this.later(() => void this.start(), POLL_MS);
    }
  }

  needToken() {
    this.halt();
    const refused = storedToken() !== undefined;
    if (refused) storeToken(undefined);
    this.setState({ auth: 'needed', tokenRefused: refused });
  }

  onEvent(event) {
    // The last event's arrival, for devtools and the browser tests (one mark kept, never a pile).
    performance.clearMarks('shardvoy-event');
    performance.mark('shardvoy-event', { detail: { id: event.id, reason: event.reason } });
    this.setState((state) => ({ events: [event, ...state.events].slice(0, MAX_EVENTS) }));
    this.refresh(true);
    if (!this.followUp) {
      this.followUp = true;
      this.later(() => {
        this.followUp = false;
        this.refresh();
      }, FOLLOW_UP_MS);
    }
  }

  onStreamState(stream) {
    if (stream === 'unauthorized') return this.needToken();
    this.setState({ stream });
    // Whatever happened while the stream was down is in the endpoints.
    if (stream === 'live') this.refresh();
  }

  /**
   * Reads the endpoints, each shown as soon as it answers (a slow /metrics never holds back
   * /clusters). On an event (`urgent`), only what it may have changed, at once: a poll of it
   * still running started before the event, so it is dropped and made again; a read already
   * made for an earlier event is followed by one more (a burst of events costs two reads, not
   * one per event). A poll leaves a running read alone.
   */
  refresh(urgent = false) {
    for (const [name, isUrgent, read] of READS) {
      if (urgent && !isUrgent) continue;
      const running = this.inFlight.get(name);
      if (running && !urgent) continue;
      if (running?.urgent) {
        this.again.add(name);
        continue;
      }
      running?.controller.abort();
      void this.read(name, read, urgent);
    }
  }

  async read(name, read, urgent) {
    const controller = new AbortController();
    const entry = { controller, urgent };
    this.inFlight.set(name, entry);
    try {
      const part = await read(controller.signal);
      if (controller.signal.aborted || !this.stream) return;
      this.setState({ ...part, error: undefined, updatedAt: Date.now() });
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error instanceof Unauthorized) this.needToken();
      else this.setState({ error: `cannot reach shardvoy: ${error.message}` });
    } finally {
      if (this.inFlight.get(name) === entry) {
        this.inFlight.delete(name);
        if (this.again.delete(name) && this.stream && !controller.signal.aborted) void this.read(name, read, true);
      }
    }
  }

  useToken(token) {
    storeToken(token.trim());
    this.setState({ auth: 'unknown', tokenRefused: false });
    void this.start();
  }

  forgetToken() {
    storeToken(undefined);
    void this.start();
  }

  render(_props, state) {
    if (state.auth === 'needed') return html`<${TokenForm} refused=${state.tokenRefused} onToken=${(t) => this.useToken(t)} />`;
    const now = Date.now();
    const shards = state.clusters ? shardsOf(state.clusters.clusters) : [];
    const configured = state.metrics ? [...state.metrics.streamsByGroup.keys()] : [];
    const groups = state.clients ? groupsOf(state.clients, configured, now) : [];
    const preservedCount = shards.reduce((n, s) => n + s.preserved, 0);
    const selfPreservation = Boolean(state.metrics?.selfPreservation) || preservedCount > 0;
    const problems = problemsOf({ shards, groups, selfPreservation, preservedCount, ready: state.ready, stream: state.stream });
    const loaded = state.clusters !== undefined;
    return html`
      <header class="top">
        <h1>shardvoy</h1>
        <span class="where">${apiBase.host}</span>
        ${state.clusters && html`<span class="muted">routing version ${short(state.clusters.version)}</span>`}
        <span class=${`stream stream-${state.stream}`} data-stream=${state.stream}>event stream: ${state.stream}</span>
        ${state.updatedAt && html`<span class="muted">read ${new Date(state.updatedAt).toLocaleTimeString([], { hour12: false })}</span>`}
        ${storedToken() && html`<button type="button" class="link" onClick=${() => this.forgetToken()}>forget token</button>`}
      </header>
      ${selfPreservation && html`<div class="banner bad" data-banner="self-preservation">${problems.red[0].text}</div>`}
      ${state.error && html`<div class="banner warn" data-banner="error">${state.error}</div>`}
      ${loaded && html`<${Problems} problems=${problems} />`}
      ${loaded
        ? html`<main class="columns">
            <section class="shards" aria-label="shards">
              <h2>Shards <span class="muted">${shards.length}</span></h2>
              ${shards.map((shard) => html`<${Shard} key=${shard.key} shard=${shard} />`)}
            </section>
            <section class="envoys" aria-label="Envoy groups">
              <h2>Envoy groups <span class="muted">${groups.length}</span></h2>
              ${groups.map((group) => html`<${Group} key=${group.name} group=${group} now=${now} />`)}
            </section>
          </main>`
        : html`<p class="loading">Reading shardvoy…</p>`}
      <${Events} events=${state.events} />
    `;
  }
}

class TokenForm extends Component {
  render({ refused, onToken }) {
    const submit = (event) => {
      event.preventDefault();
      const value = event.currentTarget.elements.token.value;
      if (value.trim()) onToken(value);
    };
    return html`
      <header class="top"><h1>shardvoy</h1><span class="where">${apiBase.host}</span></header>
      <form class="token" onSubmit=${submit} data-form="token">
        <h2>This server needs a read token</h2>
        <p>Enter <code>auth.readToken</code> (or the admin token). It is kept in this browser tab only (sessionStorage) and sent as an <code>Authorization: Bearer</code> header to this server; closing the tab forgets it.</p>
        ${refused && html`<p class="bad-text" data-token="refused">That token was refused.</p>`}
        <input type="password" name="token" autocomplete="off" placeholder="token" aria-label="read token" />
        <button type="submit">Open the dashboard</button>
      </form>
    `;
  }
}

function Problems({ problems }) {
  const { red, amber } = problems;
  const lines = red.filter((p) => p.kind !== 'self-preservation');
  if (lines.length === 0 && amber.length === 0) {
    return html`<section class="problems ok" data-problems="none">Every shard has a routable master and every connected Envoy has acknowledged its configuration.</section>`;
  }
  return html`<section class="problems" aria-label="needs attention">
    ${lines.map((p) => html`<div class="problem bad" data-problem=${p.kind} key=${`${p.kind}/${p.key ?? ''}`}>${p.text}</div>`)}
    ${amber.map((p) => html`<div class="problem warn" data-problem=${p.kind} key=${`${p.kind}/${p.key ?? ''}`}>${p.text}</div>`)}
  </section>`;
}

const PARTS = [
  ['masters', 'master'],
  ['replicas', 'replica'],
  ['fenced', 'fenced'],
  ['expired', 'expired'],
  ['inactive', 'inactive'],
];

function Shard({ shard }) {
  const rows = [];
  for (const [part, label] of PARTS) {
    for (const node of shard[part]) rows.push(html`<${NodeRow} key=${`${part}/${node.id}`} node=${node} part=${label} />`);
  }
  return html`<article class=${`card shard ${shard.noMaster ? 'bad' : ''}`} data-shard=${shard.key} data-state=${shard.noMaster ? 'no-master' : 'ok'}>
    <h3>
      ${shard.key}
      ${shard.noMaster ? html`<span class="badge bad">NO MASTER</span>` : html`<span class="badge ok">master ${shard.masters.map((m) => m.id).join(', ')}</span>`}
      ${shard.preserved > 0 && html`<span class="badge bad">${shard.preserved} kept by self-preservation</span>`}
    </h3>
    ${rows.length
      ? html`<table class="nodes">
          <thead><tr><th>role</th><th>node</th><th>address</th><th>dc</th><th>epoch</th><th>health</th><th>heartbeat</th><th>ports, maintenance</th></tr></thead>
          <tbody>${rows}</tbody>
        </table>`
      : html`<p class="muted">no node has sent a heartbeat for ${shard.clusters.join(', ')}</p>`}
  </article>`;
}

const HEALTH_CLASS = { healthy: 'ok', draining: 'warn', inactive: 'muted', expired: 'bad', fenced: 'bad' };

function NodeRow({ node, part }) {
  const roleText = part === 'master' || part === 'replica' ? part : `${node.role} (${part})`;
  const advertised = Object.entries(node.advertised ?? {});
  return html`<tr class=${`node part-${part}`} data-part=${part} data-node=${node.id}>
    <td>${roleText}</td>
    <td class="id">${node.id}</td>
    <td>${node.address}</td>
    <td>${node.dc ?? html`<span class="muted">–</span>`}</td>
    <td class="num">${node.epoch}</td>
    <td><span class=${`badge ${HEALTH_CLASS[node.health] ?? ''}`}>${node.health}</span>${node.preserved && html` <span class="badge bad" title="its lease ran out; self-preservation keeps it routable">preserved</span>`}</td>
    <td class="num">${age(node.lastHeartbeatAgeMs)}</td>
    <td class="extra">
      ${advertised.map(([group, address]) => html`<span class="port" key=${group}>${group} → ${address ?? 'no free port'}</span>`)}
      ${node.maintenance && html`<span class="badge warn" title=${`since ${node.maintenance.since}`}>maintenance: ${node.maintenance.reason}</span>`}
    </td>
  </tr>`;
}

function Group({ group, now }) {
  const state = group.bad ? 'bad' : group.empty ? 'warn' : 'ok';
  return html`<article class=${`card group ${state}`} data-group=${group.name} data-state=${state}>
    <h3>
      ${group.name || html`<span class="muted">(no group yet)</span>`}
      ${group.empty ? html`<span class="badge warn">no Envoy connected</span>` : html`<span class="muted">${group.clients.length} Envoy${group.clients.length === 1 ? '' : 's'}</span>`}
    </h3>
    ${group.clients.map((client) => html`<${Client} key=${client.streamId} client=${client} now=${now} />`)}
  </article>`;
}

function Client({ client, now }) {
  const nacks = client.types.filter((t) => t.lastNack);
  return html`<div class=${`client ${client.bad ? 'bad' : ''}`} data-client=${client.nodeId ?? ''} data-state=${client.bad ? 'bad' : 'ok'}>
    <div class="client-head">
      <span class="id">${client.nodeId ?? html`<span class="muted">(no node yet)</span>`}</span>
      <span class="muted">${client.protocol} · ${client.peer} · connected ${age(now - Date.parse(client.connectedSince))} ago</span>
    </div>
    <table class="types">
      <thead><tr><th>type</th><th>status</th><th>acked</th><th>sent</th><th></th></tr></thead>
      <tbody>
        ${client.types.map(
          (t) => html`<tr key=${t.type} data-type=${t.type} data-status=${t.configStatus}>
            <td>${t.type}</td>
            <td><span class=${`badge ${BADGE[t.state]}`}>${t.configStatus}</span></td>
            <td>${short(t.lastAckedVersion)}</td>
            <td>${short(t.lastSentVersion)}</td>
            <td class="muted">${t.nackRetries > 0 ? `resent ${t.nackRetries}×` : ''}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${nacks.map(
      (t) => html`<div class=${`nack ${t.state === 'error' ? 'bad' : 'muted'}`} key=${t.type} data-nack=${t.type}>
        <div>${t.state === 'error' ? 'NACK' : 'last NACK (since accepted)'} of ${t.type} version ${short(t.lastNack.version)} at ${clock(t.lastNack.at)}:</div>
        <pre>${t.lastNack.message}</pre>
      </div>`,
    )}
  </div>`;
}

function Events({ events }) {
  return html`<section class="events" aria-label="events">
    <h2>Events <span class="muted">live, newest first</span></h2>
    ${events.length === 0
      ? html`<p class="muted">no event since this instance started</p>`
      : html`<div class="event-scroll"><table class="event-list">
          <tbody>
            ${events.map(
              (e) => html`<tr key=${`${e.id}/${e.time}`} class=${e.type === 'Warning' ? 'warn' : ''} data-event=${e.reason}>
                <td class="num muted">${e.id}</td>
                <td class="muted">${clock(e.time)}</td>
                <td>${e.reason}</td>
                <td class="muted">${e.regarding?.kind} ${e.regarding?.name}</td>
                <td>${e.message}</td>
              </tr>`,
            )}
          </tbody>
        </table></div>`}
  </section>`;
}

render(html`<${Dashboard} />`, document.getElementById('app'));
