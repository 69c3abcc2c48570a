/**
 * 7. Heartbeat ingest on etcd (issue 14): `nodes` nodes renewing their leases every `intervalSec`
 * through three shardvoy instances (separate processes, registry.store: etcd, one prefix,
 * distinct controlPlaneIds) on a three-member etcd, against the same load on one instance on the
 * memory store. The load comes from processes of its own (clients/renewal-load.ts), paced, each
 * node on its home instance. Meanwhile status changes of probe nodes, each sent to one instance:
 * the time until every instance has published a snapshot that shows it.
 */
import os from 'node:os';
import path from 'node:path';
import type { RenewalWindow } from '../clients/renewal-load.js';
import type { Child } from '../lib/ipc.js';
import type { ShardvoyInfo } from '../lib/children.js';
import { EtcdNotRun, startBenchEtcd, type BenchEtcd } from '../lib/etcd.js';
import { nowAbs, type ProcessStats } from '../lib/process-stats.js';
import { procCpuMs } from '../lib/proc-stat.js';
import type { Profile } from '../lib/profile.js';
import { atLeast, atMost, exactly, notRun } from '../lib/report.js';
import { fmt, max, percentile } from '../lib/stats.js';
import type { Scenario, ScenarioContext } from './scenario.js';

const GROUP = 'ha';
const PROBES = 5;
/** A load process at or above this share of one core sets the pace itself: its figures are client-bound. */
const CLIENT_BOUND = 0.85;
const REQUEST_TIMEOUT_MS = 3_000;
/** Registering every node is setup, not measured, but on a contended machine it can take minutes through etcd. */
const REGISTRATION_LIMIT_MS = 420_000;

type Settings = Profile['etcdIngest'];
type Store = 'etcd' | 'memory';

interface Body {
  readonly id: string;
  readonly address: string;
  readonly database: string;
  readonly shard: string;
  readonly role: 'master' | 'replica';
  readonly dc: string;
  readonly epoch?: number;
  readonly status?: 'active' | 'draining';
}

function shardConfig(shards: number) {
  return Array.from({ length: shards }, (_, i) => ({
    name: `shard${i}`,
    listen: `0.0.0.0:${20_000 + 2 * i}`,
    clusters: [`shard${i}-masters`, `shard${i}-replicas`],
    protocol: 'tcp',
  }));
}

function config(s: Settings, registry: Record<string, unknown>, controlPlaneId: string) {
  return {
    registry: { leaseSeconds: s.leaseSeconds, ...registry },
    xds: { controlPlaneId },
    groups: [{ name: GROUP, dc: 'dc1', database: 'default', shards: shardConfig(s.shards) }],
  };
}

/** Per shard one master (epoch 1) and replicas, DCs alternating, every address distinct. */
function nodes(s: Settings): Body[] {
  const perShard = Math.max(1, Math.floor(s.nodes / s.shards));
  return Array.from({ length: s.nodes }, (_, k) => {
    const shard = `shard${Math.min(s.shards - 1, Math.floor(k / perShard))}`;
    const host = `10.${((k + 1) >> 16) & 255}.${((k + 1) >> 8) & 255}.${(k + 1) & 255}`;
    const master = k % perShard === 0;
    return { id: `n${k}`, address: `${host}:9000`, database: 'default', shard, role: master ? 'master' : 'replica', dc: k % 2 === 0 ? 'dc1' : 'dc2', ...(master ? { epoch: 1 } : {}) };
  });
}

/** Replicas the runner itself heartbeats and changes; the load never sends them. */
function probeNodes(s: Settings): Body[] {
  return Array.from({ length: PROBES }, (_, j) => ({
    id: `probe-${j}`,
    address: `10.200.0.${j + 1}:9000`,
    database: 'default',
    shard: `shard${Math.floor((j * s.shards) / PROBES)}`,
    role: 'replica',
    dc: 'dc1',
    status: 'active',
  }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function postHeartbeat(url: string, body: Body): Promise<number | string> {
  try {
    const response = await fetch(`${url}/v1/heartbeat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await response.arrayBuffer();
    return response.status;
  } catch (error) {
    return (error as Error).name === 'TimeoutError' ? 'timeout' : 'error';
  }
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1_000) });
      if (response.status === 200) return;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms: ${last}`);
}

/**
 * Keeps the probe nodes alive (a renewal every 2 s, to a rotating instance) and makes their
 * changes, one request per probe at a time, so a renewal never carries a status older than a change.
 */
class Probes {
  private readonly bodies: Body[];
  private readonly busy = new Set<number>();
  private readonly lastOk: number[];
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  renewalFailures = 0;

  constructor(
    bodies: readonly Body[],
    private readonly urls: readonly string[],
  ) {
    this.bodies = [...bodies];
    this.lastOk = bodies.map(() => 0);
  }

  async register(): Promise<void> {
    for (let j = 0; j < this.bodies.length; j++) {
      const status = await postHeartbeat(this.urls[0]!, this.bodies[j]!);
      if (status !== 200) throw new Error(`probe ${this.bodies[j]!.id} not registered: ${status}`);
      this.lastOk[j] = Date.now();
    }
    this.timer = setInterval(() => this.renewDue(), 250);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private renewDue(): void {
    for (let j = 0; j < this.bodies.length; j++) {
      if (this.busy.has(j) || Date.now() - this.lastOk[j]! < 2_000) continue;
      this.busy.add(j);
      void postHeartbeat(this.urls[this.next++ % this.urls.length]!, this.bodies[j]!).then((status) => {
        this.busy.delete(j);
        if (status === 200) this.lastOk[j] = Date.now();
        else this.renewalFailures++;
      });
    }
  }

  /** Flips probe j's status through instance `via`: t0 just before the request, and its answer. */
  async change(j: number, via: number): Promise<{ t0: number; answeredAt: number; status: number | string }> {
    while (this.busy.has(j)) await sleep(1);
    this.busy.add(j);
    const was = this.bodies[j]!;
    const body: Body = { ...was, status: was.status === 'draining' ? 'active' : 'draining' };
    this.bodies[j] = body;
    const t0 = nowAbs();
    const status = await postHeartbeat(this.urls[via]!, body);
    const answeredAt = nowAbs();
    this.busy.delete(j);
    if (status === 200) this.lastOk[j] = Date.now();
    return { t0, answeredAt, status };
  }
}

interface ChangeFigure {
  readonly via: number;
  readonly status: number | string;
  /** The instance that heard it answered the heartbeat. */
  readonly answeredMs: number;
  /** Each instance's publish of it, from t0; NaN where it was not seen within 10 s. */
  readonly publishedMs: readonly number[];
  readonly versions: readonly (string | undefined)[];
}

interface PassFigures {
  readonly store: Store;
  readonly instances: number;
  readonly registrationMs: number;
  readonly windowMs: number;
  readonly offeredPerSec: number;
  readonly okPerSec: number;
  readonly sent: number;
  readonly ok: number;
  readonly failures: Readonly<Record<string, number>>;
  /** Sent in the window and still unanswered a request timeout after it closed (should be 0: they time out). */
  readonly unansweredAtEnd: number;
  readonly skippedUnregistered: number;
  readonly latency: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly loaders: ReadonlyArray<{ readonly cpuMs: number; readonly share: number; readonly maxInFlight: number; readonly maxTickLateMs: number }>;
  readonly shardvoy: ReadonlyArray<{ readonly cpuMs: number; readonly share: number; readonly eventLoopMaxMs: number; readonly rssBytes: number }>;
  readonly etcd: ReadonlyArray<{ readonly name: string; readonly cpuMs: number; readonly share: number }> | undefined;
  readonly etcdLeader: string | undefined;
  readonly changes: readonly ChangeFigure[];
  readonly probeRenewalFailures: number;
  readonly loadAverage: readonly [number, number];
}

const errorsOf = (f: PassFigures) => Object.values(f.failures).reduce((a, b) => a + b, 0);
const allPublished = (c: ChangeFigure) => max(c.publishedMs.map((ms) => (Number.isFinite(ms) ? ms : Number.POSITIVE_INFINITY)));

async function runPass(store: Store, s: Settings, context: ScenarioContext, etcd: BenchEtcd | undefined): Promise<PassFigures> {
  const { spawn, log } = context;
  const count = store === 'etcd' ? s.instances : 1;
  const prefix = `/bench-${process.pid}-${Date.now()}/`;
  const registry = store === 'etcd' ? { store: 'etcd', etcd: { endpoints: etcd!.endpoints, prefix } } : {};
  const servers: Child<ShardvoyInfo>[] = [];
  const loaders: Child<{ pid: number }>[] = [];
  let probes: Probes | undefined;
  try {
    servers.push(...(await Promise.all(Array.from({ length: count }, (_, i) => spawn.shardvoy(config(s, registry, `sv-${store}-${i}`), '127.0.0.1', `shardvoy-${store}-${i}`)))));
    const urls = servers.map((server) => server.info.http);
    await Promise.all(urls.map((url) => waitReady(url, 30_000)));
    const probeBodies = probeNodes(s);
    probes = new Probes(probeBodies, urls);
    await probes.register();

    const all = nodes(s);
    loaders.push(...(await Promise.all(Array.from({ length: s.loadProcesses }, () => spawn.renewalLoad()))));
    await Promise.all(
      loaders.map((loader, l) => {
        const mine = all.map((_, k) => k).filter((k) => k % s.loadProcesses === l);
        return loader.request(
          'init',
          {
            instances: urls,
            bodies: mine.map((k) => JSON.stringify(all[k])),
            homes: mine.map((k) => k % count),
            intervalMs: s.intervalSec * 1000,
            timeoutMs: REQUEST_TIMEOUT_MS,
            registerConcurrency: 8,
            socketsPerInstance: 16,
          },
          30_000,
        );
      }),
    );
    // BENCH_CPU_PROF_DIR: CPU profiles of every instance over the first 90 s of registration, and over the window.
    const profDir = process.env.BENCH_CPU_PROF_DIR;
    let profilingRegistration = false;
    const stopRegistrationProfile = async () => {
      if (!profilingRegistration || !profDir) return;
      profilingRegistration = false;
      await Promise.all(servers.map((server, i) => server.request('cpuProfile', { file: path.join(profDir, `${store}-registration-${i}-${server.pid}.cpuprofile`) }, 30_000)));
    };
    if (profDir) {
      await Promise.all(servers.map((server) => server.request('cpuProfile', { start: true }, 10_000)));
      profilingRegistration = true;
    }
    const registrationStarted = Date.now();
    await Promise.all(loaders.map((loader) => loader.request('start', {}, 10_000)));
    let lastLog = Date.now();
    for (;;) {
      const progress = await Promise.all(loaders.map((loader) => loader.request<{ registered: number; total: number }>('progress', {}, 10_000)));
      const registered = progress.reduce((sum, p) => sum + p.registered, 0);
      if (Date.now() - registrationStarted > 90_000) await stopRegistrationProfile();
      if (registered === s.nodes) break;
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        log(`  ${store}: ${fmt(registered)} of ${fmt(s.nodes)} nodes registered after ${fmt((Date.now() - registrationStarted) / 1000)} s (load average ${fmt(os.loadavg()[0] ?? 0)})`);
      }
      if (Date.now() - registrationStarted > REGISTRATION_LIMIT_MS) {
        await stopRegistrationProfile();
        throw new Error(`only ${registered} of ${s.nodes} nodes registered within ${REGISTRATION_LIMIT_MS / 1000} s (load average ${fmt(os.loadavg()[0] ?? 0)} on ${os.cpus().length} cores)`);
      }
      await sleep(250);
    }
    const expected = s.nodes + PROBES;
    for (;;) {
      const counts = await Promise.all(servers.map((server) => server.request<number>('nodeCount', {}, 10_000)));
      if (counts.every((c) => c === expected)) break;
      if (Date.now() - registrationStarted > REGISTRATION_LIMIT_MS + 30_000) throw new Error(`the instances hold ${counts.join(', ')} nodes, not ${expected}`);
      await sleep(100);
    }
    await stopRegistrationProfile();
    const registrationMs = Date.now() - registrationStarted;
    log(`  ${store}: ${fmt(s.nodes)} nodes registered through ${count} instance(s) in ${fmt(registrationMs / 1000)} s`);
    // Let the rebuilds the registrations caused settle, then note every probe's health as published.
    await sleep(1_000);
    await Promise.all(servers.map((server) => server.request('probes', { probes: probeBodies.map((p) => ({ id: p.id, cluster: `${p.shard}-replicas` })) }, 10_000)));

    await sleep(s.warmupSec * 1000);
    await Promise.all(loaders.map((loader) => loader.request('mark', {}, 30_000)));
    await Promise.all(servers.map((server) => server.request('stats', { reset: true }, 10_000)));
    const loadStart = os.loadavg()[0] ?? 0;
    const cpu0 = {
      shardvoy: await Promise.all(servers.map((server) => server.request<ProcessStats>('stats', {}, 10_000))),
      etcd: etcd?.members.map((m) => procCpuMs(m.pid)),
    };
    if (profDir) await Promise.all(servers.map((server) => server.request('cpuProfile', { start: true }, 10_000)));
    const windowStarted = performance.now();

    const changes: Promise<ChangeFigure>[] = [];
    for (let c = 0; c < s.changes; c++) {
      const at = windowStarted + c * s.changeIntervalMs;
      await sleep(Math.max(0, at - performance.now()));
      const via = c % count;
      const probe = c % PROBES;
      changes.push(
        probes.change(probe, via).then(async ({ t0, answeredAt, status }) => {
          const seen = await Promise.all(
            servers.map((server) =>
              server.request<{ at?: number; version?: string; timedOut?: true }>('probeChanged', { group: GROUP, id: probeBodies[probe]!.id, after: t0, timeoutMs: 10_000 }, 15_000),
            ),
          );
          return { via, status, answeredMs: answeredAt - t0, publishedMs: seen.map((x) => (x.at === undefined ? Number.NaN : x.at - t0)), versions: seen.map((x) => x.version) };
        }),
      );
    }
    const changeFigures = await Promise.all(changes);
    await sleep(Math.max(0, windowStarted + s.durationSec * 1000 - performance.now()));

    const windows = await Promise.all(loaders.map((loader) => loader.request<RenewalWindow>('mark', {}, 30_000)));
    const windowMs = performance.now() - windowStarted;
    const cpu1 = {
      shardvoy: await Promise.all(servers.map((server) => server.request<ProcessStats>('stats', {}, 10_000))),
      etcd: etcd?.members.map((m) => procCpuMs(m.pid)),
    };
    if (profDir) {
      await Promise.all(servers.map((server, i) => server.request('cpuProfile', { file: path.join(profDir, `${store}-${i}-${server.pid}.cpuprofile`) }, 30_000)));
      log(`  ${store}: CPU profiles of the window in ${profDir}`);
    }
    const leader = await etcd?.leader();
    const loadEnd = os.loadavg()[0] ?? 0;
    probes.stop();
    await Promise.all(loaders.map((loader) => loader.request('stop', {}, 10_000).catch(() => undefined)));

    const failures: Record<string, number> = {};
    for (const w of windows) for (const [kind, n] of Object.entries(w.failures)) failures[kind] = (failures[kind] ?? 0) + n;
    const latencies = windows.flatMap((w) => w.latenciesMs);
    const sent = windows.reduce((sum, w) => sum + w.sent, 0);
    const ok = windows.reduce((sum, w) => sum + w.ok, 0);
    const failed = Object.values(failures).reduce((a, b) => a + b, 0);
    const figures: PassFigures = {
      store,
      instances: count,
      registrationMs,
      windowMs,
      offeredPerSec: windows.reduce((sum, w) => sum + w.sent / (w.elapsedMs / 1000), 0),
      okPerSec: windows.reduce((sum, w) => sum + w.ok / (w.elapsedMs / 1000), 0),
      sent,
      ok,
      failures,
      unansweredAtEnd: sent - ok - failed,
      skippedUnregistered: windows.reduce((sum, w) => sum + w.skippedUnregistered, 0),
      latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: max(latencies) },
      loaders: windows.map((w) => ({ cpuMs: w.cpuMs, share: w.cpuMs / w.elapsedMs, maxInFlight: w.maxInFlight, maxTickLateMs: w.maxTickLateMs })),
      shardvoy: cpu1.shardvoy.map((after, i) => {
        const cpuMs = after.cpuMs - cpu0.shardvoy[i]!.cpuMs;
        return { cpuMs, share: cpuMs / windowMs, eventLoopMaxMs: after.eventLoopMaxMs, rssBytes: after.rssBytes };
      }),
      etcd: etcd?.members.map((m, i) => {
        const cpuMs = cpu1.etcd![i]! - cpu0.etcd![i]!;
        return { name: m.name, cpuMs, share: cpuMs / windowMs };
      }),
      etcdLeader: leader,
      changes: changeFigures,
      probeRenewalFailures: probes.renewalFailures,
      loadAverage: [loadStart, loadEnd],
    };
    const publish = changeFigures.map(allPublished);
    log(
      `  ${store}: ${fmt(figures.okPerSec)} renewals/s answered 200 of ${fmt(figures.offeredPerSec)}/s sent, ${errorsOf(figures)} errors; ` +
        `heartbeat p99 ${fmt(figures.latency.p99)} ms; publish on all p50 ${fmt(percentile(publish, 50))} p99 ${fmt(percentile(publish, 99))} ms; ` +
        `shardvoy CPU ${figures.shardvoy.map((x) => `${fmt(x.share * 100)}%`).join(' + ')}` +
        (figures.etcd ? `; etcd CPU ${figures.etcd.map((x) => `${fmt(x.share * 100)}%`).join(' + ')}` : '') +
        `; load ${fmt(loadStart)} → ${fmt(loadEnd)}`,
    );
    return figures;
  } finally {
    probes?.stop();
    await Promise.all([...loaders, ...servers].map((child) => child.stop().catch(() => undefined)));
  }
}

const pct = (share: number) => `${fmt(share * 100)}%`;
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

function describeFailures(f: PassFigures): string {
  const kinds = Object.entries(f.failures);
  return kinds.length === 0 ? '0' : `${errorsOf(f)} (${kinds.map(([k, n]) => `${k}: ${n}`).join(', ')})`;
}

export const etcdIngest: Scenario = {
  id: 'etcd-ingest',
  title: '7. Heartbeat ingest on etcd',
  method: (p: Profile) => {
    const s = p.etcdIngest;
    return (
      `${fmt(s.nodes)} nodes (${fmt(s.shards)} shards of one group, 1 master + replicas each) renew their leases every ${s.intervalSec} s ` +
      `(registry.leaseSeconds ${s.leaseSeconds}), paced: each node on its own phase, spread evenly over the interval, so ${fmt(s.nodes / s.intervalSec)} heartbeats/s ` +
      `arrive steadily. Two passes: ${s.instances} shardvoy instances (each its own process, registry.store: etcd, one prefix, ` +
      `controlPlaneIds sv-etcd-0..${s.instances - 1}) on a 3-member etcd (scripts/peers/etcd.sh; data in /dev/shm, etcd's default 100 ms heartbeat / ` +
      '1,000 ms election timeout), each node sending to its home instance (node k to instance k mod 3); then one instance on the memory store taking ' +
      `every node. The load: ${s.loadProcesses} process(es) of their own (bench/clients/renewal-load.ts, HTTP/1.1 keep-alive, ≤ 16 connections ` +
      `per instance each), no retries: every answer but a 200 (another status, no answer within ${REQUEST_TIMEOUT_MS / 1000} s, a refused or reset connection) is an error. ` +
      'Each node is first registered (≤ 8 at a time per load process, retried after 1 s when refused; not measured), then renews on its phase; ' +
      `${s.warmupSec} s of renewals are discarded, then a window of ${s.durationSec} s is measured. During it, ${s.changes} status changes ` +
      `${s.changeIntervalMs} ms apart: one of ${PROBES} probe replicas (kept alive by the runner, never sent by the load) flips active ↔ draining through ` +
      'one instance (rotating); publish time = from just before that heartbeat is sent until each instance\'s snapshot cache publishes a snapshot of the ' +
      "group whose load assignment shows the probe's new health (the cache's first watcher, bench/servers/shardvoy.ts; its version noted), " +
      'the figure for "all" being the slowest of the instances. CPU over the window: shardvoy from process.cpuUsage(), etcd from /proc/<pid>/stat ' +
      '(utime + stime of each member), the load processes their own; "share" is of one core.'
    );
  },
  timeoutMs: (p) => 120_000 + 2 * (REGISTRATION_LIMIT_MS + 60_000 + (p.etcdIngest.warmupSec + p.etcdIngest.durationSec) * 1000),
  async run(context) {
    const { profile, section, log } = context;
    const s = profile.etcdIngest;
    let etcd: BenchEtcd;
    try {
      etcd = await startBenchEtcd(3);
    } catch (error) {
      if (!(error instanceof EtcdNotRun)) throw error;
      section.verdicts.push(notRun('renewal load sustained with 0 errors on etcd', error.message));
      section.verdicts.push(notRun('cross-instance publish p99 ≤ 200 ms', error.message));
      return;
    }
    let ours: PassFigures | undefined;
    let failure: string | undefined;
    try {
      log(`  etcd ${etcd.version} (${etcd.bin}), members on ${etcd.endpoints.join(', ')}`);
      ours = await runPass('etcd', s, context, etcd);
    } catch (error) {
      failure = (error as Error).message;
      log(`  etcd pass did not finish: ${failure}`);
    } finally {
      // The memory pass runs alone, without etcd's idle work beside it.
      await etcd.stop();
    }
    const memory = await runPass('memory', s, context, undefined);
    if (!ours) {
      const publish = memory.changes.map(allPublished);
      section.tables.push({
        headers: ['figure', 'etcd store (3 instances, 3 etcd members)', 'memory store (1 instance)'],
        rows: [
          ['heartbeats sent / answered 200 per second', 'not measured', `${fmt(memory.offeredPerSec)} / ${fmt(memory.okPerSec)}`],
          ['errors (non-200)', 'not measured', describeFailures(memory)],
          ['heartbeat latency p50 / p99', 'not measured', `${fmt(memory.latency.p50)} ms / ${fmt(memory.latency.p99)} ms`],
          ['status change → published, p50 / p99', 'not measured', `${fmt(percentile(publish, 50))} ms / ${fmt(percentile(publish, 99))} ms`],
          ['shardvoy CPU over the window (share of one core); per heartbeat', 'not measured', `${fmt(memory.shardvoy[0]!.cpuMs)} ms (${pct(memory.shardvoy[0]!.share)}); ${fmt((memory.shardvoy[0]!.cpuMs * 1000) / Math.max(1, memory.ok))} µs`],
          ['load processes CPU (busiest: share of one core)', 'not measured', `${fmt(sum(memory.loaders.map((x) => x.cpuMs)))} ms (${pct(busiestLoad(memory))})`],
          ['registration of every node', 'did not finish', `${fmt(memory.registrationMs / 1000)} s`],
          ['load average (1 min) at the window start / end', '', `${fmt(memory.loadAverage[0])} / ${fmt(memory.loadAverage[1])}`],
        ],
      });
      const missed = (target: string) => ({ target, measured: 'not measured', pass: false, result: 'MISS (the etcd pass did not finish)' });
      section.verdicts.push(missed(`renewals of ${fmt(s.nodes)} nodes every ${s.intervalSec} s through ${s.instances} instances on etcd: errors (non-200 or unanswered)`));
      section.verdicts.push(missed(`the renewal load sustained: 200s per second ≥ 0.98× the nominal ${fmt(s.nodes / s.intervalSec)}/s`));
      section.verdicts.push(missed('cross-instance publish p99 ≤ 200 ms'));
      throw new Error(`the etcd pass did not finish: ${failure}`);
    }

    const nominal = s.nodes / s.intervalSec;
    const publishOf = (f: PassFigures) => f.changes.map(allPublished);
    const heardOf = (f: PassFigures) => f.changes.map((c) => c.publishedMs[c.via]!);
    const othersOf = (f: PassFigures) => f.changes.map((c) => max(c.publishedMs.filter((_, i) => i !== c.via).map((ms) => (Number.isFinite(ms) ? ms : Number.POSITIVE_INFINITY))));
    const answeredOf = (f: PassFigures) => f.changes.map((c) => c.answeredMs);
    const shardvoyCpu = (f: PassFigures) => sum(f.shardvoy.map((x) => x.cpuMs));
    const perBeat = (cpuMs: number, f: PassFigures) => (cpuMs * 1000) / Math.max(1, f.ok);
    const ratio = (a: number, b: number) => `${fmt(a / b)}×`;
    const ms = (v: number) => `${fmt(v)} ms`;
    const rows: string[][] = [];
    const both = (name: string, pick: (f: PassFigures) => number, show: (v: number) => string) => {
      const a = pick(ours);
      const b = pick(memory);
      rows.push([name, show(a), show(b), ratio(a, b)]);
    };
    both('heartbeats sent per second (offered)', (f) => f.offeredPerSec, (v) => fmt(v));
    both('heartbeats answered 200 per second (sustained)', (f) => f.okPerSec, (v) => fmt(v));
    rows.push(['errors (non-200: status / timeout / refused or reset)', describeFailures(ours), describeFailures(memory), '']);
    rows.push(['renewals sent / answered 200 / unanswered', `${fmt(ours.sent)} / ${fmt(ours.ok)} / ${ours.unansweredAtEnd}`, `${fmt(memory.sent)} / ${fmt(memory.ok)} / ${memory.unansweredAtEnd}`, '']);
    both('heartbeat latency p50', (f) => f.latency.p50, ms);
    both('heartbeat latency p99', (f) => f.latency.p99, ms);
    both('heartbeat latency max', (f) => f.latency.max, ms);
    both('status change → published on every instance, p50', (f) => percentile(publishOf(f), 50), ms);
    both('status change → published on every instance, p99', (f) => percentile(publishOf(f), 99), ms);
    both('status change → published on every instance, max', (f) => max(publishOf(f)), ms);
    rows.push([
      'status change → published by the instance that heard it, p50 / p99',
      `${ms(percentile(heardOf(ours), 50))} / ${ms(percentile(heardOf(ours), 99))}`,
      `${ms(percentile(heardOf(memory), 50))} / ${ms(percentile(heardOf(memory), 99))}`,
      ratio(percentile(heardOf(ours), 99), percentile(heardOf(memory), 99)),
    ]);
    rows.push([
      'status change → published by the other instances (the slower), p50 / p99',
      `${ms(percentile(othersOf(ours), 50))} / ${ms(percentile(othersOf(ours), 99))}`,
      'n/a (one instance)',
      '',
    ]);
    rows.push([
      'status change → its heartbeat answered 200, p50 / p99',
      `${ms(percentile(answeredOf(ours), 50))} / ${ms(percentile(answeredOf(ours), 99))}`,
      `${ms(percentile(answeredOf(memory), 50))} / ${ms(percentile(answeredOf(memory), 99))}`,
      ratio(percentile(answeredOf(ours), 99), percentile(answeredOf(memory), 99)),
    ]);
    const agreed = ours.changes.filter((c) => c.versions.every((v) => v !== undefined && v === c.versions[0])).length;
    rows.push(['changes whose snapshot version was the same on every instance', `${agreed} of ${ours.changes.length}`, 'n/a', '']);
    rows.push([
      'shardvoy CPU over the window (sum of instances; share of one core)',
      `${fmt(shardvoyCpu(ours))} ms (${ours.shardvoy.map((x) => pct(x.share)).join(' + ')})`,
      `${fmt(shardvoyCpu(memory))} ms (${pct(memory.shardvoy[0]!.share)})`,
      ratio(shardvoyCpu(ours), shardvoyCpu(memory)),
    ]);
    both('shardvoy CPU per heartbeat answered (all instances)', (f) => perBeat(shardvoyCpu(f), f), (v) => `${fmt(v)} µs`);
    const etcdCpu = sum(ours.etcd!.map((m) => m.cpuMs));
    rows.push([
      "etcd CPU over the window (sum of the 3 members' utime + stime; share of one core)",
      `${fmt(etcdCpu)} ms (${ours.etcd!.map((m) => `${m.name}${m.name === ours.etcdLeader ? ' (leader)' : ''} ${pct(m.share)}`).join(' + ')})`,
      'n/a',
      '',
    ]);
    rows.push(['etcd CPU per heartbeat answered', `${fmt(perBeat(etcdCpu, ours))} µs`, 'n/a', '']);
    rows.push([
      'shardvoy + etcd CPU per heartbeat answered',
      `${fmt(perBeat(etcdCpu + shardvoyCpu(ours), ours))} µs`,
      `${fmt(perBeat(shardvoyCpu(memory), memory))} µs`,
      ratio(perBeat(etcdCpu + shardvoyCpu(ours), ours), perBeat(shardvoyCpu(memory), memory)),
    ]);
    rows.push([
      'load processes CPU over the window (busiest: share of one core)',
      `${fmt(sum(ours.loaders.map((x) => x.cpuMs)))} ms (${pct(max(ours.loaders.map((x) => x.share)))})`,
      `${fmt(sum(memory.loaders.map((x) => x.cpuMs)))} ms (${pct(max(memory.loaders.map((x) => x.share)))})`,
      '',
    ]);
    both('shardvoy event-loop delay max over the window (busiest instance)', (f) => max(f.shardvoy.map((x) => x.eventLoopMaxMs)), ms);
    rows.push(['registration of every node (not measured: setup)', `${fmt(ours.registrationMs / 1000)} s`, `${fmt(memory.registrationMs / 1000)} s`, '']);
    rows.push(['window measured', `${fmt(ours.windowMs / 1000)} s`, `${fmt(memory.windowMs / 1000)} s`, '']);
    rows.push(['load average (1 min) at the window start / end', `${fmt(ours.loadAverage[0])} / ${fmt(ours.loadAverage[1])}`, `${fmt(memory.loadAverage[0])} / ${fmt(memory.loadAverage[1])}`, '']);
    section.tables.push({ headers: ['figure', `etcd store (${ours.instances} instances, 3 etcd members)`, 'memory store (1 instance)', 'etcd / memory'], rows });

    section.tables.push({
      caption: '**Publish time of each change** (ms from just before the heartbeat was sent until every instance published it; in the order made)',
      headers: ['store', 'times (ms)'],
      rows: [ours, memory].map((f) => [f.store, publishOf(f).map((v) => fmt(v)).join(', ')]),
    });

    const errors = errorsOf(ours) + ours.unansweredAtEnd;
    section.verdicts.push(exactly(`renewals of ${fmt(s.nodes)} nodes every ${s.intervalSec} s through ${ours.instances} instances on etcd: errors (non-200 or unanswered)`, errors, 0));
    section.verdicts.push(atLeast(`the renewal load sustained: 200s per second ≥ 0.98× the nominal ${fmt(nominal)}/s`, ours.okPerSec / nominal, 0.98, '×'));
    section.verdicts.push(atMost(`cross-instance publish p99 ≤ 200 ms (${ours.changes.length} status changes during the load)`, percentile(publishOf(ours), 99), 200, ' ms'));

    const notes = section.notes;
    notes.push(
      `p99 is the nearest-rank 99th percentile: over ${ours.changes.length} changes that is the slowest change${ours.changes.length >= 100 ? ' but 1%' : ''} (it leaves the slowest out only from 100 changes on).`,
    );
    for (const f of [ours, memory]) {
      const busiest = max(f.loaders.map((x) => x.share));
      if (busiest >= CLIENT_BOUND) notes.push(`${f.store} pass: client-bound: the busiest load process used ${pct(busiest)} of a core.`);
      if (f.skippedUnregistered > 0) notes.push(`${f.store} pass: ${f.skippedUnregistered} renewals were due for nodes not registered yet and not sent.`);
      if (f.probeRenewalFailures > 0) notes.push(`${f.store} pass: ${f.probeRenewalFailures} renewals of the probe nodes failed.`);
      const lost = f.changes.filter((c) => c.publishedMs.some((v) => !Number.isFinite(v))).length;
      if (lost > 0) notes.push(`${f.store} pass: ${lost} change(s) not seen published on every instance within 10 s (counted as infinite).`);
      const refused = f.changes.filter((c) => c.status !== 200).length;
      if (refused > 0) notes.push(`${f.store} pass: ${refused} change heartbeat(s) not answered 200.`);
    }
    const lateTick = max([...ours.loaders, ...memory.loaders].map((x) => x.maxTickLateMs));
    if (lateTick > 100) notes.push(`A load process's 5 ms pacing tick ran up to ${fmt(lateTick)} ms late at some point (it then sent the renewals due meanwhile at once).`);
    if (busiestLoad(ours) < CLIENT_BOUND && busiestLoad(memory) < CLIENT_BOUND) notes.push(`No figure was client-bound: every load process stayed under ${pct(CLIENT_BOUND)} of a core.`);
    notes.push(
      `etcd ${etcd.version}: renewals are LeaseKeepAlive messages on each instance's one keep-alive stream, answered by etcd's leader without a raft entry ` +
        '(a follower forwards each to the leader); a status change is one transaction (a raft write on every member) plus a lease grant. ' +
        'Its data is in /dev/shm as in the tests: a disk-backed etcd adds its fsync to every write (and so to the publish time), not to renewals.',
    );
    notes.push(
      `The machine is shared: other engineers' tests ran beside the bench (load averages above, on ${os.cpus().length} cores); ` +
        'the etcd members, the shardvoy instances, the load processes and the runner all share these cores.',
    );
  },
};

function busiestLoad(f: PassFigures): number {
  return max(f.loaders.map((x) => x.share));
}
