/**
 * The operator commands' client side on a scripted HTTP server: the event stream's parsing, -w
 * re-rendering on events, polling where there is no stream, a restarted server, and check's
 * second look at a STALE Envoy. In-process and fast; the real server is commands.test.ts's.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient, type EventJson as OperatorEvent } from '../../src/operator/api-client.js';
import { NodesReply } from '../../src/sources/http/response-schemas.js';
import { runCheck } from '../../src/operator/check.js';
import { watchEvents, watchRendering, type WatchIo } from '../../src/operator/watch.js';
import { makeTestPki } from '../support/certs.js';
import { eventually } from '../support/harness.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];
const aborts: AbortController[] = [];

afterEach(async () => {
  for (const abort of aborts.splice(0)) abort.abort();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(handler: Handler): Promise<ApiClient> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return new ApiClient(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`), 'tok', 2000);
}

const event = (id: number): OperatorEvent => ({ id, time: '2026-01-01T00:00:00.000Z', type: 'Normal', reason: 'NodeRegistered', regarding: { kind: 'Node', name: `n${id}` }, message: `node n${id}` });
const sendJson = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

function io(): WatchIo & { printed: string[]; errors: string[] } {
  const abort = new AbortController();
  aborts.push(abort);
  const printed: string[] = [];
  const errors: string[] = [];
  return { out: (t) => printed.push(t), err: (l) => errors.push(l), tty: false, signal: abort.signal, pollMs: 30, reconnectMs: 30, printed, errors };
}

describe('the event stream', () => {
  it('parses Server-Sent Events split anywhere, CRLF or LF, with comments, retry and multi-line data; sends the token', async () => {
    let auth: string | undefined;
    let since: string | null = null;
    const api = await serve((req, res) => {
      auth = req.headers.authorization;
      since = new URL(req.url!, 'http://x').searchParams.get('since');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const text = `retry: 1000\r\n\r\n: keepalive\n\nid: 1\ndata: ${JSON.stringify(event(1))}\n\nid: 2\r\ndata: {"id": 2, "time": "t", "type": "Normal",\r\ndata:  "reason": "NodeExpired", "regarding": {"kind": "Node", "name": "n2"}, "message": "m"}\r\n\r\ndata: not json\n\n`;
      let at = 0;
      const step = () => {
        if (at >= text.length) return void res.end();
        res.write(text.slice(at, (at += 7)));
        setImmediate(step);
      };
      step();
    });
    const seen: OperatorEvent[] = [];
    expect(await api.stream(7, (e) => seen.push(e), new AbortController().signal)).toEqual({ kind: 'ended' });
    expect(seen.map((e) => [e.id, e.reason])).toEqual([
      [1, 'NodeRegistered'],
      [2, 'NodeExpired'],
    ]);
    expect(auth).toBe('Bearer tok');
    expect(since).toBe('7');
  });

  it('a server without the stream answers no-stream', async () => {
    const api = await serve((_req, res) => sendJson(res, 404, { statusCode: 404, error: 'Not Found', message: 'no such endpoint' }));
    expect(await api.stream(0, () => undefined, new AbortController().signal)).toEqual({ kind: 'no-stream', status: 404 });
  });
});

describe('-w', () => {
  it('renders at start and after each burst of events, in order, from the last event read', async () => {
    let stream: ServerResponse | undefined;
    const sinces: string[] = [];
    const api = await serve((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/v1/events') return sendJson(res, 200, { latestId: 4, events: [] });
      sinces.push(url.searchParams.get('since')!);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      stream = res;
    });
    const watch = io();
    let renders = 0;
    void watchRendering(api, 'table', async () => `rendering ${++renders}\n`, watch);
    await eventually(() => expect(stream).toBeDefined(), 2000, 5);
    expect(watch.printed).toEqual([expect.stringMatching(/^# \S+: start\nrendering 1\n$/)]);
    stream!.write(`data: ${JSON.stringify(event(5))}\n\ndata: ${JSON.stringify(event(6))}\n\n`);
    await eventually(() => expect(watch.printed).toHaveLength(2), 2000, 5);
    expect(watch.printed[1]).toMatch(/^# \S+: event 5 NodeRegistered Node\/n5 and more\nrendering 2\n$/);
    expect(sinces).toEqual(['4']);
    expect(watch.errors).toEqual([]);
  });

  it('JSON renderings are one line each', async () => {
    const api = await serve((req, res) => {
      if (req.url!.startsWith('/v1/events?')) return sendJson(res, 200, { latestId: 0, events: [] });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify(event(1))}\n\n`);
    });
    const watch = io();
    void watchRendering(api, 'json', async (compact) => (compact ? '{"a":1}\n' : 'not compact'), watch);
    await eventually(() => expect(watch.printed).toEqual(['{"a":1}\n', '{"a":1}\n']), 2000, 5);
  });

  it('polls where the server has no stream, printing only what changed', async () => {
    const api = await serve((_req, res) => sendJson(res, 404, { statusCode: 404, error: 'Not Found', message: 'no such endpoint' }));
    const watch = io();
    let reads = 0;
    void watchRendering(api, 'table', async () => `rendering ${Math.min(++reads, 3)}\n`, watch);
    await eventually(() => expect(reads).toBeGreaterThanOrEqual(6), 3000, 5);
    expect(watch.printed.map((p) => p.replace(/^# \S+: /, ''))).toEqual(['start\nrendering 1\n', 'poll\nrendering 2\n', 'poll\nrendering 3\n']);
    expect(watch.errors).toEqual(['the server has no event stream; polling every 0.03 s']);
  });

  it('a lost stream is reopened from the last event; a restarted server (ids from 1 again) is rendered afresh', async () => {
    let latestId = 10;
    let first: ServerResponse | undefined;
    const sinces: string[] = [];
    const api = await serve((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/v1/events') return sendJson(res, 200, { latestId, events: [] });
      sinces.push(url.searchParams.get('since')!);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      first ??= res;
    });
    const watch = io();
    let renders = 0;
    const heads = () => watch.printed.map((p) => p.split('\n')[0]!.replace(/^# \S+: /, ''));
    void watchRendering(api, 'table', async () => `rendering ${++renders}\n`, watch);
    await eventually(() => expect(first).toBeDefined(), 2000, 5);
    latestId = 11;
    first!.write(`data: ${JSON.stringify(event(11))}\n\n`);
    await eventually(() => expect(heads()).toEqual(['start', 'event 11 NodeRegistered Node/n11']), 2000, 5);
    // The server restarts: the stream ends, and its events count from 1 again.
    latestId = 2;
    first!.end();
    await eventually(() => expect(heads()).toEqual(['start', 'event 11 NodeRegistered Node/n11', 'the server restarted']), 2000, 5);
    await eventually(() => expect(sinces).toEqual(['10', '2']), 2000, 5);
    expect(watch.errors).toEqual(['event stream ended; reopening it']);
  });
});

describe('events -w', () => {
  it('prints each new event once, from the stream, or from GET /v1/events where there is none', async () => {
    const api = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // A replay of what was already printed (4) is not printed again.
      res.write(`data: ${JSON.stringify(event(4))}\n\ndata: ${JSON.stringify(event(5))}\n\n`);
    });
    const watch = io();
    const printed: number[] = [];
    void watchEvents(api, 4, (e) => printed.push(e.id), watch);
    await eventually(() => expect(printed).toEqual([5]), 2000, 5);

    let polls = 0;
    const polled = await serve((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/v1/events/stream') return sendJson(res, 404, { statusCode: 404, error: 'Not Found', message: 'no such endpoint' });
      const since = Number(url.searchParams.get('since'));
      polls++;
      sendJson(res, 200, { latestId: 7, events: [event(6), event(7)].filter((e) => e.id > since) });
    });
    const fromPolls: number[] = [];
    void watchEvents(polled, 5, (e) => fromPolls.push(e.id), io());
    await eventually(() => expect(polls).toBeGreaterThanOrEqual(3), 2000, 5);
    expect(fromPolls).toEqual([6, 7]);
  });
});

describe('check', () => {
  const cluster = { name: 's0-masters', database: 'default', shard: 's0', role: 'master', endpoints: [{ id: 'm', address: '10.0.0.1:1', dc: null, status: 'active', epoch: 1, health: 'healthy', routed: true, preserved: false, advertised: {}, lastHeartbeatAgeMs: 1, maintenance: null }] };
  const client = (configStatus: string) => ({ streamId: 1, protocol: 'sotw', nodeId: 'e', group: 'g', peer: 'p', connectedSince: 't', types: { cds: { configStatus, lastSentVersion: 'v2', lastAckedVersion: 'v1', subscribed: '*', nackRetries: 0 } } });

  async function checkWith(clientReads: string[]) {
    let reads = 0;
    const api = await serve((req, res) => {
      if (req.url === '/readyz') return sendJson(res, 200, { status: 'ready' });
      if (req.url === '/clusters') return sendJson(res, 200, { version: 'v', clusters: [cluster] });
      if (req.url === '/metrics') return res.end('shardvoy_self_preservation_engaged 0\n');
      return sendJson(res, 200, { clients: [client(clientReads[Math.min(reads++, clientReads.length - 1)]!)] });
    });
    const slept: number[] = [];
    const { report } = await runCheck(api, async (ms) => void slept.push(ms));
    return { report, slept, reads };
  }

  it('looks at a STALE Envoy again a second later: answered by then, it is no problem', async () => {
    expect(await checkWith(['STALE', 'SYNCED'])).toEqual({ report: { healthy: true, problems: [] }, slept: [1000], reads: 2 });
  });

  it('still STALE: a problem', async () => {
    expect(await checkWith(['STALE', 'STALE'])).toEqual({ report: { healthy: false, problems: ['Envoy e (group g, p): cds STALE: sent v2, ACKed v1'] }, slept: [1000], reads: 2 });
  });

  it('a server without /metrics: self-preservation from /clusters alone', async () => {
    const api = await serve((req, res) => {
      if (req.url === '/readyz') return sendJson(res, 200, { status: 'ready' });
      if (req.url === '/clusters') return sendJson(res, 200, { version: 'v', clusters: [{ ...cluster, endpoints: [{ ...cluster.endpoints[0], preserved: true }] }] });
      if (req.url === '/metrics') return sendJson(res, 404, { statusCode: 404, error: 'Not Found', message: 'no such endpoint' });
      return sendJson(res, 200, { clients: [] });
    });
    expect((await runCheck(api)).report.problems).toEqual(['self-preservation engaged: expiry is stopped, 1 node kept routable after the lease ran out (m); POST /v1/registry/resume-expiry ends it']);
  });

  it('an https server whose certificate is not trusted: says so, and how to trust its CA', async () => {
    const pki = makeTestPki();
    const server = createHttpsServer({ cert: pki.pem(pki.serverCert), key: pki.pem(pki.serverKey) }, (_req, res) => sendJson(res, 200, {}));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const api = new ApiClient(new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}/`), undefined, 2000);
    await expect(api.get('v1/nodes', NodesReply)).rejects.toThrow(
      /^GET https:\/\/127\.0\.0\.1:\d+\/v1\/nodes: the server's TLS certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); for a private CA, give its file with --cacert \(or SHARDVOY_CACERT\)$/,
    );
  });

  it("an answer the API's response schema refuses: an error naming the request and the field", async () => {
    const api = await serve((req, res) => (req.url === '/readyz' ? sendJson(res, 200, { status: 'ready' }) : req.url === '/metrics' ? res.end('') : sendJson(res, 200, { version: 'v', clusters: [{ name: 7 }], clients: [] })));
    await expect(runCheck(api)).rejects.toThrow(/^GET http:\/\/127\.0\.0\.1:\d+\/clusters: not an answer of shardvoy's API \(is --server shardvoy\?\): answer\.clusters\[0\]\.database: is required; .*answer\.clusters\[0\]\.name: must be string$/);
  });

  it('a server that is not shardvoy: an error naming the request', async () => {
    const api = await serve((req, res) => (req.url === '/readyz' ? sendJson(res, 200, {}) : res.writeHead(200).end('<html>proxy</html>')));
    await expect(runCheck(api)).rejects.toThrow(/^GET http:\/\/127\.0\.0\.1:\d+\/clusters: 200 with a body that is not JSON \(is --server shardvoy's HTTP API\?\): <html>proxy<\/html>$/);
  });
});
