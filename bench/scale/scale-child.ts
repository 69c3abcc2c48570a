/**
 * Scenario 4 (scale), in-process in its own child so its heap and JIT state are its own: the
 * registry, watcher and snapshot cache of src/ wired as src/main.ts wires them (Envoy validate
 * rules checked on every new resource), driven directly, no network.
 *
 * IPC: run {groups, shards, nodesPerShard, reps} -> ScaleFigures
 */
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { validateEncoded } from '../../src/envoy-api/pgv.js';
import { envoyRoot } from '../../src/envoy-api/protos.js';
import { messageNameOf } from '../../src/envoy-api/type-urls.js';
import { systemClock } from '../../src/registry/clock.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import type { Heartbeat } from '../../src/registry/node.js';
import { portPools } from '../../src/registry/ports.js';
import { ExpiryGuard } from '../../src/registry/self-preservation.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { Watcher } from '../../src/watcher/watcher.js';
import { serveParent } from '../lib/ipc.js';

export interface ScaleRequest {
  readonly groups: number;
  readonly shards: number;
  readonly nodesPerShard: number;
  readonly reps: number;
}

export interface ScaleFigures {
  readonly nodes: number;
  readonly resourcesPerGroup: number;
  readonly configParseMs: number;
  /** The first rebuild: everything translated, encoded and validated from nothing. */
  readonly coldRebuildMs: number;
  readonly coldPublishes: number;
  /** watcher.reconfigure(an equal config): a full rebuild with warm caches; publishes nothing. */
  readonly reloadRebuildMs: number[];
  readonly reloadPublishes: number;
  /** One replica's status flips: registry.record + watcher.rebuild() until every group has published. */
  readonly statusChangeMs: number[];
  readonly statusChangeGroupsPublished: number[];
  /** Lease renewals that change nothing: how many registry notifications and publishes followed. */
  readonly noopHeartbeats: number;
  readonly noopNotifications: number;
  readonly noopPublishes: number;
  readonly noopRecordMicros: number;
  readonly debounceMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

/** `groups` groups (dc1 for even, dc2 for odd), each reaching every shard of `default` over tcp. */
export function scaleConfig(groups: number, shards: number): Config {
  const shardList = Array.from({ length: shards }, (_, i) => ({
    name: `shard${i}`,
    // Two clusters per shard take two ports: 20000 + 2i and 20001 + 2i never collide in a group.
    listen: `0.0.0.0:${20_000 + 2 * i}`,
    clusters: [`shard${i}-masters`, `shard${i}-replicas`],
    protocol: 'tcp',
  }));
  return parseConfig(
    {
      // Leases far longer than the run: nothing expires while it is measured.
      registry: { leaseSeconds: 3_600, warmupSeconds: 0 },
      groups: Array.from({ length: groups }, (_, g) => ({ name: `group${g}`, dc: g % 2 === 0 ? 'dc1' : 'dc2', database: 'default', shards: shardList })),
    },
    'bench scale',
  );
}

/** Per shard one master (epoch 1) and nodesPerShard - 1 replicas, DCs alternating, every address distinct. */
export function scaleNodes(shards: number, nodesPerShard: number): Heartbeat[] {
  const nodes: Heartbeat[] = [];
  for (let s = 0; s < shards; s++) {
    for (let n = 0; n < nodesPerShard; n++) {
      const k = nodes.length + 1;
      const host = `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`;
      nodes.push({
        id: `shard${s}-node${n}`,
        address: `${host}:9000`,
        host,
        port: 9000,
        database: 'default',
        shard: `shard${s}`,
        role: n === 0 ? 'master' : 'replica',
        status: 'active',
        dc: n % 2 === 0 ? 'dc1' : 'dc2',
        epoch: 1,
        labels: {},
      });
    }
  }
  return nodes;
}

async function run(request: ScaleRequest): Promise<ScaleFigures> {
  // Loading the Envoy protos (about 0.3 s) is start-up, not rebuilding: done before any clock runs.
  envoyRoot();
  let started = now();
  const config = scaleConfig(request.groups, request.shards);
  const configParseMs = now() - started;
  const logger = pino({ level: 'warn' });
  const registry = new MemoryRegistry({ ...config.registry, portPools: portPools(config), clock: systemClock });
  const cache = new SnapshotCache();
  const watcher = new Watcher({
    config,
    registry,
    cache,
    clock: systemClock,
    logger,
    expiryGuard: new ExpiryGuard(config.registry.selfPreservation, config.registry.leaseSeconds * 1000, logger),
    // As src/main.ts wires it: no resource breaking Envoy's validate rules is ever published.
    checkResource: (resource) => validateEncoded(messageNameOf(resource.typeUrl), resource.value).map((v) => `${v.path}: ${v.message} (${v.rule})`),
  });
  let publishes = 0;
  let lastPublishAt = 0;
  let groupsSeen = new Set<string>();
  for (const group of config.groups) {
    cache.watch(group.name, () => {
      publishes += 1;
      lastPublishAt = now();
      groupsSeen.add(group.name);
    });
  }
  let notifications = 0;
  registry.onChange(() => (notifications += 1));

  const nodes = scaleNodes(request.shards, request.nodesPerShard);
  for (const node of nodes) registry.record(node);

  // start() subscribes to the registry and rebuilds once: the cold rebuild.
  started = now();
  watcher.start();
  const coldRebuildMs = now() - started;
  const coldPublishes = publishes;
  const first = cache.get(config.groups[0]!.name);
  const resourcesPerGroup = first ? Object.values(first.sets).reduce((sum, set) => sum + set.items.size, 0) : 0;

  const reloadRebuildMs: number[] = [];
  publishes = 0;
  for (let i = 0; i < request.reps; i++) {
    started = now();
    watcher.reconfigure(config);
    reloadRebuildMs.push(now() - started);
  }
  const reloadPublishes = publishes;

  // A replica in the middle of the shard list: its shard's replicas EDS changes in every group.
  const subject = nodes[Math.floor(request.shards / 2) * request.nodesPerShard + 1]!;
  const statusChangeMs: number[] = [];
  const statusChangeGroupsPublished: number[] = [];
  for (let i = 0; i < request.reps; i++) {
    groupsSeen = new Set();
    started = now();
    registry.record({ ...subject, status: i % 2 === 0 ? 'draining' : 'active' });
    // Straight to the rebuild the debouncer would run xds.debounceMs later: the figure is the
    // pipeline's own cost, not the batching window.
    watcher.rebuild();
    statusChangeMs.push(groupsSeen.size > 0 ? lastPublishAt - started : Number.NaN);
    statusChangeGroupsPublished.push(groupsSeen.size);
    // Let the debounced rebuild the change also scheduled run (it finds nothing new).
    await sleep(config.xds.debounceMs + 50 + reloadRebuildMs[0]!);
  }
  // Back to active, so that the renewals below repeat each node's current fields.
  registry.record({ ...subject, status: 'active' });
  watcher.rebuild();
  await sleep(config.xds.debounceMs + 50);

  // Lease renewals of every node, unchanged: nothing may be notified, rebuilt or published.
  notifications = 0;
  publishes = 0;
  started = now();
  for (const node of nodes) registry.record(node);
  const noopRecordMicros = ((now() - started) * 1000) / nodes.length;
  await sleep(config.xds.debounceMs + config.xds.maxDelayMs + 100);
  const figures: ScaleFigures = {
    nodes: nodes.length,
    resourcesPerGroup,
    configParseMs,
    coldRebuildMs,
    coldPublishes,
    reloadRebuildMs,
    reloadPublishes,
    statusChangeMs,
    statusChangeGroupsPublished,
    noopHeartbeats: nodes.length,
    noopNotifications: notifications,
    noopPublishes: publishes,
    noopRecordMicros,
    debounceMs: config.xds.debounceMs,
  };
  watcher.stop();
  return figures;
}

serveParent({ run }, { pid: process.pid });
