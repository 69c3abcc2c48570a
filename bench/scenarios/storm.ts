/**
 * 5. Reconnect storm: N streams (SotW, one connection each) are cancelled, their connections
 * closed, and all reopened at once on new connections, as Envoys do when their control plane's
 * connections drop. Measured: the time until every stream holds its first response again, and the
 * server's longest event-loop stall meanwhile; the floor server takes the same storms.
 */
import { GROUP, NETWORK_CONFIG, seedNodes } from '../lib/fixtures.js';
import type { Child } from '../lib/ipc.js';
import type { Profile } from '../lib/profile.js';
import { atMost } from '../lib/report.js';
import { fmt, max, median } from '../lib/stats.js';
import { AdsClients, serverStats, sleep, type StormResult } from '../lib/streams.js';
import type { Scenario } from './scenario.js';

interface OneStorm extends StormResult {
  readonly eventLoopMaxMs: number;
  readonly serverCpuMs: number;
}

interface Storms {
  readonly each: readonly OneStorm[];
  readonly ms: number;
  readonly stallMs: number;
  readonly worstStallMs: number;
  readonly serverCpuMs: number;
}

async function storms(server: Child<unknown>, address: string, clients: AdsClients, profile: Profile, log: (line: string) => void, name: string): Promise<Storms> {
  const count = profile.storm.count;
  await clients.open(address, count, 'sotw', profile.waveSize);
  const each: OneStorm[] = [];
  try {
    for (let i = 0; i < profile.storm.repeats; i++) {
      // Idle first: every first response ACKed, nothing in flight.
      await sleep(1_000);
      // The delay histogram starts empty here: its max is the longest stall of this storm alone.
      const before = await serverStats(server, { reset: true });
      const result = await clients.storm(60_000 + count * 20);
      const after = await serverStats(server);
      const storm = { ...result, eventLoopMaxMs: after.eventLoopMaxMs, serverCpuMs: after.cpuMs - before.cpuMs };
      each.push(storm);
      log(`  ${name} storm ${i + 1}: ${storm.served} of ${count} served in ${fmt(storm.ms)} ms, longest stall ${fmt(storm.eventLoopMaxMs)} ms, server CPU ${fmt(storm.serverCpuMs)} ms`);
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
  };
}

const list = (values: readonly number[], unit: string) => values.map((v) => `${fmt(v)}${unit}`).join(', ');

export const reconnectStorm: Scenario = {
  id: 'storm',
  title: '5. Reconnect storm',
  method: (p: Profile) =>
    `${fmt(p.storm.count)} SotW streams, opened and idle, are all cancelled and their channels closed by the client process, which at once ` +
    'opens a new channel (connection) and stream for each; a stream refused before its first response retries after 100-300 ms. Time = from ' +
    "the start of the reopening until the last stream holds its first response. Stall = the server's longest event-loop delay " +
    '(perf_hooks.monitorEventLoopDelay, 5 ms resolution) from just before the storm until every stream was served. ' +
    `${p.storm.repeats} storm(s) in a row per server on the same streams; figures are the median storm's, each storm listed.`,
  timeoutMs: (p) => 180_000 + p.storm.count * 2 * (10 + 20 * p.storm.repeats),
  async run({ profile, log, spawn, section }) {
    const [shardvoy, floor, clientChild] = await Promise.all([spawn.shardvoy(NETWORK_CONFIG), spawn.floor(), spawn.adsClients()]);
    const clients = new AdsClients(clientChild, log);
    await shardvoy.request('heartbeat', { bodies: seedNodes(), awaitPublish: { group: GROUP, timeoutMs: 10_000 } }, 15_000);
    const base = await storms(floor, floor.info.grpc, clients, profile, log, 'floor');
    const ours = await storms(shardvoy, shardvoy.info.grpc, clients, profile, log, 'shardvoy');
    const ratio = ours.ms / base.ms;
    const served = (s: Storms) => s.each.map((e) => `${e.served}/${e.served + e.missing}`).join(', ');
    section.tables.push({
      headers: ['figure', 'shardvoy', 'floor', 'ratio'],
      rows: [
        ['time until all served (median)', `${fmt(ours.ms)} ms`, `${fmt(base.ms)} ms`, `${fmt(ratio)}×`],
        ['time until all served, each storm', list(ours.each.map((s) => s.ms), ' ms'), list(base.each.map((s) => s.ms), ' ms'), ''],
        ['longest event-loop stall (median storm)', `${fmt(ours.stallMs)} ms`, `${fmt(base.stallMs)} ms`, `${fmt(ours.stallMs / base.stallMs)}×`],
        ['longest event-loop stall, each storm', list(ours.each.map((s) => s.eventLoopMaxMs), ' ms'), list(base.each.map((s) => s.eventLoopMaxMs), ' ms'), ''],
        ['server CPU per storm (median)', `${fmt(ours.serverCpuMs)} ms`, `${fmt(base.serverCpuMs)} ms`, `${fmt(ours.serverCpuMs / base.serverCpuMs)}×`],
        ['streams served, each storm', served(ours), served(base), ''],
        ['streams retried, each storm', ours.each.map((s) => fmt(s.retries)).join(', '), base.each.map((s) => fmt(s.retries)).join(', '), ''],
      ],
    });
    section.verdicts.push(atMost(`storm of ${fmt(profile.storm.count)} served within 2× the floor's time`, ratio, 2, '×'));
    section.verdicts.push(atMost(`no event-loop stall over 200 ms during the storm of ${fmt(profile.storm.count)} (median storm)`, ours.stallMs, 200, ' ms'));
    for (const [name, s] of [['shardvoy', ours], ['floor', base]] as const) {
      const missing = s.each.filter((e) => e.missing > 0);
      for (const e of missing) section.notes.push(`${name}: ${e.missing} streams were never served in one storm (${e.errors.join('; ')}).`);
    }
    section.notes.push(
      `The worst stall over all storms was ${fmt(ours.worstStallMs)} ms for shardvoy and ${fmt(base.worstStallMs)} ms for the floor.`,
      'The time includes the client process creating every channel and stream and reading every first response on the same two cores; ' +
        "the server CPU row is the servers' own share. A stall is wall time, so it also grows when the server is descheduled for the clients.",
    );
  },
};
