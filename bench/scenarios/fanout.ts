/**
 * 2. Fan-out: N idle ADS streams (one connection each, clients in their own process), one master
 * change; the time until every stream holds the new EDS. The floor is grpc-js writing one
 * already-encoded response to the same N streams. SotW and delta, each at every N of the profile.
 */
import { ENDPOINT } from '../../src/envoy-api/type-urls.js';
import type { Child } from '../lib/ipc.js';
import { GROUP, NETWORK_CONFIG, masterOf, seedNodes } from '../lib/fixtures.js';
import type { Profile } from '../lib/profile.js';
import { atMost } from '../lib/report.js';
import { fmt, median, spread, type Spread } from '../lib/stats.js';
import { AdsClients, serverStats, sleep, type Protocol } from '../lib/streams.js';
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
}

interface Summary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly missing: number;
  readonly writesIssuedMs: number;
  readonly publishMs: number;
  readonly serverCpuMs: number;
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
    streamsPerConnection,
  };
}

/** Makes the change on one server: resolves to when it started, and what the server saw of it. */
type Trigger = () => Promise<{ t0: number; writesIssuedAt?: number | undefined; publishAt?: number | undefined }>;

async function measure(
  name: string,
  server: Child<unknown>,
  address: string,
  trigger: Trigger,
  clients: AdsClients,
  protocol: Protocol,
  count: number,
  profile: Profile,
  log: (line: string) => void,
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
      const change = await trigger();
      const got = await clients.collect(30_000 + count * 5);
      const after = await serverStats(server);
      const latency = spread(got.arrivals.map((at) => at - change.t0));
      const round: Round = {
        latency,
        missing: got.missing,
        writesIssuedMs: change.writesIssuedAt === undefined ? undefined : change.writesIssuedAt - change.t0,
        publishMs: change.publishAt === undefined ? undefined : change.publishAt - change.t0,
        serverCpuMs: after.cpuMs - before.cpuMs,
      };
      const warm = i < profile.fanout.warmupRounds;
      if (!warm) rounds.push(round);
      log(
        `    ${warm ? 'warm-up' : `round ${rounds.length}`}: p50 ${fmt(latency.p50)} ms, p99 ${fmt(latency.p99)} ms, max ${fmt(latency.max)} ms` +
          `${got.missing > 0 ? `, ${got.missing} never arrived` : ''}${round.publishMs === undefined ? '' : `, published at +${fmt(round.publishMs)} ms`}` +
          `, server CPU ${fmt(round.serverCpuMs)} ms`,
      );
    }
  } finally {
    await clients.close();
  }
  return summarize(rounds, opened.streamsPerConnection);
}

export const fanout: Scenario = {
  id: 'fanout',
  title: '2. Fan-out',
  method: (p: Profile) =>
    `N idle ADS streams (N = ${p.fanout.counts.join(', ')}), each on its own HTTP/2 connection (own grpc-js channel, local subchannel ` +
    'pool), node.id = the group, subscribed to the EDS of shard0-masters only and ACKing every response; the clients run in their own ' +
    'process. One change: for shardvoy a new master with a higher epoch, recorded straight into the registry (t0 = just before); for the ' +
    'floor an IPC `push` that writes one new pre-encoded response to every stream (t0 = when it starts). Latency = the absolute arrival ' +
    `time of each stream's next response minus t0 (both from performance.timeOrigin + performance.now()). ${p.fanout.warmupRounds} ` +
    `warm-up change(s) discarded, then ${p.fanout.rounds} measured; each figure is the median over the measured changes of that ` +
    "change's p50 / p99 / max over the N streams. shardvoy's figure includes its debounce window (xds.debounceMs, default 10 ms).",
  timeoutMs: (p) => 120_000 + p.fanout.counts.reduce((sum, n) => sum + n, 0) * 2 * 2 * 8,
  async run({ profile, log, spawn, section }) {
    const [shardvoy, floor, clientChild] = await Promise.all([spawn.shardvoy(NETWORK_CONFIG), spawn.floor(), spawn.adsClients()]);
    const clients = new AdsClients(clientChild, log);
    await shardvoy.request('heartbeat', { bodies: seedNodes(), awaitPublish: { group: GROUP, timeoutMs: 10_000 } }, 15_000);
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
    const edsBytes = await shardvoy.request<number | null>('resourceBytes', { group: GROUP, typeUrl: ENDPOINT, name: 'shard0-masters' }, 5_000);

    const fallbacks: string[] = [];
    for (const protocol of ['sotw', 'delta'] as const) {
      const rows: string[][] = [];
      for (const count of profile.fanout.counts) {
        const base = await measure('floor', floor, floor.info.grpc, floorTrigger, clients, protocol, count, profile, log);
        const ours = await measure('shardvoy', shardvoy, shardvoy.info.grpc, shardvoyTrigger, clients, protocol, count, profile, log);
        for (const s of [base, ours]) if (s.streamsPerConnection > 1) fallbacks.push(`${protocol} N=${count}`);
        const ratio = ours.p99 / base.p99;
        const row = (name: string, s: Summary, extra: string[]) => [
          fmt(count),
          name,
          `${fmt(s.p50)} ms`,
          `${fmt(s.p99)} ms`,
          `${fmt(s.max)} ms`,
          fmt(s.missing),
          `${fmt(s.writesIssuedMs)} ms`,
          `${fmt(s.serverCpuMs)} ms`,
          ...extra,
        ];
        rows.push(row('floor', base, ['', '']));
        rows.push(row('shardvoy', ours, [`+${fmt(ours.publishMs)} ms`, `${fmt(ratio)}×`]));
        section.verdicts.push(atMost(`${protocol} fan-out p99 at N = ${fmt(count)} ≤ 1.5× floor p99`, ratio, 1.5, '×'));
      }
      section.tables.push({
        caption: `**${protocol === 'sotw' ? 'State of the world' : 'Delta'}** (ADS ${protocol === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources'})`,
        headers: ['N', 'server', 'p50', 'p99', 'max', 'never arrived', 'server: last write issued', 'server CPU per change', 'shardvoy: published at', 'p99 ratio'],
        rows,
      });
    }
    section.notes.push(
      `Response size: the floor sends ${floor.info.responseBytes.sotw} B (SotW) / ${floor.info.responseBytes.delta} B (delta) per response; ` +
        `shardvoy's shard0-masters ClusterLoadAssignment alone is ${edsBytes ?? 'n/a'} B before its envelope.`,
      '"server: last write issued" is the server\'s own view: the floor\'s write loop, or shardvoy\'s cache.publish() returning (when every stream\'s ' +
        'synchronous share of the fan-out is done). The latencies also contain the clients\' own work: one client process reads every response ' +
        'and writes every ACK for all N streams on the same two cores, which puts a floor under both servers and narrows the ratio.',
      fallbacks.length === 0
        ? 'Every stream had its own HTTP/2 connection.'
        : `One connection per stream failed for ${fallbacks.join(', ')}: those ran 10 streams per connection.`,
    );
  },
};
