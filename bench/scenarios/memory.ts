/**
 * 3. Memory: RSS per idle stream, shardvoy against go-control-plane and the floor server, with
 * the same clients (SotW, one connection per stream). Each server is fresh, and every figure is
 * read after a full GC (Go: runtime.GC + debug.FreeOSMemory), so what is left is what holding the
 * streams costs.
 */
import { GROUP, NETWORK_CONFIG, seedNodes } from '../lib/fixtures.js';
import { PEER_BUILD_ALLOWANCE_MS } from '../peers/go-control-plane/peer.js';
import type { Profile } from '../lib/profile.js';
import { atMost, notRun } from '../lib/report.js';
import { fmt, fmtBytes } from '../lib/stats.js';
import { AdsClients, serverStats, sleep, type Requester } from '../lib/streams.js';
import type { Scenario } from './scenario.js';

interface PerStream {
  readonly rssBefore: number;
  readonly rssAfter: number;
  readonly rssPerStream: number;
  readonly heapPerStream: number;
  readonly streamsPerConnection: number;
}

async function perStream(server: Requester, address: string, clients: AdsClients, profile: Profile): Promise<PerStream> {
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
    `${fmt(p.memory.count)} idle SotW streams (one connection each, spread over ${p.clientProcesses} client process(es) as in the fan-out, subscribed to the EDS of the ` +
    'group\'s load assignments) held by a fresh server process, in turn: the floor, shardvoy, go-control-plane; RSS ' +
    '(process.memoryUsage().rss; for the Go peer /proc/self/statm) read after a full GC (Go: runtime.GC and debug.FreeOSMemory) ' +
    `before the streams open and again after ${fmt(p.memory.idleMs / 1000)} s of idling ` +
    'with all of them open; per stream = the difference / N. Heap used (Go: HeapAlloc) is shown beside it.',
  timeoutMs: (p) => PEER_BUILD_ALLOWANCE_MS + 120_000 + p.memory.count * 3 * 10,
  async run({ profile, log, spawn, section }) {
    const [shardvoy, floor, clientChildren] = await Promise.all([spawn.shardvoy(NETWORK_CONFIG), spawn.floor(), spawn.adsClientPool(profile.clientProcesses)]);
    const clients = new AdsClients(clientChildren, log);
    await shardvoy.request('heartbeat', { bodies: seedNodes(), awaitPublish: { group: GROUP, timeoutMs: 10_000 } }, 15_000);
    const started = await spawn.gcp(shardvoy, GROUP);
    clients.names = started.edsNames;
    if (started.notRun) log(`  go-control-plane peer not run: ${started.notRun}`);
    const base = await perStream(floor, floor.info.grpc, clients, profile);
    log(`  floor:    ${fmtBytes(base.rssPerStream)} RSS per stream (${fmtBytes(base.rssBefore)} -> ${fmtBytes(base.rssAfter)})`);
    const ours = await perStream(shardvoy, shardvoy.info.grpc, clients, profile);
    log(`  shardvoy: ${fmtBytes(ours.rssPerStream)} RSS per stream (${fmtBytes(ours.rssBefore)} -> ${fmtBytes(ours.rssAfter)})`);
    const peer = started.peer ? await perStream(started.peer, started.peer.info.grpc, clients, profile) : undefined;
    if (peer) log(`  go-control-plane: ${fmtBytes(peer.rssPerStream)} RSS per stream (${fmtBytes(peer.rssBefore)} -> ${fmtBytes(peer.rssAfter)})`);
    const missing = `not run: ${started.notRun}`;
    const cell = (pick: (s: PerStream) => number) => (peer ? fmtBytes(pick(peer)) : missing);
    const ratio = (a: number, b: number | undefined) => (b === undefined ? '' : `${fmt(a / b)}×`);
    section.tables.push({
      headers: ['figure', 'shardvoy', 'go-control-plane', 'floor', 'shardvoy / go-control-plane', 'shardvoy / floor'],
      rows: [
        ['RSS per idle stream', fmtBytes(ours.rssPerStream), cell((s) => s.rssPerStream), fmtBytes(base.rssPerStream), ratio(ours.rssPerStream, peer?.rssPerStream), ratio(ours.rssPerStream, base.rssPerStream)],
        ['heap used per idle stream', fmtBytes(ours.heapPerStream), cell((s) => s.heapPerStream), fmtBytes(base.heapPerStream), ratio(ours.heapPerStream, peer?.heapPerStream), ratio(ours.heapPerStream, base.heapPerStream)],
        ['RSS with no stream', fmtBytes(ours.rssBefore), cell((s) => s.rssBefore), fmtBytes(base.rssBefore), '', ''],
        [`RSS with ${fmt(profile.memory.count)} streams`, fmtBytes(ours.rssAfter), cell((s) => s.rssAfter), fmtBytes(base.rssAfter), '', ''],
      ],
    });
    const target = `RSS per idle stream at N = ${fmt(profile.memory.count)} ≤ 1.0× go-control-plane's`;
    section.verdicts.push(peer ? atMost(target, ours.rssPerStream / peer.rssPerStream, 1, '×') : notRun(target, started.notRun!));
    if (started.peer) section.notes.push(`go-control-plane peer: ${started.peer.info.library}, ${started.peer.info.go}, GOMAXPROCS ${started.peer.info.gomaxprocs}.`);
    if ([base, ours, peer].some((s) => s && s.streamsPerConnection > 1)) section.notes.push('Streams shared connections (10 per connection): one each proved impossible.');
  },
};
