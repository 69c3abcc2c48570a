/**
 * shardvoy under test: the real pipeline (startShardvoy) in its own process, on free ports of
 * argv[3] (default 127.0.0.1), no warm-up, logging at warn. argv[2] is the raw native
 * configuration, as JSON.
 *
 * IPC requests:
 *   heartbeat {bodies, awaitPublish?: {group, timeoutMs}}
 *       -> {t0, publishAt?, publishReturnedAt?, version?}: records the heartbeats straight into
 *          the registry (t0 = just before), then waits until the group's next snapshot is published
 *   stats {reset?, gc?} -> ProcessStats
 *   resourceBytes {group, typeUrl, name} -> encoded size of one resource of the group's snapshot
 *   snapshotResources {group} -> {version, resources: {typeUrl: base64[]}, names: {typeUrl: string[]}} | null: the group's
 *          current snapshot, every encoded resource of each type (the go-control-plane peer's fixture)
 *   probes {probes: [{id, cluster}]} -> {}: from now on every publish notes each probe node's health
 *          in its cluster's load assignment (HEALTHY, DRAINING, or absent)
 *   probeChanged {group, id, after, timeoutMs} -> {at, version} | {timedOut: true}: the first publish
 *          at or after the absolute time `after` in which probe `id`'s health differs from the last
 *          publish before `after` (scenario 7: a change heard by one instance, published by each)
 *   nodeCount -> how many nodes the registry holds
 *   eds -> [{peer, sent, acked, ackedAt}]: per open stream, the client's address, its EDS versions
 *          last sent and ACKed, and when that ACK arrived (scenario 6)
 *   cpuProfile {start: true} | {file} -> {}: starts a V8 CPU profile (node:inspector), or stops it and writes it to `file`
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { startShardvoy } from '../../src/main.js';
import { ALL_TYPES, type Snapshot } from '../../src/snapshot/snapshot.js';
import { toHeartbeat } from '../../src/sources/http/heartbeat-body.js';
import type { HeartbeatBody } from '../../src/sources/http/schemas.js';
import { envoyType } from '../../src/envoy-api/protos.js';
import { ENDPOINT, type ResourceTypeUrl } from '../../src/envoy-api/type-urls.js';
import { serveParent } from '../lib/ipc.js';
import { nowAbs, processStatsMonitor, type StatsRequest } from '../lib/process-stats.js';

const raw: unknown = JSON.parse(process.argv[2] ?? '{}');
const host = process.argv[3] ?? '127.0.0.1';
const parsed = parseConfig(raw, 'bench');
const config: Config = {
  ...parsed,
  http: { ...parsed.http, listen: { host, port: 0 } },
  grpc: { ...parsed.grpc, listen: { host, port: 0 } },
  registry: { ...parsed.registry, warmupSeconds: 0 },
};

const stats = processStatsMonitor();
const shardvoy = await startShardvoy(config, { logger: pino({ level: 'warn' }) });

interface PublishMark {
  readonly group: string;
  readonly version: string;
  /** When the cache started telling the group's watchers (streams) of the new snapshot. */
  readonly at: number;
  /** When cache.publish() returned: every stream's synchronous share of the fan-out is done. */
  returnedAt?: number;
}

const marks: PublishMark[] = [];
let waiters: (() => void)[] = [];

/** Scenario 7's probe nodes: their health in every publish since `probes` was asked. */
let probes: ReadonlyArray<{ readonly id: string; readonly cluster: string }> = [];
interface ProbeMark {
  readonly group: string;
  readonly version: string;
  readonly at: number;
  readonly health: ReadonlyMap<string, string>;
}
const probeMarks: ProbeMark[] = [];
const loadAssignment = envoyType('envoy.config.endpoint.v3.ClusterLoadAssignment');
/** Per probe cluster: the encoded load assignment last decoded, and the health of each probe in it. */
const decoded = new Map<string, { value: Uint8Array | undefined; health: Map<string, string> }>();

function probeHealth(snapshot: Snapshot): Map<string, string> {
  const health = new Map<string, string>();
  for (const probe of probes) {
    const value = snapshot.sets[ENDPOINT].items.get(probe.cluster)?.value;
    let known = decoded.get(probe.cluster);
    if (!known || known.value !== value) {
      const found = new Map<string, string>();
      if (value) {
        const cla = loadAssignment.toObject(loadAssignment.decode(value), { enums: String }) as {
          endpoints?: Array<{ lb_endpoints?: Array<{ endpoint?: { hostname?: string }; health_status?: string }> }>;
        };
        for (const locality of cla.endpoints ?? []) for (const lb of locality.lb_endpoints ?? []) if (lb.endpoint?.hostname) found.set(lb.endpoint.hostname, lb.health_status ?? 'UNKNOWN');
      }
      known = { value, health: found };
      decoded.set(probe.cluster, known);
    }
    health.set(probe.id, known.health.get(probe.id) ?? 'absent');
  }
  return health;
}

// Registered before any stream exists, so it is the first listener told of every new snapshot:
// its timestamp is the start of the fan-out.
for (const group of config.groups) {
  shardvoy.cache.watch(group.name, (snapshot) => {
    const at = nowAbs();
    marks.push({ group: group.name, version: snapshot.version, at });
    if (marks.length > 1_000) marks.splice(0, marks.length - 1_000);
    if (probes.length > 0) {
      probeMarks.push({ group: group.name, version: snapshot.version, at, health: probeHealth(snapshot) });
      if (probeMarks.length > 10_000) probeMarks.splice(0, probeMarks.length - 10_000);
    }
    // Woken on the next turn: by then publish() has returned and its return is noted.
    setImmediate(() => {
      const woken = waiters;
      waiters = [];
      for (const wake of woken) wake();
    });
  });
}

// Also note when publish() returns. The watcher calls the cache instance's publish, so wrapping
// it here sees every call; figures from it are auxiliary (a fan-out made asynchronous would end
// after publish returns).
const cache = shardvoy.cache;
const publish = cache.publish.bind(cache);
cache.publish = (snapshot: Snapshot): boolean => {
  const published = publish(snapshot);
  if (published) {
    const mark = [...marks].reverse().find((m) => m.group === snapshot.group && m.version === snapshot.version);
    if (mark) mark.returnedAt = nowAbs();
  }
  return published;
};

async function heartbeat(request: { bodies: HeartbeatBody[]; awaitPublish?: { group: string; timeoutMs: number } }) {
  const t0 = nowAbs();
  for (const body of request.bodies) shardvoy.registry.record(toHeartbeat(body));
  const wanted = request.awaitPublish;
  if (!wanted) return { t0 };
  const found = () => marks.find((m) => m.group === wanted.group && m.at >= t0);
  await waitFor(found, wanted.timeoutMs);
  const mark = found();
  return { t0, publishAt: mark?.at, publishReturnedAt: mark?.returnedAt, version: mark?.version };
}

/** Waits, woken by each publish, until `found()` holds or `timeoutMs` has passed. */
async function waitFor(found: () => unknown, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!found() && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

async function probeChanged(request: { group: string; id: string; after: number; timeoutMs: number }) {
  const ofGroup = () => probeMarks.filter((m) => m.group === request.group);
  const before = () => [...ofGroup()].reverse().find((m) => m.at < request.after)?.health.get(request.id);
  const found = () => {
    const was = before();
    return ofGroup().find((m) => m.at >= request.after && m.health.get(request.id) !== was);
  };
  await waitFor(found, request.timeoutMs);
  const mark = found();
  return mark ? { at: mark.at, version: mark.version, health: mark.health.get(request.id) } : { timedOut: true };
}

let profiler: Session | undefined;
async function cpuProfile(request: { start?: boolean; file?: string }) {
  if (request.start) {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
    return {};
  }
  if (!profiler) throw new Error('no profile started');
  const { profile } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  profiler = undefined;
  if (request.file) writeFileSync(request.file, JSON.stringify(profile));
  return {};
}

// When each stream's last EDS ACK arrived, for scenario 6: the server's own time of it, not a poll's.
const edsAckedAt = new Map<number, { version: string; at: number }>();
shardvoy.xds.observe({
  acked: (event) => {
    if (event.typeUrl === ENDPOINT) edsAckedAt.set(event.streamId, { version: event.version, at: nowAbs() });
  },
  streamClosed: (event) => edsAckedAt.delete(event.streamId),
});

function edsStates() {
  return shardvoy.xds.clients().map((client) => {
    const eds = client.types[ENDPOINT];
    const acked = edsAckedAt.get(client.streamId);
    return { peer: client.peer, sent: eds?.lastSentVersion, acked: eds?.lastAckedVersion, ackedAt: acked?.version === eds?.lastAckedVersion ? acked?.at : undefined };
  });
}

serveParent(
  {
    eds: edsStates,
    heartbeat,
    cpuProfile,
    probes: (request: { probes: Array<{ id: string; cluster: string }> }) => {
      probes = request.probes;
      decoded.clear();
      // The state now, as the "before" of the first change.
      for (const group of config.groups) {
        const snapshot = shardvoy.cache.get(group.name);
        if (snapshot) probeMarks.push({ group: group.name, version: snapshot.version, at: nowAbs(), health: probeHealth(snapshot) });
      }
      return {};
    },
    probeChanged,
    nodeCount: () => shardvoy.registry.list().length,
    stats: (request: StatsRequest) => stats(request),
    resourceBytes: (request: { group: string; typeUrl: ResourceTypeUrl; name: string }) =>
      shardvoy.cache.get(request.group)?.sets[request.typeUrl].items.get(request.name)?.value.length ?? null,
    snapshotResources: (request: { group: string }) => {
      const snapshot = shardvoy.cache.get(request.group);
      if (!snapshot) return null;
      const resources: Record<string, string[]> = {};
      const names: Record<string, string[]> = {};
      for (const typeUrl of ALL_TYPES) {
        const items = [...snapshot.sets[typeUrl].items.values()];
        resources[typeUrl] = items.map((r) => Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength).toString('base64'));
        names[typeUrl] = items.map((r) => r.name);
      }
      return { version: snapshot.version, resources, names };
    },
  },
  { http: `http://${host}:${shardvoy.http.port}`, grpc: `${host}:${shardvoy.grpc.port}` },
  () => shardvoy.stop(),
);
