/**
 * 5. Reconnect storm: N streams (SotW, one connection each) are cancelled, their connections
 * closed, and all reopened at once on new connections, as Envoys do when their control plane's
 * connections drop. Measured: the time until every stream holds its first response again, and the
 * server's longest event-loop stall meanwhile; go-control-plane and the floor server take the same
 * storms.
 */
import { GROUP, NETWORK_CONFIG, seedNodes } from '../lib/fixtures.js';
import { PEER_BUILD_ALLOWANCE_MS } from '../peers/go-control-plane/peer.js';
import type { Profile } from '../lib/profile.js';
import { atMost, notRun } from '../lib/report.js';
import { fmt, max, median } from '../lib/stats.js';
import { AdsClients, CLIENT_BOUND_BUSY, clientCpu, contentionNote, serverStats, sleep, type Requester, type StormResult } from '../lib/streams.js';
import os from 'node:os';
import type { Scenario } from './scenario.js';

interface OneStorm extends StormResult {
  /** NaN for the Go peer: it has no event loop. */
  readonly eventLoopMaxMs: number;
  readonly serverCpuMs: number;
  readonly clientCpuMs: number;
  /** The busiest client process's share of a core over the storm. */
  readonly clientBusy: number;
}

interface Storms {
  readonly each: readonly OneStorm[];
  readonly ms: number;
  readonly stallMs: number;
  readonly worstStallMs: number;
  readonly serverCpuMs: number;
  readonly clientCpuMs: number;
  /** The busiest client process's share of a core (median over the storms). */
  readonly clientBusy: number;
}

async function storms(server: Requester, address: string, clients: AdsClients, profile: Profile, log: (line: string) => void, name: string): Promise<Storms> {
  const count = profile.storm.count;
  await clients.open(address, count, 'sotw', profile.waveSize);
  const each: OneStorm[] = [];
  try {
    for (let i = 0; i < profile.storm.repeats; i++) {
      // Idle first: every first response ACKed, nothing in flight.
      await sleep(1_000);
      // The delay histogram starts empty here: its max is the longest stall of this storm alone.
      const before = await serverStats(server, { reset: true });
      const clientBefore = await clients.cpuMs();
      const result = await clients.storm(60_000 + count * 20);
      const client = clientCpu(clientBefore, await clients.cpuMs(), result.ms);
      const after = await serverStats(server);
      const storm = {
        ...result,
        eventLoopMaxMs: after.eventLoopMaxMs ?? Number.NaN,
        serverCpuMs: after.cpuMs - before.cpuMs,
        clientCpuMs: client.totalMs,
        clientBusy: client.busiest,
      };
      each.push(storm);
      log(
        `  ${name} storm ${i + 1}: ${storm.served} of ${count} served in ${fmt(storm.ms)} ms, longest stall ${fmt(storm.eventLoopMaxMs)} ms, ` +
          `server CPU ${fmt(storm.serverCpuMs)} ms, client CPU ${fmt(storm.clientCpuMs)} ms (busiest process ${fmt(storm.clientBusy * 100)}% of a core)`,
      );
    }
  } finally {
    await clients.close();
  }
  return {
    each,
    ms: median(each.map((s) => s.ms)),
    stallMs: median(each.map((s) => s.eventLoopMaxMs)),
    worstStallMs: max(each.map((s) => s.eventLoopMaxMs)),
    serverCpuMs: median(each.map((s) => s.serverCpuMs)),
    clientCpuMs: median(each.map((s) => s.clientCpuMs)),
    clientBusy: median(each.map((s) => s.clientBusy)),
  };
}

const list = (values: readonly number[], unit: string) => values.map((v) => `${fmt(v)}${unit}`).join(', ');

export const reconnectStorm: Scenario = {
  id: 'storm',
  title: '5. Reconnect storm',
  method: (p: Profile) =>
    `${fmt(p.storm.count)} SotW streams (spread over ${p.clientProcesses} client process(es)), opened and idle, are all cancelled and their channels closed by the client processes, which at once ` +
    'opens a new channel (connection) and stream for each; a stream refused before its first response retries after 100-300 ms. Time = from ' +
    "the start of the reopening until the last stream holds its first response. Stall = the server's longest event-loop delay " +
    '(perf_hooks.monitorEventLoopDelay, 5 ms resolution) from just before the storm until every stream was served. ' +
    `${p.storm.repeats} storm(s) in a row per server (the floor, shardvoy, then go-control-plane) on the same streams; figures are the median storm's, each storm listed. ` +
    'Client CPU = the client processes\' CPU time over each storm, and the busiest one\'s share of one core over the storm\'s time.',
  timeoutMs: (p) => PEER_BUILD_ALLOWANCE_MS + 180_000 + p.storm.count * 3 * (10 + 20 * p.storm.repeats),
  async run({ profile, log, spawn, section }) {
    const loadAtStart = os.loadavg()[0] ?? 0;
    const [shardvoy, floor, clientChildren] = await Promise.all([spawn.shardvoy(NETWORK_CONFIG), spawn.floor(), spawn.adsClientPool(profile.clientProcesses)]);
    const clients = new AdsClients(clientChildren, log);
    await shardvoy.request('heartbeat', { bodies: seedNodes(), awaitPublish: { group: GROUP, timeoutMs: 10_000 } }, 15_000);
    const started = await spawn.gcp(shardvoy, GROUP);
    clients.names = started.edsNames;
    if (started.notRun) log(`  go-control-plane peer not run: ${started.notRun}`);
    const base = await storms(floor, floor.info.grpc, clients, profile, log, 'floor');
    const ours = await storms(shardvoy, shardvoy.info.grpc, clients, profile, log, 'shardvoy');
    const peer = started.peer ? await storms(started.peer, started.peer.info.grpc, clients, profile, log, 'go-control-plane') : undefined;
    const missing = `not run: ${started.notRun}`;
    const served = (s: Storms) => s.each.map((e) => `${e.served}/${e.served + e.missing}`).join(', ');
    const ratio = (a: number, b: number | undefined) => (b === undefined || !Number.isFinite(b) || !Number.isFinite(a) ? '' : `${fmt(a / b)}×`);
    const client = (s: Storms) => `${fmt(s.clientCpuMs)} ms (${fmt(s.clientBusy * 100)}%)${s.clientBusy >= CLIENT_BOUND_BUSY ? ', client-bound' : ''}`;
    const gcpCell = (f: (s: Storms) => string) => (peer ? f(peer) : missing);
    const noLoop = 'n/a (Go: no event loop)';
    section.tables.push({
      headers: ['figure', 'shardvoy', 'go-control-plane', 'floor', 'shardvoy / go-control-plane', 'shardvoy / floor'],
      rows: [
        ['time until all served (median)', `${fmt(ours.ms)} ms`, gcpCell((s) => `${fmt(s.ms)} ms`), `${fmt(base.ms)} ms`, ratio(ours.ms, peer?.ms), ratio(ours.ms, base.ms)],
        ['time until all served, each storm', list(ours.each.map((s) => s.ms), ' ms'), gcpCell((s) => list(s.each.map((e) => e.ms), ' ms')), list(base.each.map((s) => s.ms), ' ms'), '', ''],
        ['longest event-loop stall (median storm)', `${fmt(ours.stallMs)} ms`, peer ? noLoop : missing, `${fmt(base.stallMs)} ms`, '', ratio(ours.stallMs, base.stallMs)],
        ['longest event-loop stall, each storm', list(ours.each.map((s) => s.eventLoopMaxMs), ' ms'), peer ? noLoop : missing, list(base.each.map((s) => s.eventLoopMaxMs), ' ms'), '', ''],
        ['server CPU per storm (median)', `${fmt(ours.serverCpuMs)} ms`, gcpCell((s) => `${fmt(s.serverCpuMs)} ms`), `${fmt(base.serverCpuMs)} ms`, ratio(ours.serverCpuMs, peer?.serverCpuMs), ratio(ours.serverCpuMs, base.serverCpuMs)],
        ['client CPU per storm (median; busiest process, share of a core)', client(ours), gcpCell(client), client(base), '', ''],
        ['streams served, each storm', served(ours), gcpCell(served), served(base), '', ''],
        ['streams retried, each storm', ours.each.map((s) => fmt(s.retries)).join(', '), gcpCell((s) => s.each.map((e) => fmt(e.retries)).join(', ')), base.each.map((s) => fmt(s.retries)).join(', '), '', ''],
      ],
    });
    const target = `storm of ${fmt(profile.storm.count)} served within 1.0× go-control-plane's time`;
    section.verdicts.push(peer ? atMost(target, ours.ms / peer.ms, 1, '×') : notRun(target, started.notRun!));
    section.verdicts.push(atMost(`no event-loop stall over 100 ms during the storm of ${fmt(profile.storm.count)} (median storm)`, ours.stallMs, 100, ' ms'));
    for (const [name, s] of [['shardvoy', ours], ['go-control-plane', peer], ['floor', base]] as const) {
      if (!s) continue;
      const lost = s.each.filter((e) => e.missing > 0);
      for (const e of lost) section.notes.push(`${name}: ${e.missing} streams were never served in one storm (${e.errors.join('; ')}).`);
    }
    const bound = ([['shardvoy', ours], ['go-control-plane', peer], ['floor', base]] as const).filter(([, s]) => s && s.clientBusy >= CLIENT_BOUND_BUSY).map(([n]) => n);
    section.notes.push(
      `The worst stall over all storms was ${fmt(ours.worstStallMs)} ms for shardvoy and ${fmt(base.worstStallMs)} ms for the floor.`,
      'The time includes the client processes creating every channel and stream and reading every first response on the same two cores; ' +
        "the server CPU row is the servers' own share. A stall is wall time, so it also grows when the server is descheduled for the clients.",
      bound.length === 0
        ? `No storm time was client-bound (every client process stayed under ${fmt(CLIENT_BOUND_BUSY * 100)}% of a core over the median storm).`
        : `Client-bound (a client process busy ${fmt(CLIENT_BOUND_BUSY * 100)}% of a core or more over the storm, so it, not the server, set the pace): ${bound.join(', ')}.`,
      ...[contentionNote(loadAtStart)].filter((n): n is string => n !== undefined),
      started.peer ? `go-control-plane peer: ${started.peer.info.library}, ${started.peer.info.go}, GOMAXPROCS ${started.peer.info.gomaxprocs}.` : `go-control-plane: not run (${started.notRun}).`,
    );
  },
};
