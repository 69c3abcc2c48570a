/**
 * The etcd store's promises (contract 14), on a real etcd and several in-process instances:
 * every instance routes alike with the same versions; a renewal writes nothing to etcd; racing
 * writes through different instances never give one port to two nodes nor let an older master
 * win; one judge expires, another takes over when it goes and waits a lease first; mass silence
 * is preserved for every instance and an operator's resume through any instance ends it; an
 * unreachable etcd is fail-static (503 + Retry-After, /readyz says why, nothing expires), and a
 * watch that cannot resume after a compaction is rebuilt from a fresh list.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { eventually, startTestShardvoy, type Running } from '../support/harness.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { printFigure } from '../support/traffic.js';
import { scrapeMetric } from '../support/metrics.js';

let etcd: EtcdCluster;
let client: Etcd3;
let prefixes = 0;
const running: Running[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
  client = new Etcd3({ hosts: etcd.clientUrls });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(running.map((r) => r.stop()));
  for (const proxy of proxies) proxy.close();
  client?.close();
  await etcd?.stop();
});

const GROUPS = [
  { name: 'g', database: 'dkv', shards: [{ name: 's1', listen: '0.0.0.0:10000', clusters: ['s1-masters', 's1-replicas'] }] },
  { name: 'pl', database: 'kafka', advertisedHost: 'kafka.test', bootstrapListener: '0.0.0.0:9091', nodeListeners: { listenHost: '0.0.0.0', ports: '6001-6100' } },
];

/** `count` instances sharing one fresh prefix; `endpoints` overrides where one of them reaches etcd. */
async function instances(count: number, registry: Record<string, unknown> = {}, endpointsOf: (i: number) => string[] = () => etcd.endpoints) {
  const prefix = `/t${++prefixes}-${process.pid}/`;
  const started: Running[] = [];
  for (let i = 0; i < count; i++) {
    const one = await startTestShardvoy({
      registry: { store: 'etcd', etcd: { endpoints: endpointsOf(i), prefix }, leaseSeconds: 2, ...registry },
      xds: { controlPlaneId: `sv-${i}` },
      groups: GROUPS,
    });
    running.push(one);
    started.push(one);
  }
  onTestFinished(() => Promise.allSettled(started.map((one) => one.stop())).then(() => undefined));
  await Promise.all(started.map((one) => eventually(async () => expect((await fetch(`${one.baseUrl}/readyz`)).status).toBe(200), 10_000)));
  return { all: started, prefix };
}

const node = (id: string, fields: Record<string, unknown> = {}) => ({ id, address: '127.0.0.1:9001', database: 'dkv', shard: 's1', role: 'replica', ...fields });

async function post(one: Running, body: Record<string, unknown>): Promise<Response> {
  const response = await one.heartbeat(body);
  return response;
}

async function endpointsOf(one: Running, cluster: string): Promise<Array<{ id: string; health: string; routed: boolean }>> {
  const view = await one.getJson('/clusters');
  return view.clusters.find((c: { name: string }) => c.name === cluster)?.endpoints ?? [];
}

async function revision(): Promise<number> {
  return Number((await client.kv.range({ key: Buffer.from('/'), limit: 1 })).header.revision);
}

describe('registry.store: etcd', () => {
  it('routes alike on every instance with the same snapshot version, a heartbeat through any of them', async () => {
    const { all } = await instances(3);
    const started = Date.now();
    expect((await post(all[0]!, node('m1', { role: 'master', epoch: 1 }))).status).toBe(200);
    expect((await post(all[1]!, node('r1', { address: '127.0.0.1:9002' }))).status).toBe(200);
    const versions = await eventually(async () => {
      const views = await Promise.all(all.map((one) => one.getJson('/clusters')));
      for (const view of views) {
        const masters = view.clusters.find((c: { name: string }) => c.name === 's1-masters').endpoints;
        const replicas = view.clusters.find((c: { name: string }) => c.name === 's1-replicas').endpoints;
        expect([masters.map((e: { id: string }) => e.id), replicas.map((e: { id: string }) => e.id)]).toEqual([['m1'], ['r1']]);
      }
      return views.map((v) => v.version);
    }, 5_000, 5);
    printFigure('etcd-cross-instance-publish', { ms: Date.now() - started });
    expect(new Set(versions).size, `versions ${versions.join(', ')}`).toBe(1);

    // The first instance saw the others join, and sees one leave.
    const reasons = async () =>
      ((await all[0]!.getJson('/v1/events')).events as Array<{ reason: string; regarding: { name: string } }>)
        .filter((e) => e.reason.startsWith('Instance'))
        .map((e) => `${e.reason} ${e.regarding.name}`);
    // (Its own candidacy may reach its copy after the first list, and then joins too.)
    const joined = (await reasons()).filter((r) => r !== 'InstanceJoined sv-0');
    expect(joined).toEqual(['InstanceJoined sv-1', 'InstanceJoined sv-2']);
    await all[2]!.stop();
    await eventually(async () => expect((await reasons()).filter((r) => r !== 'InstanceJoined sv-0')).toEqual([...joined, 'InstanceLeft sv-2']), 5_000);
    // Each change cost etcd round trips, and the metrics count them.
    expect(await scrapeMetric(all[0]!.baseUrl, 'shardvoy_etcd_request_seconds_count{op="txn"}')).toBeGreaterThanOrEqual(1);
  });

  it('writes nothing to etcd for a heartbeat that changes nothing: the lease is renewed', async () => {
    const { all, prefix } = await instances(2);
    expect((await post(all[0]!, node('quiet'))).status).toBe(200);
    await eventually(async () => expect((await endpointsOf(all[1]!, 's1-replicas')).map((e) => e.id)).toEqual(['quiet']));
    // Every write under the prefix but the judge's tick, as etcd reports it.
    const writes: string[] = [];
    const watcher = await client.watch().prefix(prefix).create();
    watcher.on('put', (kv) => kv.key.toString() !== `${prefix}tick` && writes.push(`put ${kv.key.toString()}`));
    watcher.on('delete', (kv) => writes.push(`delete ${kv.key.toString()}`));
    try {
      // Two leases of renewals, every 300 ms, through both instances.
      for (let i = 0; i < 14; i++) {
        expect((await post(all[i % 2]!, node('quiet'))).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      // A change is written, and seen by this watch: it is live.
      expect((await post(all[0]!, node('quiet', { status: 'draining' }))).status).toBe(200);
      await eventually(() => expect(writes.length).toBeGreaterThan(0));
    } finally {
      await watcher.cancel();
    }
    printFigure('etcd-writes-for-14-renewals-then-a-change', { writes: writes.length });
    const renewals = await Promise.all(all.map((one) => scrapeMetric(one.baseUrl, 'shardvoy_etcd_request_seconds_count{op="lease_renew"}')));
    expect(renewals[0]! + renewals[1]!).toBeGreaterThanOrEqual(14);
    expect(writes).toEqual([`put ${prefix}nodes/quiet`, `put ${prefix}alive/quiet`]);
    // The lease was renewed: two leases on, the node is live on both.
    for (const one of all) await eventually(async () => expect((await endpointsOf(one, 's1-replicas')).map((e) => [e.id, e.health])).toEqual([['quiet', 'draining']]));
  });

  it('never gives one port to two nodes asking through different instances at the same moment', async () => {
    const { all } = await instances(3);
    const brokers = Array.from({ length: 30 }, (_, i) => ({ id: `b${i}`, address: `127.0.0.1:${19000 + i}`, database: 'kafka', shard: 'brokers', role: 'master' }));
    const answers = await Promise.all(brokers.map((b, i) => post(all[i % 3]!, b).then(async (r) => [r.status, await r.json()] as const)));
    expect(answers.filter(([status]) => status !== 200)).toEqual([]);
    const given = answers.map(([, body]) => body.advertised.pl as string);
    expect(new Set(given).size, given.join(' ')).toBe(30);
    for (const one of all) {
      const advertised = await eventually(async () => {
        const view = await one.getJson('/v1/advertised?group=pl');
        expect(Object.keys(view)).toHaveLength(30);
        return view;
      });
      expect(Object.values(advertised).sort()).toEqual([...given].sort());
    }
  });

  it('lets the higher epoch win on every instance when two masters claim one shard through different instances', async () => {
    const { all } = await instances(2);
    const [a, b] = [all[0]!, all[1]!];
    const claims = await Promise.all([post(a, node('old', { role: 'master', epoch: 4 })), post(b, node('new', { role: 'master', epoch: 5, address: '127.0.0.1:9003' }))]);
    expect(claims.map((r) => r.status)).toEqual([200, 200]);
    for (const one of all) {
      await eventually(async () => {
        const masters = await endpointsOf(one, 's1-masters');
        expect(masters.map((e) => [e.id, e.health, e.routed]).sort()).toEqual([
          ['new', 'healthy', true],
          ['old', 'fenced', false],
        ]);
      });
    }
  });

  it('expires through one judge; when the judge goes another takes over and waits a lease before expiring anyone', async () => {
    const { all } = await instances(2, { selfPreservation: { enabled: false }, expiredRetentionSeconds: 60 });
    const [first, second] = [all[0]!, all[1]!];
    const judgeOf = async () => (await eventually(async () => { const s = (first.shardvoy.registry as any).judgeStatus(); expect(s).toBeDefined(); return s; })).judge as string;
    const judge = await judgeOf();
    // One judge for the cluster, as each instance's metrics say.
    const judges = await Promise.all(all.map((one) => scrapeMetric(one.baseUrl, 'shardvoy_registry_judge')));
    expect(judges.sort()).toEqual([0, 1]);
    const [judging, other] = judge === 'sv-0' || judge.startsWith('sv-0') ? [first, second] : [second, first];
    expect((await post(other, node('gone'))).status).toBe(200);
    const silentFrom = Date.now();
    await eventually(async () => expect((await endpointsOf(other, 's1-replicas')).map((e) => e.health)).toEqual(['expired']), 8_000, 20);
    const expiredAfter = Date.now() - silentFrom;
    printFigure('etcd-expiry-after-silence', { ms: expiredAfter, leaseMs: 2000 });
    expect(expiredAfter).toBeGreaterThanOrEqual(1_900);

    // The judge goes just before a node's lease ends; the other instance is elected and, for a
    // lease from then, expires no one: the node is expired a lease after the takeover, not at once.
    expect((await post(other, node('keeps', { address: '127.0.0.1:9004' }))).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await judging.stop();
    const judgeGoneAt = Date.now();
    await eventually(async () => expect((other.shardvoy.registry as any).judgeStatus()?.judge).toBe(other.shardvoy.xds.identifier), 10_000, 20);
    const tookOverAt = Date.now();
    printFigure('etcd-judge-takeover', { ms: tookOverAt - judgeGoneAt });
    await eventually(async () => expect((await endpointsOf(other, 's1-replicas')).find((e) => e.id === 'keeps')?.health).toBe('expired'), 15_000, 20);
    printFigure('etcd-expiry-after-judge-change', { ms: Date.now() - tookOverAt, leaseMs: 2000 });
    expect(Date.now() - tookOverAt).toBeGreaterThanOrEqual(1_900);
  }, 40_000);

  it('keeps a mass silence routable on every instance (self-preservation) until an operator resumes through any instance', async () => {
    const { all } = await instances(2, { selfPreservation: { enabled: true, maxExpiredFraction: 0.5, minNodes: 3 } });
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5'];
    // All at once, so that their leases end together.
    const first = await Promise.all(ids.map((id, i) => post(all[i % 2]!, node(id, { address: `127.0.0.1:${9100 + i}` }))));
    expect(first.map((r) => r.status)).toEqual(ids.map(() => 200));
    await eventually(async () => expect(await endpointsOf(all[1]!, 's1-replicas')).toHaveLength(5));
    // Only p5 keeps heartbeating: 4 of 5 fall silent at once.
    const pump = setInterval(() => void post(all[0]!, node('p5', { address: '127.0.0.1:9104' })), 300);
    try {
      await new Promise((resolve) => setTimeout(resolve, 7_000));
      for (const one of all) expect((await endpointsOf(one, 's1-replicas')).filter((e) => e.routed).map((e) => e.id).sort()).toEqual(ids);
      const resumed = await fetch(`${all[1]!.baseUrl}/v1/registry/resume-expiry`, { method: 'POST' });
      expect(resumed.status).toBe(200);
      expect((await resumed.json()).wasPreserving).toBe(true);
      for (const one of all) {
        await eventually(async () => expect((await endpointsOf(one, 's1-replicas')).filter((e) => e.routed).map((e) => e.id)).toEqual(['p5']), 8_000);
      }
    } finally {
      clearInterval(pump);
    }
  }, 40_000);

  it('counts a mass silence of 3,000 nodes together although etcd ends their leases over seconds: none expires, all are preserved', async () => {
    // etcd revokes at most 1,000 leases a second: 3,000 leases that end together vanish over 3 s
    // or more, longer than the moment the judge waits after a lease ends (2 s). At
    // maxExpiredFraction 0.9 the first to vanish were expired before 90% had (227 of them, before
    // the judge swept the leases). A lease of 15 s leaves room for registering and renewing them.
    const { all } = await instances(1, { leaseSeconds: 15, selfPreservation: { enabled: true, maxExpiredFraction: 0.9, minNodes: 3 } });
    const [one] = all;
    const N = 3_000;
    const bodies = Array.from({ length: N }, (_, i) => node(`q${i}`, { address: `10.${(i >> 8) & 255}.${i & 255}.1:9001` }));
    const burst = async () => {
      for (let i = 0; i < N; i += 200) {
        const answers = await Promise.all(bodies.slice(i, i + 200).map((body) => post(one!, body)));
        expect(answers.filter((a) => a.status !== 200)).toEqual([]);
      }
    };
    const registering = Date.now();
    await burst(); // registered
    const renewing = Date.now();
    await burst(); // renewed at once: the leases now end together
    const silentFrom = Date.now();
    const bursts = { registerMs: renewing - registering, renewMs: silentFrom - renewing };
    const health = async () => {
      const counts: Record<string, number> = {};
      for (const e of await endpointsOf(one!, 's1-replicas')) {
        const key = e.routed ? e.health : `${e.health}, not routed`;
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return counts;
    };
    const engaged = async () => (await scrapeMetric(one!.baseUrl, 'shardvoy_self_preservation_engaged')) === 1;
    await eventually(async () => expect(await engaged()).toBe(true), 30_000, 100);
    const engagedAfterMs = Date.now() - silentFrom;
    // Every lease has been revoked by now, well past the judge's wait.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const seen = await health();
    printFigure('etcd-mass-silence', { nodes: N, ...bursts, engagedAfterMs, health: seen });
    expect(seen.expired ?? 0).toBe(0);
    expect(seen.healthy).toBe(N);
  }, 120_000);

  it('is fail-static when etcd is out of reach: last snapshot kept, 503 with Retry-After, /readyz says why, nothing expires for the outage', async () => {
    const proxy = await startTcpProxy(etcd.endpoints[0]!);
    proxies.push(proxy);
    const { all } = await instances(2, { leaseSeconds: 3 }, (i) => (i === 0 ? [proxy.endpoint] : etcd.endpoints));
    const [cut, other] = [all[0]!, all[1]!];
    expect((await post(cut, node('steady', { role: 'master', epoch: 1 }))).status).toBe(200);
    const pump = setInterval(() => void post(other, node('steady', { role: 'master', epoch: 1 })), 500);
    try {
      await eventually(async () => expect((await endpointsOf(cut, 's1-masters')).map((e) => e.id)).toEqual(['steady']));
      const versionBefore = (await cut.getJson('/clusters')).version;
      proxy.blackhole();
      const cutAt = Date.now();
      const refused = await eventually(async () => {
        const response = await post(cut, node('newcomer', { address: '127.0.0.1:9200' }));
        expect(response.status).toBe(503);
        return response;
      }, 20_000, 200);
      printFigure('etcd-cut-noticed', { ms: Date.now() - cutAt });
      expect(refused.headers.get('retry-after')).toBe('1');
      const ready = await eventually(async () => {
        const response = await fetch(`${cut.baseUrl}/readyz`);
        expect(response.status).toBe(503);
        return response.text();
      }, 10_000, 100);
      expect(ready).toContain('etcd');
      expect(await scrapeMetric(cut.baseUrl, 'shardvoy_registry_store_reachable')).toBe(0);
      expect(await scrapeMetric(cut.baseUrl, 'shardvoy_registry_store_unreachable_seconds')).toBeGreaterThan(0);
      // Its last snapshot stays: the master routed as before, same version.
      const during = await cut.getJson('/clusters');
      expect([during.version, during.clusters[0].endpoints.map((e: { id: string; routed: boolean }) => [e.id, e.routed])]).toEqual([versionBefore, [['steady', true]]]);
      await new Promise((resolve) => setTimeout(resolve, 4_000)); // longer than a lease
      proxy.restore();
      const restoredAt = Date.now();
      await eventually(async () => expect((await fetch(`${cut.baseUrl}/readyz`)).status).toBe(200), 20_000, 100);
      printFigure('etcd-cut-recovery', { ms: Date.now() - restoredAt });
      expect((await post(cut, node('newcomer', { address: '127.0.0.1:9200' }))).status).toBe(200);
      for (const one of all) expect((await endpointsOf(one, 's1-masters')).map((e) => [e.id, e.health])).toEqual([['steady', 'healthy']]);
    } finally {
      clearInterval(pump);
    }
  }, 60_000);

  it('routes nothing from a value no heartbeat could have written, and a heartbeat replaces it', async () => {
    const { all, prefix } = await instances(2);
    const forged = { node: { ...node('forged', { role: 'master', epoch: 1e300 }), host: '127.0.0.1', port: 9001, labels: {}, firstSeenMs: 1 }, lease: '1' };
    await client.put(`${prefix}nodes/forged`).value(JSON.stringify(forged));
    await client.put(`${prefix}nodes/junk`).value('not json');
    expect((await post(all[0]!, node('honest', { role: 'master', epoch: 2, address: '127.0.0.1:9401' }))).status).toBe(200);
    for (const one of all) {
      await eventually(async () => expect((await endpointsOf(one, 's1-masters')).map((e) => [e.id, e.health])).toEqual([['honest', 'healthy']]));
    }
    // The id's own heartbeat overwrites what it cannot read, through either instance.
    expect((await post(all[1]!, node('junk', { address: '127.0.0.1:9402' }))).status).toBe(200);
    for (const one of all) await eventually(async () => expect((await endpointsOf(one, 's1-replicas')).map((e) => e.id)).toEqual(['junk']));
  });

  it('rebuilds its copy from a fresh list when the watch cannot resume past a compaction', async () => {
    const proxy = await startTcpProxy(etcd.endpoints[0]!);
    proxies.push(proxy);
    const { all } = await instances(2, { leaseSeconds: 5 }, (i) => (i === 0 ? [proxy.endpoint] : etcd.endpoints));
    const [cut, other] = [all[0]!, all[1]!];
    expect((await post(other, node('before', { address: '127.0.0.1:9301' }))).status).toBe(200);
    await eventually(async () => expect((await endpointsOf(cut, 's1-replicas')).map((e) => e.id)).toEqual(['before']));
    proxy.blackhole();
    // While the instance is away: a node comes, another goes, and history is compacted away.
    expect((await post(other, node('during', { address: '127.0.0.1:9302' }))).status).toBe(200);
    expect((await fetch(`${other.baseUrl}/v1/nodes/before`, { method: 'DELETE' })).status).toBe(200);
    await client.kv.compact({ revision: await revision(), physical: true });
    // Its connection drops: the watch must resume from a revision etcd no longer has.
    proxy.reset();
    proxy.restore();
    await eventually(async () => expect((await endpointsOf(cut, 's1-replicas')).map((e) => e.id)).toEqual(['during']), 20_000, 100);
    expect((await cut.getJson('/clusters')).version).toBe((await other.getJson('/clusters')).version);
  }, 60_000);
});
