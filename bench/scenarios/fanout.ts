/**
 * 2. Fan-out: N idle ADS streams (one connection each, clients in their own process), one master
 * change; the time until every stream holds the new EDS. Three servers take the same streams:
 * shardvoy; go-control-plane (bench/peers/go-control-plane: its SnapshotCache serving shardvoy's
 * own resources, each change replaying one of shardvoy's snapshots of this run); and the floor,
 * grpc-js writing one already-encoded response to the N streams. SotW and delta, at every N.
 */
import { ENDPOINT } from '../../src/envoy-api/type-urls.js';
import type { PeerSnapshot } from '../peers/go-control-plane/peer.js';
import { PEER_BUILD_ALLOWANCE_MS } from '../peers/go-control-plane/peer.js';
import { GROUP, NETWORK_CONFIG, masterOf, seedNodes } from '../lib/fixtures.js';
import type { Profile } from '../lib/profile.js';
import { atMost, notRun } from '../lib/report.js';
import { fmt, median, spread, type Spread } from '../lib/stats.js';
import { AdsClients, CLIENT_BOUND_BUSY, clientCpu, contentionNote, serverStats, sleep, type Protocol, type Requester } from '../lib/streams.js';
import { nowAbs } from '../lib/process-stats.js';
import os from 'node:os';
import type { Scenario } from './scenario.js';

/** What one change did, seen from the clients and from the server. */
interface Round {
  readonly latency: Spread;
  readonly missing: number;
  /** Server side: from the change to its last synchronous write (floor: the write loop; shardvoy: publish() returned). */
  readonly writesIssuedMs: number | undefined;
  /** shardvoy only: from the heartbeat to the publish (debounce window + rebuild). */
  readonly publishMs: number | undefined;
  readonly serverCpuMs: number;
  /** The client process's CPU time over the round, and its share of one core. */
  readonly clientCpuMs: number;
  readonly clientBusy: number;
}

interface Summary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly missing: number;
  readonly writesIssuedMs: number;
  readonly publishMs: number;
  readonly serverCpuMs: number;
  readonly clientCpuMs: number;
  readonly clientBusy: number;
  readonly streamsPerConnection: number;
}

function summarize(rounds: readonly Round[], streamsPerConnection: number): Summary {
  const med = (pick: (r: Round) => number | undefined) => median(rounds.map(pick).filter((v): v is number => v !== undefined));
  return {
    p50: med((r) => r.latency.p50),
    p99: med((r) => r.latency.p99),
    max: med((r) => r.latency.max),
    missing: Math.max(0, ...rounds.map((r) => r.missing)),
    writesIssuedMs: med((r) => r.writesIssuedMs),
    publishMs: med((r) => r.publishMs),
    serverCpuMs: med((r) => r.serverCpuMs),
    clientCpuMs: med((r) => r.clientCpuMs),
    clientBusy: med((r) => r.clientBusy),
    streamsPerConnection,
  };
}

/** Makes the change on one server: resolves to when it started, and what the server saw of it. */
type Trigger = () => Promise<{ t0: number; writesIssuedAt?: number | undefined; publishAt?: number | undefined }>;

async function measure(
  name: string,
  server: Requester,
  address: string,
  trigger: Trigger,
  clients: AdsClients,
  protocol: Protocol,
  count: number,
  profile: Profile,
  log: (line: string) => void,
  /** After each round, once its figures are read (shardvoy: keep its new snapshot for the peer). */
  afterRound?: () => Promise<void>,
): Promise<Summary> {
  const opened = await clients.open(address, count, protocol, profile.waveSize);
  log(`  ${protocol} N=${count} ${name}: ${opened.ready} streams ready in ${fmt(opened.ms / 1000)} s`);
  const rounds: Round[] = [];
  try {
    for (let i = 0; i < profile.fanout.warmupRounds + profile.fanout.rounds; i++) {
      // Let the ACKs of the previous change settle: every stream idle again.
      await sleep(300);
      await clients.arm();
      const before = await serverStats(server);
      const clientBefore = await clients.cpuMs();
      const change = await trigger();
      const got = await clients.collect(30_000 + count * 5);
      // From the change until every stream had its response (a server's IPC before t0 excluded).
      const windowMs = nowAbs() - change.t0;
      const client = clientCpu(clientBefore, await clients.cpuMs(), windowMs);
      const after = await serverStats(server);
      await afterRound?.();
      const latency = spread(got.arrivals.map((at) => at - change.t0));
      const round: Round = {
        latency,
        missing: got.missing,
        writesIssuedMs: change.writesIssuedAt === undefined ? undefined : change.writesIssuedAt - change.t0,
        publishMs: change.publishAt === undefined ? undefined : change.publishAt - change.t0,
        serverCpuMs: after.cpuMs - before.cpuMs,
        clientCpuMs: client.totalMs,
        clientBusy: client.busiest,
      };
      const warm = i < profile.fanout.warmupRounds;
      if (!warm) rounds.push(round);
      log(
        `    ${warm ? 'warm-up' : `round ${rounds.length}`}: p50 ${fmt(latency.p50)} ms, p99 ${fmt(latency.p99)} ms, max ${fmt(latency.max)} ms` +
          `${got.missing > 0 ? `, ${got.missing} never arrived` : ''}${round.publishMs === undefined ? '' : `, published at +${fmt(round.publishMs)} ms`}` +
          `, server CPU ${fmt(round.serverCpuMs)} ms, client CPU ${fmt(round.clientCpuMs)} ms (busiest process ${fmt(round.clientBusy * 100)}% of a core)`,
      );
    }
  } finally {
    await clients.close();
  }
  return summarize(rounds, opened.streamsPerConnection);
}

/** The peer's changes: shardvoy's snapshots of this run, each new one replayed once, in order. */
class Replay {
  private readonly fresh: PeerSnapshot[] = [];
  private readonly seen: PeerSnapshot[] = [];
  private last: string;

  constructor(initial: PeerSnapshot) {
    this.seen.push(initial);
    this.last = initial.version;
  }

  add(snapshot: PeerSnapshot | null): void {
    if (!snapshot || this.seen.some((s) => s.version === snapshot.version)) return;
    this.fresh.push(snapshot);
    this.seen.push(snapshot);
  }

  /** The next new snapshot; when none is left, an older one that differs from the last sent. */
  next(): PeerSnapshot {
    const pick = this.fresh.shift() ?? [...this.seen].reverse().find((s) => s.version !== this.last);
    if (!pick) throw new Error('no shardvoy snapshot to replay as a change for go-control-plane');
    this.last = pick.version;
    return pick;
  }
}

const clientCell = (s: Summary) => `${fmt(s.clientCpuMs)} ms (${fmt(s.clientBusy * 100)}%)${s.clientBusy >= CLIENT_BOUND_BUSY ? ', client-bound' : ''}`;

export const fanout: Scenario = {
  id: 'fanout',
  title: '2. Fan-out',
  method: (p: Profile) =>
    `N idle ADS streams (N = ${p.fanout.counts.join(', ')}), each on its own HTTP/2 connection (own grpc-js channel, local subchannel ` +
    'pool), node.id = the group, subscribed to the EDS of every load assignment of the group (as its Envoys ask; go-control-plane\'s ADS mode ' +
    'answers only such a request) and ACKing every response; the clients run in their own ' +
    `processes (${p.clientProcesses}, each holding an even share of the streams). Three servers, one after the other on the same client processes: ` +
    'the floor, shardvoy, then go-control-plane. One change: for ' +
    'shardvoy a new master with a higher epoch, recorded straight into the registry (t0 = just before); for go-control-plane (its ' +
    'SotW and delta servers over SnapshotCache with ADS on, serving the resources of shardvoy\'s snapshot of the group) a `change` over ' +
    'stdin carrying the next of shardvoy\'s snapshots of this run (the changed load assignment among them), set for every node (t0 = ' +
    'before the resources are decoded, on Go\'s wall clock, shifted onto the bench\'s by a ping); for the floor an IPC `push` that ' +
    'writes one new pre-encoded response to every stream (t0 = when it starts). Latency = the absolute arrival ' +
    `time of each stream's next response minus t0 (both from performance.timeOrigin + performance.now()). ${p.fanout.warmupRounds} ` +
    `warm-up change(s) discarded, then ${p.fanout.rounds} measured; each figure is the median over the measured changes of that ` +
    "change's p50 / p99 / max over the N streams. shardvoy's figure includes its debounce window (xds.debounceMs, default 10 ms). " +
    `Client CPU = the client processes' CPU time from just before the change until every stream had its response, and the busiest one's share of one core over the time from the change to the last response; at ${fmt(CLIENT_BOUND_BUSY * 100)}% or more the figure is marked client-bound.`,
  timeoutMs: (p) => PEER_BUILD_ALLOWANCE_MS + 120_000 + p.fanout.counts.reduce((sum, n) => sum + n, 0) * 3 * 2 * 8,
  async run({ profile, log, spawn, section }) {
    const loadAtStart = os.loadavg()[0] ?? 0;
    const [shardvoy, floor, clientChildren] = await Promise.all([spawn.shardvoy(NETWORK_CONFIG), spawn.floor(), spawn.adsClientPool(profile.clientProcesses)]);
    const clients = new AdsClients(clientChildren, log);
    await shardvoy.request('heartbeat', { bodies: seedNodes(), awaitPublish: { group: GROUP, timeoutMs: 10_000 } }, 15_000);
    const started = await spawn.gcp(shardvoy, GROUP);
    const gcp = started.peer;
    clients.names = started.edsNames;
    if (gcp) log(`  go-control-plane peer: ${gcp.info.library}, ${gcp.info.go}, GOMAXPROCS ${gcp.info.gomaxprocs}, on ${gcp.info.grpc}`);
    else log(`  go-control-plane peer not run: ${started.notRun}`);
    const snapshotOf = () => shardvoy.request<PeerSnapshot | null>('snapshotResources', { group: GROUP }, 10_000);
    const replay = new Replay((await snapshotOf())!);
    let generation = 1;
    const shardvoyTrigger: Trigger = async () => {
      generation += 1;
      const r = await shardvoy.request<{ t0: number; publishAt?: number; publishReturnedAt?: number }>(
        'heartbeat',
        { bodies: [masterOf(generation)], awaitPublish: { group: GROUP, timeoutMs: 10_000 } },
        15_000,
      );
      if (r.publishAt === undefined) throw new Error('shardvoy published nothing within 10 s of a master change');
      return { t0: r.t0, publishAt: r.publishAt, writesIssuedAt: r.publishReturnedAt };
    };
    const floorTrigger: Trigger = async () => {
      const r = await floor.request<{ t0: number; writtenAt: number }>('push', {}, 30_000);
      return { t0: r.t0, writesIssuedAt: r.writtenAt };
    };
    const clockSkews: number[] = [];
    const gcpTrigger: Trigger = async () => {
      const snapshot = replay.next();
      const clock = await gcp!.clockOffsetMs(3);
      clockSkews.push(clock.offsetMs);
      const r = await gcp!.request<{ t0: number; writtenAt: number }>('change', snapshot, 30_000);
      return { t0: r.t0 - clock.offsetMs, writesIssuedAt: r.writtenAt - clock.offsetMs };
    };
    const edsBytes = await shardvoy.request<number | null>('resourceBytes', { group: GROUP, typeUrl: ENDPOINT, name: 'shard0-masters' }, 5_000);

    const fallbacks: string[] = [];
    const clientBound: string[] = [];
    for (const protocol of ['sotw', 'delta'] as const) {
      const rows: string[][] = [];
      for (const count of profile.fanout.counts) {
        const base = await measure('floor', floor, floor.info.grpc, floorTrigger, clients, protocol, count, profile, log);
        const ours = await measure('shardvoy', shardvoy, shardvoy.info.grpc, shardvoyTrigger, clients, protocol, count, profile, log, async () =>
          replay.add(await snapshotOf()),
        );
        const peer = gcp ? await measure('go-control-plane', gcp, gcp.info.grpc, gcpTrigger, clients, protocol, count, profile, log) : undefined;
        const measured: [string, Summary | undefined][] = [
          ['shardvoy', ours],
          ['go-control-plane', peer],
          ['floor', base],
        ];
        for (const [name, s] of measured) {
          if (!s) continue;
          if (s.streamsPerConnection > 1) fallbacks.push(`${protocol} N=${count} ${name}`);
          if (s.clientBusy >= CLIENT_BOUND_BUSY) clientBound.push(`${protocol} N=${fmt(count)} ${name} (${fmt(s.clientBusy * 100)}%)`);
        }
        const row = (name: string, s: Summary, extra: string[]) => [
          fmt(count),
          name,
          `${fmt(s.p50)} ms`,
          `${fmt(s.p99)} ms`,
          `${fmt(s.max)} ms`,
          fmt(s.missing),
          `${fmt(s.writesIssuedMs)} ms`,
          `${fmt(s.serverCpuMs)} ms`,
          clientCell(s),
          ...extra,
        ];
        const ratio = (a: Summary, b: Summary | undefined) => (b ? `${fmt(a.p99 / b.p99)}×` : '');
        rows.push(row('shardvoy', ours, [`+${fmt(ours.publishMs)} ms`, peer ? ratio(ours, peer) : `not run: ${started.notRun}`, ratio(ours, base)]));
        if (peer) rows.push(row('go-control-plane', peer, ['', '1×', ratio(peer, base)]));
        else rows.push([fmt(count), 'go-control-plane', ...Array<string>(7).fill(`not run: ${started.notRun}`), '', '', '']);
        rows.push(row('floor', base, ['', peer ? ratio(base, peer) : '', '1×']));
        const target = `${protocol} fan-out p99 at N = ${fmt(count)} ≤ 1.0× go-control-plane's`;
        section.verdicts.push(peer ? atMost(target, ours.p99 / peer.p99, 1, '×') : notRun(target, started.notRun!));
      }
      section.tables.push({
        caption: `**${protocol === 'sotw' ? 'State of the world' : 'Delta'}** (ADS ${protocol === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources'})`,
        headers: [
          'N',
          'server',
          'p50',
          'p99',
          'max',
          'never arrived',
          'server: last write issued',
          'server CPU per change',
          'client CPU per change (busiest process, share of a core)',
          'shardvoy: published at',
          'p99 / go-control-plane',
          'p99 / floor',
        ],
        rows,
      });
    }
    section.notes.push(
      `Response size: the floor sends ${floor.info.responseBytes.sotw} B (SotW) / ${floor.info.responseBytes.delta} B (delta) per response; ` +
        `shardvoy's shard0-masters ClusterLoadAssignment alone is ${edsBytes ?? 'n/a'} B before its envelope, and go-control-plane serves the same resource bytes.`,
      '"server: last write issued" is the server\'s own view: the floor\'s write loop, shardvoy\'s cache.publish() returning (when every stream\'s ' +
        'synchronous share of the fan-out is done), or go-control-plane\'s SetSnapshot returning (every watch handed its response; its ' +
        'goroutines write them after). The latencies also contain the clients\' own work: the client processes read every response ' +
        `and write every ACK for all N streams (${fmt(profile.clientProcesses)} process(es)) on the same two cores, which puts a floor under every server and narrows the ratios.`,
      clientBound.length === 0
        ? `No figure was client-bound (every client process stayed under ${fmt(CLIENT_BOUND_BUSY * 100)}% of a core during every change).`
        : `Client-bound (a client process busy ${fmt(CLIENT_BOUND_BUSY * 100)}% of a core or more during the change, so the clients, not the server, set the pace): ${clientBound.join(', ')}.`,
      gcp
        ? `go-control-plane peer: ${gcp.info.library}, built with ${gcp.info.go}, GOMAXPROCS ${gcp.info.gomaxprocs}; its clock and the bench's differed by ${fmt(median(clockSkews))} ms (median; corrected).`
        : `go-control-plane: not run (${started.notRun}).`,
      ...[contentionNote(loadAtStart)].filter((n): n is string => n !== undefined),
      fallbacks.length === 0
        ? 'Every stream had its own HTTP/2 connection.'
        : `One connection per stream failed for ${fallbacks.join(', ')}: those ran 10 streams per connection.`,
    );
  },
};
