/**
 * N ADS streams held the way N Envoys would hold them: each on its own HTTP/2 connection (its own
 * grpc-js channel with a local subchannel pool), node.id = the group, subscribed to the EDS of
 * `shard0-masters` only, ACKing every response. Runs in its own process, apart from the server
 * under test. Responses are never decoded: version, type and nonce are read off the wire.
 *
 * IPC requests:
 *   open    {address, count, protocol, group, streamsPerConnection, waveSize, timeoutMs, names?}
 *             -> {ms, ready, failed, retries}: every stream holds its first response
 *   arm     {} -> {armed}: the next response of each stream will be timed
 *   collect {timeoutMs} -> {arrivals (absolute ms), missing}
 *   storm   {timeoutMs} -> {startedAt, ms, served, missing, retries}: cancel every stream and connection,
 *             reopen them all at once, time until every stream holds a first response again
 *   close   {} -> {}
 */
import * as grpc from '@grpc/grpc-js';
import { CLUSTER_NAME, EDS_TYPE_URL } from '../lib/eds-fixture.js';
import { serveParent } from '../lib/ipc.js';
import { nowAbs, processStatsMonitor, type StatsRequest } from '../lib/process-stats.js';
import { checkWire } from '../lib/wire-check.js';
import { encodeDeltaRequest, encodeSotwRequest, scanResponse, type ScannedResponse } from '../lib/wire.js';

type Protocol = 'sotw' | 'delta';

const PATHS: Record<Protocol, string> = {
  sotw: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
  delta: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
};

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // One connection per channel, as one Envoy has one connection to its control plane.
  'grpc.use_local_subchannel_pool': 1,
  // channelz keeps trace events per channel: thousands of channels would cost the client CPU
  // and memory that has nothing to do with the server under test.
  'grpc.enable_channelz': 0,
};

const identity = (bytes: Buffer): Buffer => bytes;

interface OpenRequest {
  readonly address: string;
  readonly count: number;
  readonly protocol: Protocol;
  readonly group: string;
  /** 1 = one connection per stream (as Envoys); more only as a fallback. */
  readonly streamsPerConnection: number;
  /** Streams opened together before waiting for their first responses (the initial open only). */
  readonly waveSize: number;
  readonly timeoutMs: number;
  /** The EDS names each stream subscribes to; shard0-masters alone when absent. */
  readonly names?: readonly string[];
}

/** The names of the current open request (go-control-plane's ADS mode answers only when a request names every EDS resource of its snapshot). */
let subscribed: readonly string[] = [CLUSTER_NAME];

/**
 * ACKs are written on the next turn of the event loop, so that every response already read off
 * the sockets is timestamped before the client spends time writing ACKs.
 */
const ackQueue: (() => void)[] = [];
let ackScheduled = false;
function queueAck(write: () => void): void {
  ackQueue.push(write);
  if (ackScheduled) return;
  ackScheduled = true;
  setImmediate(() => {
    ackScheduled = false;
    const batch = ackQueue.splice(0);
    for (const ack of batch) ack();
  });
}

class AdsStream {
  firstAt: number | undefined;
  arrival: number | undefined;
  armed = false;
  retries = 0;
  lastError: string | undefined;
  private call: grpc.ClientDuplexStream<Buffer, ScannedResponse> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private client: grpc.Client,
    private readonly protocol: Protocol,
    private readonly group: string,
    private retryUntil: number,
    private readonly events: { onFirst: () => void; onArrival: () => void },
  ) {}

  start(): void {
    this.stopped = false;
    const call = this.client.makeBidiStreamRequest<Buffer, ScannedResponse>(PATHS[this.protocol], identity, scanResponse);
    this.call = call;
    call.on('data', (response: ScannedResponse) => {
      // A cancelled call's late data is not this stream's any more.
      if (call !== this.call) return;
      if (this.armed && this.arrival === undefined) {
        this.arrival = nowAbs();
        this.events.onArrival();
      }
      if (this.firstAt === undefined) {
        this.firstAt = nowAbs();
        this.events.onFirst();
      }
      queueAck(() => {
        if (!this.stopped && call === this.call) call.write(this.ack(response));
      });
    });
    call.on('error', (error: grpc.ServiceError) => this.failed(call, error));
    call.on('status', () => undefined);
    call.write(this.firstRequest());
  }

  /** Ends the stream for good (no retry). */
  cancel(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.call?.cancel();
    this.call = undefined;
  }

  /** A new connection for the next start() (the storm). */
  reset(client: grpc.Client, retryUntil: number): void {
    this.client = client;
    this.retryUntil = retryUntil;
    this.firstAt = undefined;
    this.arrival = undefined;
    this.armed = false;
  }

  private failed(call: grpc.ClientDuplexStream<Buffer, ScannedResponse>, error: grpc.ServiceError): void {
    if (this.stopped || call !== this.call) return;
    this.lastError = `${grpc.status[error.code] ?? error.code}: ${error.details}`;
    // A stream refused before its first response (connection refused or reset in a storm) is
    // retried as Envoy would, after a short jittered backoff; a stream lost later stays lost.
    if (this.firstAt !== undefined || nowAbs() > this.retryUntil) return;
    this.retries += 1;
    this.retryTimer = setTimeout(() => this.start(), 100 + Math.random() * 200);
  }

  private firstRequest(): Buffer {
    const node = { id: this.group, cluster: this.group };
    return this.protocol === 'sotw'
      ? encodeSotwRequest({ node, resourceNames: subscribed, typeUrl: EDS_TYPE_URL })
      : encodeDeltaRequest({ node, typeUrl: EDS_TYPE_URL, subscribe: subscribed });
  }

  private ack(response: ScannedResponse): Buffer {
    return this.protocol === 'sotw'
      ? encodeSotwRequest({ versionInfo: response.version, resourceNames: subscribed, typeUrl: response.typeUrl, responseNonce: response.nonce })
      : encodeDeltaRequest({ typeUrl: response.typeUrl, responseNonce: response.nonce });
  }
}

let streams: AdsStream[] = [];
let clients: grpc.Client[] = [];
let lastOpen: OpenRequest | undefined;

/** Resolves when `count()` reaches `target`, or at the deadline; `poke` is called on every event. */
function waiter(target: () => number, count: () => number, timeoutMs: number): { poke: () => void; done: Promise<void> } {
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const timer = setTimeout(() => resolve(), timeoutMs);
  const poke = () => {
    if (count() >= target()) {
      clearTimeout(timer);
      resolve();
    }
  };
  return { poke, done };
}

let onFirst: () => void = () => undefined;
let onArrival: () => void = () => undefined;
const events = { onFirst: () => onFirst(), onArrival: () => onArrival() };

function newClients(request: OpenRequest): grpc.Client[] {
  const connections = Math.ceil(request.count / request.streamsPerConnection);
  return Array.from({ length: connections }, () => new grpc.Client(request.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS));
}

function closeAll(): void {
  for (const stream of streams) stream.cancel();
  for (const client of clients) client.close();
}

async function open(request: OpenRequest): Promise<{ ms: number; ready: number; failed: number; retries: number; errors: string[] }> {
  closeAll();
  lastOpen = request;
  subscribed = request.names ?? [CLUSTER_NAME];
  const started = nowAbs();
  const deadline = started + request.timeoutMs;
  clients = newClients(request);
  streams = [];
  for (let first = 0; first < request.count && nowAbs() < deadline; first += request.waveSize) {
    const wave: AdsStream[] = [];
    for (let i = first; i < Math.min(request.count, first + request.waveSize); i++) {
      const client = clients[Math.floor(i / request.streamsPerConnection)]!;
      wave.push(new AdsStream(client, request.protocol, request.group, deadline, events));
    }
    streams.push(...wave);
    let ready = 0;
    const wait = waiter(() => wave.length, () => ready, Math.max(0, deadline - nowAbs()));
    onFirst = () => {
      ready += 1;
      wait.poke();
    };
    for (const stream of wave) stream.start();
    await wait.done;
  }
  onFirst = () => undefined;
  const ready = streams.filter((s) => s.firstAt !== undefined).length;
  return {
    ms: nowAbs() - started,
    ready,
    failed: request.count - ready,
    retries: streams.reduce((sum, s) => sum + s.retries, 0),
    errors: summarizeErrors(),
  };
}

function summarizeErrors(): string[] {
  const counts = new Map<string, number>();
  for (const stream of streams) {
    if (stream.firstAt === undefined && stream.lastError) counts.set(stream.lastError, (counts.get(stream.lastError) ?? 0) + 1);
  }
  return [...counts].map(([error, n]) => `${n}x ${error}`).slice(0, 5);
}

let armedCount = 0;
let arrivedCount = 0;

function arm(): { armed: number } {
  armedCount = 0;
  arrivedCount = 0;
  for (const stream of streams) {
    stream.arrival = undefined;
    stream.armed = stream.firstAt !== undefined;
    if (stream.armed) armedCount += 1;
  }
  // Counted from now: responses may arrive before `collect` is asked for.
  onArrival = () => {
    arrivedCount += 1;
  };
  return { armed: armedCount };
}

async function collect(request: { timeoutMs: number }): Promise<{ arrivals: number[]; missing: number }> {
  const wait = waiter(() => armedCount, () => arrivedCount, request.timeoutMs);
  onArrival = () => {
    arrivedCount += 1;
    wait.poke();
  };
  wait.poke();
  await wait.done;
  onArrival = () => undefined;
  const arrivals: number[] = [];
  for (const stream of streams) {
    if (stream.armed && stream.arrival !== undefined) arrivals.push(stream.arrival);
    stream.armed = false;
  }
  return { arrivals, missing: armedCount - arrivals.length };
}

async function storm(request: { timeoutMs: number }): Promise<{ startedAt: number; ms: number; served: number; missing: number; retries: number; errors: string[] }> {
  if (!lastOpen) throw new Error('storm before open');
  const spec = lastOpen;
  closeAll();
  const started = nowAbs();
  const deadline = started + request.timeoutMs;
  clients = newClients(spec);
  let served = 0;
  const wait = waiter(() => streams.length, () => served, request.timeoutMs);
  onFirst = () => {
    served += 1;
    wait.poke();
  };
  streams.forEach((stream, i) => {
    stream.retries = 0;
    stream.reset(clients[Math.floor(i / spec.streamsPerConnection)]!, deadline);
  });
  for (const stream of streams) stream.start();
  await wait.done;
  onFirst = () => undefined;
  const firsts = streams.map((s) => s.firstAt).filter((t): t is number => t !== undefined);
  return {
    startedAt: started,
    ms: (firsts.length === streams.length ? Math.max(...firsts) : nowAbs()) - started,
    served: firsts.length,
    missing: streams.length - firsts.length,
    retries: streams.reduce((sum, s) => sum + s.retries, 0),
    errors: summarizeErrors(),
  };
}

// grpc-js captures a stack trace for every call it creates and every cancelled call, and under
// tsx each capture is source-mapped: thousands of streams would spend the client's CPU on stack
// traces nobody reads, and slow down every figure measured through this process.
Error.stackTraceLimit = 0;
checkWire();
const stats = processStatsMonitor();

serveParent(
  {
    open,
    arm,
    collect,
    storm,
    stats: (request: StatsRequest) => stats(request),
    close: () => {
      closeAll();
      streams = [];
      clients = [];
      return {};
    },
  },
  { pid: process.pid },
  () => closeAll(),
);
