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
 */
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { startShardvoy } from '../../src/main.js';
import { ALL_TYPES, type Snapshot } from '../../src/snapshot/snapshot.js';
import { toHeartbeat } from '../../src/sources/http/heartbeat-body.js';
import type { HeartbeatBody } from '../../src/sources/http/schemas.js';
import type { ResourceTypeUrl } from '../../src/envoy-api/type-urls.js';
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

// Registered before any stream exists, so it is the first listener told of every new snapshot:
// its timestamp is the start of the fan-out.
for (const group of config.groups) {
  shardvoy.cache.watch(group.name, (snapshot) => {
    marks.push({ group: group.name, version: snapshot.version, at: nowAbs() });
    if (marks.length > 1_000) marks.splice(0, marks.length - 1_000);
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
  const deadline = Date.now() + wanted.timeoutMs;
  while (!found() && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  const mark = found();
  return { t0, publishAt: mark?.at, publishReturnedAt: mark?.returnedAt, version: mark?.version };
}

serveParent(
  {
    heartbeat,
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
