/**
 * 3. Memory: RSS per idle stream, shardvoy against the floor server, with the same clients
 * (SotW, one connection per stream). Each server is fresh, and both figures are read after a
 * full GC, so what is left is what holding the streams costs.
 */
import { GROUP, NETWORK_CONFIG, seedNodes } from '../lib/fixtures.js';
import type { Child } from '../lib/ipc.js';
import type { Profile } from '../lib/profile.js';
import { atMost } from '../lib/report.js';
import { fmt, fmtBytes } from '../lib/stats.js';
import { AdsClients, serverStats, sleep } from '../lib/streams.js';
import type { Scenario } from './scenario.js';

interface PerStream {
  readonly rssBefore: number;
  readonly rssAfter: number;
  readonly rssPerStream: number;
  readonly heapPerStream: number;
  readonly streamsPerConnection: number;
}

async function perStream(server: Child<unknown>, address: string, clients: AdsClients, profile: Profile): Promise<PerStream> {
  const count = profile.memory.count;
  const before = await serverStats(server, { gc: true });
  const opened = await clients.open(address, count, 'sotw', profile.waveSize);
  try {
    // Idle: every response ACKed, nothing in flight.
    await sleep(profile.memory.idleMs);
    const after = await serverStats(server, { gc: true });
    return {
      rssBefore: before.rssBytes,
      rssAfter: after.rssBytes,
      rssPerStream: (after.rssBytes - before.rssBytes) / opened.ready,
      heapPerStream: (after.heapUsedBytes - before.heapUsedBytes) / opened.ready,
      streamsPerConnection: opened.streamsPerConnection,
    };
  } finally {
    await clients.close();
  }
}

export const memory: Scenario = {
  id: 'memory',
  title: '3. Memory',
  method: (p: Profile) =>
    `${fmt(p.memory.count)} idle SotW streams (one connection each, same client process as the fan-out) held by a fresh server process; ` +
    `RSS (process.memoryUsage().rss) read after a full GC before the streams open and again after ${fmt(p.memory.idleMs / 1000)} s of idling ` +
    'with all of them open; per stream = the difference / N. Heap used is shown beside it.',
  timeoutMs: (p) => 120_000 + p.memory.count * 2 * 10,
  async run({ profile, log, spawn, section }) {
    const [shardvoy, floor, clientChild] = await Promise.all([spawn.shardvoy(NETWORK_CONFIG), spawn.floor(), spawn.adsClients()]);
    const clients = new AdsClients(clientChild, log);
    await shardvoy.request('heartbeat', { bodies: seedNodes(), awaitPublish: { group: GROUP, timeoutMs: 10_000 } }, 15_000);
    const base = await perStream(floor, floor.info.grpc, clients, profile);
    log(`  floor:    ${fmtBytes(base.rssPerStream)} RSS per stream (${fmtBytes(base.rssBefore)} -> ${fmtBytes(base.rssAfter)})`);
    const ours = await perStream(shardvoy, shardvoy.info.grpc, clients, profile);
    log(`  shardvoy: ${fmtBytes(ours.rssPerStream)} RSS per stream (${fmtBytes(ours.rssBefore)} -> ${fmtBytes(ours.rssAfter)})`);
    const ratio = ours.rssPerStream / base.rssPerStream;
    section.tables.push({
      headers: ['figure', 'shardvoy', 'floor', 'ratio'],
      rows: [
        ['RSS per idle stream', fmtBytes(ours.rssPerStream), fmtBytes(base.rssPerStream), `${fmt(ratio)}×`],
        ['heap used per idle stream', fmtBytes(ours.heapPerStream), fmtBytes(base.heapPerStream), `${fmt(ours.heapPerStream / base.heapPerStream)}×`],
        ['RSS with no stream', fmtBytes(ours.rssBefore), fmtBytes(base.rssBefore), ''],
        [`RSS with ${fmt(profile.memory.count)} streams`, fmtBytes(ours.rssAfter), fmtBytes(base.rssAfter), ''],
      ],
    });
    section.verdicts.push(atMost(`RSS per idle stream at N = ${fmt(profile.memory.count)} ≤ 1.5× floor`, ratio, 1.5, '×'));
    if (base.streamsPerConnection > 1 || ours.streamsPerConnection > 1) section.notes.push('Streams shared connections (10 per connection): one each proved impossible.');
  },
};
