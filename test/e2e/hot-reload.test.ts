/**
 * Hot reload through the real binary: the configuration file is re-read when it changes (or on
 * SIGHUP); a valid one is applied without dropping streams, an invalid one is refused with a log
 * line and the running configuration stays. Then, on the pipeline itself: one test per key the
 * README says a reload applies, and one per way a file is replaced (in place, an editor's
 * rename-over, a Kubernetes ConfigMap's "..data" symlink swap).
 */
import * as grpc from '@grpc/grpc-js';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { reconcile } from '../../src/config/reload.js';
import type { Config } from '../../src/config/types.js';
import { watchFile } from '../../src/config/watch-file.js';
import { CLUSTER, LISTENER, messageNameOf } from '../../src/envoy-api/type-urls.js';
import { startShardvoy } from '../../src/main.js';
import { EnvoyLikeClient } from '../support/ads-client.js';
import { runCli, type CliRun } from '../support/cli-process.js';
import { dkvClient } from '../support/dkv-client.js';
import { FakeClock } from '../support/fake-clock.js';
import { decodeToJson } from '../support/golden-json.js';
import { eventually, startTestShardvoy } from '../support/harness.js';

/**
 * Under mutation testing (stryker.config.mjs) a mutant is active only in the test runner's own
 * process: a shardvoy started as a child runs unmutated code, so its tests can kill nothing there.
 */
const underMutation = process.env.STRYKER_MUTATOR_WORKER !== undefined;

const shard = (name: string, port: number) => `      - { name: ${name}, listen: "127.0.0.1:${port}", clusters: [${name}-masters, ${name}-replicas] }`;
const configText = (shards: string[], extra = '') => ['registry:', '  warmupSeconds: 0', extra, 'groups:', '  - name: edge', '    shards:', ...shards].join('\n') + '\n';

describe('hot reload', () => {
  const runs: CliRun[] = [];
  const clients: EnvoyLikeClient[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    for (const run of runs.splice(0)) if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });

  it.skipIf(underMutation)('applies a new shard without dropping the stream, refuses a broken file, and reloads on SIGHUP', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-reload-'));
    const file = path.join(dir, 'shardvoy.yaml');
    writeFileSync(file, configText([shard('shard0', 10000)]));
    const run = runCli(['serve', '--config', file, '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0']);
    runs.push(run);
    const grpc = (await run.waitForLine((l) => l.service === 'grpc')).address as string;
    const envoy = new EnvoyLikeClient(grpc, { nodeId: 'edge' });
    clients.push(envoy);
    await envoy.waitFor((c) => c.listeners.size === 2, 10_000, 'shard0 listeners');

    writeFileSync(file, configText([shard('shard0', 10000), shard('shard1', 11000)]));
    await envoy.waitFor((c) => c.listeners.size === 4 && c.endpoints.size === 4, 10_000, 'shard1 added');
    expect(envoy.status).toBeUndefined(); // the same stream, never dropped
    expect(envoy.listeners.get('shard1-replicas')!.address.socket_address.port_value).toBe(11001);

    const responses = envoy.responses.length;
    writeFileSync(file, configText([shard('shard0', 10000)]).replace('shard0-replicas', 'shard0-leaders'));
    const refused = await run.waitForLine((l) => l.msg === 'configuration reload refused; the running configuration stays');
    expect(refused.error).toContain('groups[0].shards[0].clusters[1]');
    await new Promise((r) => setTimeout(r, 300));
    expect(envoy.responses.length).toBe(responses);
    expect(envoy.listeners.size).toBe(4);

    // The state file is bound at start: a new one is kept for the next start, and said so.
    writeFileSync(file, configText([shard('shard0', 10000)], `  stateFile: ${path.join(dir, 'state.json')}`));
    const warned = await run.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('these keys changed but apply only after a restart'));
    expect(warned.keys).toEqual(['registry.stateFile']);
    await envoy.waitFor((c) => c.listeners.size === 2, 10_000, 'shard1 removed');

    run.child.kill('SIGHUP');
    await run.waitForLine((l) => l.msg === 'configuration reloaded' && l.time > warned.time);
    expect(envoy.status).toBeUndefined();
  });
});

describe('reconcile', () => {
  const base = { groups: [{ name: 'g', shards: [{ name: 's0', listen: '0.0.0.0:10000', clusters: ['s0-masters'] }] }] };
  it('keeps the running value of keys bound at start and names them', () => {
    const running = parseConfig({ ...base, registry: { leaseSeconds: 10 } });
    const next = parseConfig({ ...base, grpc: { listen: '0.0.0.0:9999' }, registry: { leaseSeconds: 20, stateFile: '/tmp/x.json' }, xds: { debounceMs: 5, streamRequestBurst: 10 } });
    const { config, needsRestart } = reconcile(running, next);
    expect(needsRestart).toEqual(['grpc', 'registry.stateFile', 'xds.streamRequestBurst']);
    expect(config.grpc).toEqual(running.grpc);
    expect(config.registry.stateFile).toBeUndefined();
    expect(config.registry.leaseSeconds).toBe(20);
    expect(config.xds.debounceMs).toBe(5);
    expect(config.xds.streamRequestBurst).toBe(running.xds.streamRequestBurst);
  });

  // Every key bound at start (README, Hot reload), changed alone: named, and the running value kept.
  const RESTART_ONLY: Array<[string, Record<string, unknown>, (c: Config) => unknown]> = [
    ['http', { http: { listen: '127.0.0.1:1' } }, (c) => c.http],
    ['grpc', { grpc: { listen: '127.0.0.1:2' } }, (c) => c.grpc],
    ['registry.stateFile', { registry: { stateFile: '/tmp/shardvoy-state.json' } }, (c) => c.registry.stateFile],
    ['registry.remote', { registry: { remote: ['10.0.0.1:8082'] } }, (c) => c.registry.remote],
    ['registry.pollIntervalSeconds', { registry: { pollIntervalSeconds: 9 } }, (c) => c.registry.pollIntervalSeconds],
    ['xds.maxConnectionAgeSeconds', { xds: { maxConnectionAgeSeconds: 60 } }, (c) => c.xds.maxConnectionAgeSeconds],
    ['xds.maxConnectionAgeGraceSeconds', { xds: { maxConnectionAgeGraceSeconds: 5 } }, (c) => c.xds.maxConnectionAgeGraceSeconds],
    ['xds.streamRequestsPerSecond', { xds: { streamRequestsPerSecond: 10 } }, (c) => c.xds.streamRequestsPerSecond],
    ['xds.streamRequestBurst', { xds: { streamRequestBurst: 20 } }, (c) => c.xds.streamRequestBurst],
    ['xds.maxRequestBytes', { xds: { maxRequestBytes: 4096 } }, (c) => c.xds.maxRequestBytes],
    ['xds.maxStreamsPerConnection', { xds: { maxStreamsPerConnection: 4 } }, (c) => c.xds.maxStreamsPerConnection],
    ['xds.controlPlaneId', { xds: { controlPlaneId: 'cp-2' } }, (c) => c.xds.controlPlaneId],
  ];
  it.each(RESTART_ONLY)('keeps the running %s and names it', (key, change, get) => {
    const running = parseConfig(base);
    const next = parseConfig({ ...base, ...change });
    expect(get(next), 'the test changes the key').not.toEqual(get(running));
    const { config, needsRestart } = reconcile(running, next);
    expect(needsRestart).toEqual([key]);
    expect(get(config)).toEqual(get(running));
  });

  it('keeps the running registry store and its etcd settings, and names what changed', () => {
    const onEtcd = (endpoint: string) => parseConfig({ ...base, registry: { store: 'etcd', etcd: { endpoints: [endpoint] } } });
    const toEtcd = reconcile(parseConfig(base), onEtcd('127.0.0.1:2379'));
    expect([toEtcd.needsRestart, toEtcd.config.registry.store, toEtcd.config.registry.etcd]).toEqual([['registry.store', 'registry.etcd'], 'memory', undefined]);
    const moved = reconcile(onEtcd('127.0.0.1:2379'), onEtcd('127.0.0.1:2479'));
    expect([moved.needsRestart, moved.config.registry.etcd?.endpoints]).toEqual([['registry.etcd'], ['127.0.0.1:2379']]);
  });

  // Every other key applies at once, named by nobody.
  const RELOADED: Array<[string, Record<string, unknown>, (c: Config) => unknown]> = [
    ['registry.leaseSeconds', { registry: { leaseSeconds: 3 } }, (c) => c.registry.leaseSeconds],
    ['registry.expiredRetentionSeconds', { registry: { expiredRetentionSeconds: 7 } }, (c) => c.registry.expiredRetentionSeconds],
    ['registry.portReuseSeconds', { registry: { portReuseSeconds: 11 } }, (c) => c.registry.portReuseSeconds],
    ['registry.maxNodes', { registry: { maxNodes: 5 } }, (c) => c.registry.maxNodes],
    ['registry.selfPreservation', { registry: { selfPreservation: { enabled: false } } }, (c) => c.registry.selfPreservation],
    ['xds.debounceMs', { xds: { debounceMs: 1 } }, (c) => c.xds.debounceMs],
    ['xds.maxDelayMs', { xds: { maxDelayMs: 500 } }, (c) => c.xds.maxDelayMs],
    ['xds.fencedConnectionCloseSeconds', { xds: { fencedConnectionCloseSeconds: 0 } }, (c) => c.xds.fencedConnectionCloseSeconds],
    ['auth', { auth: { adminToken: 'secret' } }, (c) => c.auth],
    ['groups', { groups: [{ name: 'h', shards: [{ name: 's1', listen: '0.0.0.0:11000', clusters: ['s1-masters'] }] }] }, (c) => c.groups],
  ];
  it.each(RELOADED)('applies a new %s at once', (_key, change, get) => {
    const running = parseConfig(base);
    const next = parseConfig({ ...base, ...change });
    expect(get(next), 'the test changes the key').not.toEqual(get(running));
    const { config, needsRestart } = reconcile(running, next);
    expect(needsRestart).toEqual([]);
    expect(get(config)).toEqual(get(next));
  });

  it('applies a new xds.nackRetryMaxSeconds at once', () => {
    const { config, needsRestart } = reconcile(parseConfig(base), parseConfig({ ...base, xds: { nackRetryMaxSeconds: 30 } }));
    expect([config.xds.nackRetryMaxSeconds, needsRestart]).toEqual([30, []]);
  });
});

describe('reload removing a group', () => {
  it('closes the streams of a group that is no longer configured, with INVALID_ARGUMENT', async () => {
    const shards = [{ name: 'shard0', listen: '0.0.0.0:10000', clusters: ['shard0-masters'] }];
    const running = await startTestShardvoy({ groups: [{ name: 'kept', shards }, { name: 'gone', shards }] });
    const kept = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'kept' });
    const gone = new EnvoyLikeClient(running.grpcAddress, { nodeId: 'gone' });
    try {
      await kept.waitFor((c) => c.listeners.size === 1, 5_000, 'kept served');
      await gone.waitFor((c) => c.listeners.size === 1, 5_000, 'gone served');
      running.shardvoy.reload(parseConfig({ groups: [{ name: 'kept', shards }] }));
      await gone.waitFor((c) => c.status !== undefined, 5_000, 'gone closed');
      expect(gone.status?.code).toBe(3);
      expect(gone.status?.details).toContain('group gone is no longer configured');
      expect(kept.status).toBeUndefined();
    } finally {
      kept.close();
      gone.close();
      await running.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// One test per key the README says a reload applies ("Hot reload": groups, shards, clusters,
// node listeners, leases, self-preservation, debounce and tokens), on the real pipeline with its
// registry on a fake clock; and the keys bound at start keeping their running value.

const SHARD0 = { name: 'shard0', listen: '127.0.0.1:10000', clusters: ['shard0-masters', 'shard0-replicas'] };
const EDGE = { name: 'edge', shards: [SHARD0] };
const beatOf = (id: string, n: number, extra: Record<string, unknown> = {}) => ({ id, address: `10.0.0.${n}:9000`, database: 'default', shard: 'shard0', role: 'replica', ...extra });

/** The pipeline on 127.0.0.1:0, its registry on a fake clock; `reload(raw)` applies a new file as the CLI does. */
async function startOnClock(raw: Record<string, unknown>) {
  const clock = new FakeClock();
  const listenAnywhere = (c: Config): Config => ({ ...c, http: { ...c.http, listen: { host: '127.0.0.1', port: 0 } }, grpc: { ...c.grpc, listen: { host: '127.0.0.1', port: 0 } } });
  const config = listenAnywhere(parseConfig(raw, 'test'));
  const shardvoy = await startShardvoy(config, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), clock });
  const base = `http://127.0.0.1:${shardvoy.http.port}`;
  const bearer = (token?: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});
  return {
    shardvoy,
    clock,
    grpc: `127.0.0.1:${shardvoy.grpc.port}`,
    reload: (next: Record<string, unknown>) => shardvoy.reload(listenAnywhere(parseConfig(next, 'test'))),
    beat: (body: Record<string, unknown>, token?: string) =>
      fetch(`${base}/v1/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(token) }, body: JSON.stringify(body) }),
    get: (pathname: string, token?: string) => fetch(`${base}${pathname}`, { headers: bearer(token) }),
    post: (pathname: string, token?: string) => fetch(`${base}${pathname}`, { method: 'POST', headers: bearer(token) }),
    /** Judges the registry at the clock's time (what the lease timer does), then reads every verdict. */
    health: () => {
      shardvoy.watcher.rebuild();
      return Object.fromEntries(shardvoy.watcher.routingView().health);
    },
    preserved: () => [...shardvoy.watcher.routingView().preserved].sort(),
    /** The group's resources of one type as published after a rebuild now, decoded. */
    resources: (group: string, typeUrl: typeof LISTENER | typeof CLUSTER) => {
      shardvoy.watcher.rebuild();
      return [...shardvoy.cache.get(group)!.sets[typeUrl].items.values()].map((r) => decodeToJson(messageNameOf(typeUrl), r.value) as Record<string, any>);
    },
  };
}

describe('hot reload applies each key the README lists', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  async function start(raw: Record<string, unknown>) {
    const running = await startOnClock(raw);
    cleanups.push(() => running.shardvoy.stop());
    return running;
  }
  const withRegistry = (registry: Record<string, unknown>, rest: Record<string, unknown> = {}) => ({ registry: { warmupSeconds: 0, ...registry }, groups: [EDGE], ...rest });

  it('groups: a group added by a reload is served to the Envoys it refused before', async () => {
    const running = await start(withRegistry({}));
    const stranger = new EnvoyLikeClient(running.grpc, { nodeId: 'other' });
    cleanups.push(() => stranger.close());
    await stranger.waitFor((c) => c.status !== undefined, 5_000, 'refused');
    expect(stranger.status!.code).toBe(3);
    running.reload(withRegistry({}, { groups: [EDGE, { name: 'other', shards: [{ ...SHARD0, listen: '127.0.0.1:12000' }] }] }));
    const member = new EnvoyLikeClient(running.grpc, { nodeId: 'other' });
    cleanups.push(() => member.close());
    await member.waitFor((c) => c.listeners.size === 2, 5_000, 'the new group served');
    expect(member.listeners.get('shard0-masters')!.address.socket_address.port_value).toBe(12000);
  });

  it('shards, clusters and cluster settings: what a reload adds or changes is in the next snapshot', async () => {
    const running = await start(withRegistry({}, { groups: [{ name: 'edge', shards: [{ ...SHARD0, clusters: ['shard0-masters'] }] }] }));
    expect(running.resources('edge', LISTENER).map((l) => l.name)).toEqual(['shard0-masters']);
    running.reload(
      withRegistry({}, {
        groups: [{ name: 'edge', shards: [SHARD0, { name: 'shard1', listen: '127.0.0.1:11000', clusters: ['shard1-masters'] }] }],
        clusters: { 'shard0-masters': { connectTimeout: '750ms' } },
      }),
    );
    expect(running.resources('edge', LISTENER).map((l) => l.name).sort()).toEqual(['shard0-masters', 'shard0-replicas', 'shard1-masters']);
    const timeouts = Object.fromEntries(running.resources('edge', CLUSTER).map((c) => [c.name, c.connect_timeout]));
    expect(timeouts).toEqual({ 'shard0-masters': '0.75s', 'shard0-replicas': '5s', 'shard1-masters': '5s' });
  });

  it("node listeners: a reload keeps each node's port while it fits, applies the new host, and gives a new port from the new range", async () => {
    const pool = (ports: string, advertisedHost: string) => withRegistry({}, { groups: [EDGE, { name: 'ext', advertisedHost, nodeListeners: { ports }, shards: [] }] });
    const running = await start(pool('6001-6002', 'k.example.com'));
    expect((await running.beat(beatOf('a', 1))).status).toBe(200);
    expect((await running.beat(beatOf('b', 2))).status).toBe(200);
    const advertised = async () => (await (await running.get('/v1/advertised?group=ext')).json()) as Record<string, string>;
    expect(await advertised()).toEqual({ a: 'k.example.com:6001', b: 'k.example.com:6002' });

    // A wider range under another name: no heartbeat needed, both kept their ports.
    running.reload(pool('6001-6005', 'kafka.example.com'));
    expect(await advertised()).toEqual({ a: 'kafka.example.com:6001', b: 'kafka.example.com:6002' });
    expect((await running.beat(beatOf('c', 3))).status).toBe(200);
    expect((await advertised()).c).toBe('kafka.example.com:6003');

    // A range that moved past a and b: c keeps 6003; b's next heartbeat gets the lowest free port of the new range.
    running.reload(pool('6003-6005', 'kafka.example.com'));
    expect(await advertised()).toEqual({ c: 'kafka.example.com:6003' });
    expect((await (await running.beat(beatOf('b', 2))).json()).advertised).toEqual({ ext: 'kafka.example.com:6004' });
    const listeners = Object.fromEntries(running.resources('ext', LISTENER).map((l) => [l.name, l.address.socket_address.port_value]));
    expect(listeners).toEqual({ 'node-b': 6004, 'node-c': 6003 });
  });

  it('leases: a reload applies a new registry.leaseSeconds to the answer and to expiry', async () => {
    const running = await start(withRegistry({ leaseSeconds: 10 }));
    expect(await (await running.beat(beatOf('n1', 1))).json()).toMatchObject({ leaseSeconds: 10 });
    running.reload(withRegistry({ leaseSeconds: 2 }));
    expect(await (await running.beat(beatOf('n1', 1))).json()).toMatchObject({ leaseSeconds: 2 });
    running.clock.advance(2_000);
    expect(running.health()).toEqual({ n1: 'healthy' });
    running.clock.advance(1);
    expect(running.health()).toEqual({ n1: 'expired' });
  });

  it('retention, port reuse and maxNodes: a reload applies the new registry limits', async () => {
    const limits = (registry: Record<string, unknown>) =>
      withRegistry({ leaseSeconds: 1, selfPreservation: { enabled: false }, ...registry }, { groups: [EDGE, { name: 'ext', advertisedHost: 'k', nodeListeners: { ports: '6001-6001' }, shards: [] }] });
    const running = await start(limits({ maxNodes: 1, expiredRetentionSeconds: 300, portReuseSeconds: 86_400 }));
    expect((await running.beat(beatOf('a', 1))).status).toBe(200);
    expect((await running.beat(beatOf('b', 2))).status).toBe(429);

    running.reload(limits({ maxNodes: 2, expiredRetentionSeconds: 5, portReuseSeconds: 10 }));
    expect((await running.beat(beatOf('b', 2))).status).toBe(200);
    /** Time passes a second at a time; b heartbeats every second, a is silent. What b was told last. */
    const seconds = async (n: number) => {
      let answer: any;
      for (let i = 0; i < n; i++) {
        running.clock.advance(1_000);
        answer = await (await running.beat(beatOf('b', 2))).json();
      }
      running.health();
      return answer;
    };
    // a expires after its 1 s lease and is forgotten 5 s after that (not 300 s).
    await seconds(6);
    expect(running.shardvoy.registry.get('a')).toBeDefined();
    await seconds(1);
    expect(running.shardvoy.registry.get('a')).toBeUndefined();
    // Its port is held for it 10 s (not a day), then goes to b.
    expect((await seconds(9)).advertised).toEqual({});
    expect((await seconds(2)).advertised).toEqual({ ext: 'k:6001' });
  });

  it('self-preservation: a reload that turns it off lets the silent nodes expire', async () => {
    const running = await start(withRegistry({ leaseSeconds: 1 }));
    for (let n = 1; n <= 4; n++) expect((await running.beat(beatOf(`r${n}`, n))).status).toBe(200);
    running.clock.advance(1_001);
    await running.beat(beatOf('r4', 4));
    expect(running.health()).toEqual({ r1: 'healthy', r2: 'healthy', r3: 'healthy', r4: 'healthy' });
    expect(running.preserved()).toEqual(['r1', 'r2', 'r3']);

    running.reload(withRegistry({ leaseSeconds: 1, selfPreservation: { enabled: false } }));
    expect(running.health()).toEqual({ r1: 'expired', r2: 'expired', r3: 'expired', r4: 'healthy' });
    expect(running.preserved()).toEqual([]);
  });

  it('self-preservation: a reload applies a new maxExpiredFraction and minNodes', async () => {
    const settings = (selfPreservation: Record<string, unknown>) => withRegistry({ leaseSeconds: 1, selfPreservation });
    // Three of four silent is 0.75: over 0.5, under 0.8.
    const running = await start(settings({ maxExpiredFraction: 0.8 }));
    for (let n = 1; n <= 4; n++) await running.beat(beatOf(`r${n}`, n));
    running.clock.advance(1_001);
    await running.beat(beatOf('r4', 4));
    expect(running.health().r1).toBe('expired');

    running.reload(settings({ maxExpiredFraction: 0.5 }));
    for (let n = 1; n <= 3; n++) await running.beat(beatOf(`r${n}`, n));
    running.clock.advance(1_001);
    await running.beat(beatOf('r4', 4));
    expect(running.health().r1).toBe('healthy');
    expect(running.preserved()).toEqual(['r1', 'r2', 'r3']);

    // With minNodes 5, four nodes say nothing: expiry resumes for them once judged again.
    expect((await running.post('/v1/registry/resume-expiry')).status).toBe(200);
    running.reload(settings({ maxExpiredFraction: 0.5, minNodes: 5 }));
    for (let n = 1; n <= 3; n++) await running.beat(beatOf(`r${n}`, n));
    running.clock.advance(1_001);
    await running.beat(beatOf('r4', 4));
    expect(running.health()).toMatchObject({ r1: 'expired', r2: 'expired', r3: 'expired' });
  });

  it('debounce: a reload applies new xds.debounceMs and maxDelayMs to the next change', async () => {
    const running = await start(withRegistry({}, { xds: { debounceMs: 60_000, maxDelayMs: 60_000 } }));
    const version = () => running.shardvoy.cache.get('edge')!.version;
    running.reload(withRegistry({}, { xds: { debounceMs: 0, maxDelayMs: 50 } }));
    const reloaded = version();
    expect((await running.beat(beatOf('n1', 1))).status).toBe(200);
    // With the running minute it would wait a minute; with the new values it goes out at once.
    await eventually(() => expect(version()).not.toBe(reloaded), 2_000);
  });

  it('tokens: a reload replaces the heartbeat, admin and read tokens, over HTTP and over DKV gRPC', async () => {
    const auth = (suffix: string) => ({ heartbeatTokens: [`hb-${suffix}`], adminToken: `admin-${suffix}`, readToken: `read-${suffix}` });
    const running = await start(withRegistry({}, { auth: auth('old') }));
    expect((await running.beat(beatOf('n1', 1), 'hb-old')).status).toBe(200);
    running.reload(withRegistry({}, { auth: auth('new') }));

    expect((await running.beat(beatOf('n1', 1), 'hb-old')).status).toBe(401);
    expect((await running.beat(beatOf('n1', 1), 'hb-new')).status).toBe(200);
    expect((await running.get('/v1/nodes', 'read-old')).status).toBe(401);
    expect((await running.get('/v1/nodes', 'read-new')).status).toBe(200);
    expect((await running.post('/v1/registry/resume-expiry', 'admin-old')).status).toBe(401);
    expect((await running.post('/v1/registry/resume-expiry', 'admin-new')).status).toBe(200);

    const dkv = dkvClient(running.grpc);
    cleanups.push(() => dkv.close());
    const bearer = (token: string) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      return metadata;
    };
    const update = { regionInfo: { dcID: 'dc1', nodeAddress: '10.0.0.9:9001', database: 'default', vBucket: 'shard0', status: 'LEADER', httpAddress: '' }, timestamp: '1' };
    await expect(dkv.updateStatus(update, bearer('hb-old'))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(await dkv.updateStatus(update, bearer('hb-new'))).toEqual({ code: 0, message: '' });
    await expect(dkv.getClusterInfo({}, bearer('read-old'))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect((await dkv.getClusterInfo({}, bearer('read-new'))).regionInfos.map((r) => r.nodeAddress).sort()).toEqual(['10.0.0.1:9000', '10.0.0.9:9001']);

    // And tokens can be dropped: the endpoints open again.
    running.reload(withRegistry({}));
    expect((await running.beat(beatOf('n1', 1))).status).toBe(200);
  });

  it('fencedConnectionCloseSeconds: a reload to 0 takes the masters filter chain names away, and back', async () => {
    const running = await start(withRegistry({}, { xds: { fencedConnectionCloseSeconds: 1 } }));
    await running.beat(beatOf('m1', 1, { role: 'master', epoch: 1 }));
    const chainName = () => running.resources('edge', LISTENER).find((l) => l.name === 'shard0-masters')!.filter_chains[0].name as string | undefined;
    expect(chainName()).toMatch(/^masters-[0-9a-f]{16}$/);
    const named = chainName();
    running.reload(withRegistry({}, { xds: { fencedConnectionCloseSeconds: 0 } }));
    expect(chainName()).toBeUndefined();
    running.reload(withRegistry({}, { xds: { fencedConnectionCloseSeconds: 1 } }));
    expect(chainName()).toBe(named);
  });

  it('keys bound at start keep their running value: the servers stay on their ports, and are named in the warning', async () => {
    const running = await start(withRegistry({}));
    const { needsRestart } = running.shardvoy.reload({ ...running.shardvoy.config, http: { listen: { host: '127.0.0.1', port: 1 } }, grpc: { listen: { host: '127.0.0.1', port: 2 } } } as Config);
    expect(needsRestart).toEqual(['http', 'grpc']);
    expect(running.shardvoy.config.http.listen.port).toBe(0);
    expect((await running.get('/healthz')).status).toBe(200);
    const envoy = new EnvoyLikeClient(running.grpc, { nodeId: 'edge' });
    cleanups.push(() => envoy.close());
    await envoy.waitFor((c) => c.listeners.size === 2, 5_000, 'still served on the same gRPC port');
  });
});

// ---------------------------------------------------------------------------------------------
// Each way a configuration file is replaced is noticed (config/watch-file.ts), once per save.

describe('the configuration file watcher', () => {
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });
  /** Watches `file`, counting the changes it reports. */
  function watching(file: string) {
    const seen = { count: 0 };
    const watcher = watchFile(file, () => seen.count++, pino({ level: 'silent' }));
    expect(watcher).toBeDefined();
    closers.push(() => watcher!.close());
    return seen;
  }
  /** Waits (bounded) for the watcher to report `count` changes, then for it to stay there past its settling time. */
  async function reported(seen: { count: number }, count: number) {
    await eventually(() => expect(seen.count).toBeGreaterThanOrEqual(count), 3_000);
    await new Promise((r) => setTimeout(r, 400));
    expect(seen.count).toBe(count);
  }

  it('notices writes in place, once per save', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-watch-'));
    const file = path.join(dir, 'shardvoy.yaml');
    writeFileSync(file, 'a: 1\n');
    const seen = watching(file);
    writeFileSync(file, 'a: 2\n');
    await reported(seen, 1);
    writeFileSync(file, 'a: 3\n');
    await reported(seen, 2);
  });

  it("notices an editor's rename-over writes, again and again (the file watched is a new one each time)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-watch-'));
    const file = path.join(dir, 'shardvoy.yaml');
    writeFileSync(file, 'a: 1\n');
    const seen = watching(file);
    for (let i = 1; i <= 3; i++) {
      writeFileSync(`${file}.swp`, `a: ${i + 1}\n`);
      renameSync(`${file}.swp`, file);
      await reported(seen, i);
    }
  });

  it("notices a Kubernetes ConfigMap update: the '..data' symlink swapped to a new timestamped folder, again and again", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-configmap-'));
    // As the kubelet lays a ConfigMap volume out: file -> ..data/file, ..data -> ..<timestamp>/.
    const version = (i: number) => {
      const folder = `..2026_01_0${i}_00_00_00.000000000`;
      mkdirSync(path.join(dir, folder));
      writeFileSync(path.join(dir, folder, 'shardvoy.yaml'), `a: ${i}\n`);
      return folder;
    };
    symlinkSync(version(1), path.join(dir, '..data'));
    symlinkSync(path.join('..data', 'shardvoy.yaml'), path.join(dir, 'shardvoy.yaml'));
    const file = path.join(dir, 'shardvoy.yaml');
    const seen = watching(file);
    for (let i = 2; i <= 3; i++) {
      const folder = version(i);
      symlinkSync(folder, path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      await reported(seen, i - 1);
      expect(readFileSync(file, 'utf8')).toBe(`a: ${i}\n`);
    }
  });

  it('ignores other files in the folder', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-watch-'));
    const file = path.join(dir, 'shardvoy.yaml');
    writeFileSync(file, 'a: 1\n');
    const seen = watching(file);
    writeFileSync(path.join(dir, 'other.yaml'), 'b: 1\n');
    writeFileSync(path.join(dir, 'shardvoy.yaml.bak'), 'b: 1\n');
    await new Promise((r) => setTimeout(r, 400));
    writeFileSync(file, 'a: 2\n'); // a change of its own, so the wait below ends on something
    await reported(seen, 1);
  });
});

describe('hot reload through the binary, for each way a file is replaced', () => {
  const runs: CliRun[] = [];
  const clients: EnvoyLikeClient[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    for (const run of runs.splice(0)) if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });

  it.skipIf(underMutation)('applies a ConfigMap update (..data swapped) and then an editor rename-over write, without dropping the stream', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shardvoy-configmap-'));
    let n = 0;
    const publish = (text: string) => {
      const folder = `..2026_01_01_00_00_0${n++}.000000000`;
      mkdirSync(path.join(dir, folder));
      writeFileSync(path.join(dir, folder, 'shardvoy.yaml'), text);
      symlinkSync(folder, path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    };
    publish(configText([shard('shard0', 10000)]));
    symlinkSync(path.join('..data', 'shardvoy.yaml'), path.join(dir, 'shardvoy.yaml'));
    const file = path.join(dir, 'shardvoy.yaml');
    const run = runCli(['serve', '--config', file, '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0']);
    runs.push(run);
    const grpcAddress = (await run.waitForLine((l) => l.service === 'grpc')).address as string;
    const envoy = new EnvoyLikeClient(grpcAddress, { nodeId: 'edge' });
    clients.push(envoy);
    await envoy.waitFor((c) => c.listeners.size === 2, 10_000, 'shard0 listeners');

    publish(configText([shard('shard0', 10000), shard('shard1', 11000)]));
    await envoy.waitFor((c) => c.listeners.size === 4, 10_000, 'shard1 added by the ConfigMap update');

    writeFileSync(`${file}.tmp`, configText([shard('shard0', 10000), shard('shard2', 12000)]));
    renameSync(`${file}.tmp`, file); // the symlink itself replaced by a file, as an editor would
    await envoy.waitFor((c) => c.listeners.has('shard2-masters') && !c.listeners.has('shard1-masters'), 10_000, 'shard2 in, shard1 out, by the rename-over write');
    expect(envoy.status).toBeUndefined();
  });
});
