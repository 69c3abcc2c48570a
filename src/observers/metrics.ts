/**
 * GET /metrics (contract 15): Prometheus metrics built from what the stages announce — heartbeats
 * from the sources, rebuilds from the watcher, replies from the xDS streams — and, at scrape time,
 * from the routing view and the stream statuses. No label names a node.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import { PUSH_ORDER, SHORT_NAMES, type ResourceTypeUrl } from '../envoy-api/type-urls.js';
import type { Clock } from '../registry/clock.js';
import { shardKey } from '../registry/health.js';
import { isRoutable, type Health } from '../registry/node.js';
import type { HeartbeatOutcome, HeartbeatSource } from '../sources/heartbeat-outcome.js';
import type { RebuildEvent, RoutingView } from '../watcher/watcher.js';
import type { StreamReplyEvent, XdsObserver } from '../xds/observer.js';
import type { StreamStatus } from '../xds/stream-base.js';

/** From a registry change to the Envoy's ACK: 5 ms to 30 s. */
export const CONVERGENCE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const BUILD_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const HEALTHS: readonly Health[] = ['healthy', 'draining', 'inactive', 'expired', 'fenced'];

export interface MetricsDeps {
  readonly clock: Clock;
  readonly config: () => Config;
  readonly routingView: () => RoutingView;
  readonly xdsClients: () => readonly StreamStatus[];
  /** Default process and event-loop metrics (off in tests that build many instances). */
  readonly defaultMetrics?: boolean;
  /** Whether self-preservation holds, when another stage than the watcher decides it (the etcd store's judge). */
  readonly preserving?: () => boolean;
}

interface Sent {
  readonly version: string;
  readonly group: string;
  readonly sentAtMs: number;
}

interface TrackedStream {
  /** When its first response was sent: changes older than the stream are not its convergence. */
  readonly sinceMs: number;
  /** The last response sent of each type, until its ACK or NACK. */
  readonly awaiting: Map<ResourceTypeUrl, Sent>;
  /** The change last measured of each type (a resend of the same change is not measured twice). */
  readonly measured: Map<ResourceTypeUrl, number>;
}

/** Changes remembered per group and type, to find the one a response carried when its ACK comes. */
const CHANGE_HISTORY = 32;

export class Metrics implements XdsObserver {
  readonly registry = new Registry();
  private readonly heartbeats: Counter<'source' | 'outcome'>;
  private readonly responses: Counter<'type'>;
  private readonly nacks: Counter<'type'>;
  private readonly convergence: Histogram<'type'>;
  private readonly buildTime: Histogram;
  /**
   * group -> type -> the latest versions of the type's set, each with when the registry change
   * behind it happened, oldest first. Streams are told of a snapshot before the watcher's
   * rebuild event, so the change a response carried is looked up at its ACK: the latest one
   * that happened before the response was sent.
   */
  private readonly changes = new Map<string, Map<ResourceTypeUrl, Array<{ version: string; changedAtMs: number }>>>();
  /** streamId -> what is tracked of the stream; one entry, so a stream's close costs the same however many are open. */
  private readonly tracked = new Map<number, TrackedStream>();
  /** Self-preservation as of the last rebuild. */
  private preserving = false;

  constructor(private readonly deps: MetricsDeps) {
    const registers = [this.registry];
    // Two gauges read every stream's status: built once per scrape (prom-client collects every
    // metric in the same turn), not once per gauge.
    let statuses: readonly StreamStatus[] | undefined;
    const xdsClients = () => {
      if (!statuses) {
        statuses = deps.xdsClients();
        setImmediate(() => (statuses = undefined));
      }
      return statuses;
    };
    if (deps.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.heartbeats = new Counter({
      name: 'shardvoy_heartbeats_received_total',
      help: 'Heartbeats received, by source (http, dkv, agent) and outcome (accepted, invalid, unauthorized, refused, error).',
      labelNames: ['source', 'outcome'],
      registers,
    });
    const view = () => deps.routingView();
    new Gauge({
      name: 'shardvoy_nodes',
      help: 'Nodes in the registry, by health as of the last rebuild.',
      labelNames: ['health'],
      registers,
      collect() {
        const counts = new Map<Health, number>(HEALTHS.map((h) => [h, 0]));
        for (const verdict of view().health.values()) counts.set(verdict, (counts.get(verdict) ?? 0) + 1);
        for (const [health, count] of counts) this.set({ health }, count);
      },
    });
    new Gauge({
      name: 'shardvoy_shards_without_master',
      help: 'Shards (configured or seen in heartbeats) with no routable master.',
      registers,
      collect: () => this.setShardsWithoutMaster(),
    });
    new Gauge({
      name: 'shardvoy_fenced_masters',
      help: 'Masters fenced by a higher live epoch in their shard.',
      registers,
      collect() {
        let fenced = 0;
        for (const verdict of view().health.values()) if (verdict === 'fenced') fenced++;
        this.set(fenced);
      },
    });
    const preserving = deps.preserving ?? (() => this.preserving);
    new Gauge({
      name: 'shardvoy_self_preservation_engaged',
      help: '1 while self-preservation holds expiry, else 0.',
      registers,
      collect() {
        this.set(preserving() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'shardvoy_xds_streams',
      help: 'Open xDS streams, by protocol (sotw, delta) and group (empty before the first request names one).',
      labelNames: ['protocol', 'group'],
      registers,
      collect() {
        this.reset();
        for (const group of deps.config().groups) for (const protocol of ['sotw', 'delta']) this.set({ protocol, group: group.name }, 0);
        for (const client of xdsClients()) this.inc({ protocol: client.protocol, group: client.group ?? '' });
      },
    });
    new Gauge({
      name: 'shardvoy_xds_reply_wait_seconds',
      help: "The longest any client of the group has left a response of the type unanswered (no ACK, no NACK), in seconds; 0 when none waits. The only sign of an Envoy that takes config and never answers.",
      labelNames: ['group', 'type'],
      registers,
      collect() {
        const now = deps.clock.now();
        const longest = new Map<string, { group: string; type: string; seconds: number }>();
        for (const group of deps.config().groups) for (const typeUrl of PUSH_ORDER) longest.set(`${group.name}|${SHORT_NAMES[typeUrl]}`, { group: group.name, type: SHORT_NAMES[typeUrl], seconds: 0 });
        for (const client of xdsClients()) {
          for (const [typeUrl, status] of Object.entries(client.types)) {
            if (client.group === undefined || status.awaitingReplySince === undefined) continue;
            const type = SHORT_NAMES[typeUrl as ResourceTypeUrl];
            const seconds = Math.max(0, (now - Date.parse(status.awaitingReplySince)) / 1000);
            const entry = longest.get(`${client.group}|${type}`);
            if (entry) entry.seconds = Math.max(entry.seconds, seconds);
          }
        }
        this.reset();
        for (const { group, type, seconds } of longest.values()) this.set({ group, type }, seconds);
      },
    });
    this.responses = new Counter({ name: 'shardvoy_xds_responses_sent_total', help: 'xDS responses sent, by type (cds, eds, lds, rds).', labelNames: ['type'], registers });
    this.nacks = new Counter({ name: 'shardvoy_xds_nacks_received_total', help: 'xDS responses clients rejected (NACK), by type.', labelNames: ['type'], registers });
    this.convergence = new Histogram({
      name: 'shardvoy_config_change_to_ack_seconds',
      help: 'From a registry change to the ACK of the response that carried it, per client and type (clients connected after the change are not counted).',
      labelNames: ['type'],
      buckets: CONVERGENCE_BUCKETS,
      registers,
    });
    this.buildTime = new Histogram({
      name: 'shardvoy_snapshot_build_seconds',
      help: 'Time to judge the changed shards, build, check and publish the snapshots of one rebuild.',
      buckets: BUILD_BUCKETS,
      registers,
    });
    for (const typeUrl of PUSH_ORDER) {
      this.responses.inc({ type: SHORT_NAMES[typeUrl] }, 0);
      this.nacks.inc({ type: SHORT_NAMES[typeUrl] }, 0);
    }
  }

  /** Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  readonly heartbeat = (source: HeartbeatSource, outcome: HeartbeatOutcome): void => {
    this.heartbeats.inc({ source, outcome });
  };

  /** Give this to Watcher.observe(). */
  readonly onRebuild = (event: RebuildEvent): void => {
    this.buildTime.observe(event.buildSeconds);
    this.preserving = event.preserving;
    for (const snapshot of event.published) {
      let byType = this.changes.get(snapshot.group);
      if (!byType) this.changes.set(snapshot.group, (byType = new Map()));
      for (const typeUrl of PUSH_ORDER) {
        const version = snapshot.sets[typeUrl].version;
        let history = byType.get(typeUrl);
        if (!history) byType.set(typeUrl, (history = []));
        if (history.at(-1)?.version === version) continue;
        history.push({ version, changedAtMs: event.changedAtMs });
        if (history.length > CHANGE_HISTORY) history.shift();
      }
    }
  };

  responseSent(event: StreamReplyEvent): void {
    this.responses.inc({ type: SHORT_NAMES[event.typeUrl] });
    const now = this.deps.clock.now();
    let stream = this.tracked.get(event.streamId);
    if (!stream) {
      stream = { sinceMs: now, awaiting: new Map(), measured: new Map() };
      this.tracked.set(event.streamId, stream);
    }
    if (event.group === undefined) stream.awaiting.delete(event.typeUrl);
    else stream.awaiting.set(event.typeUrl, { version: event.version, group: event.group, sentAtMs: now });
  }

  acked(event: StreamReplyEvent): void {
    const stream = this.tracked.get(event.streamId);
    const sent = stream?.awaiting.get(event.typeUrl);
    if (!stream || !sent) return;
    stream.awaiting.delete(event.typeUrl);
    if (sent.version !== event.version) return;
    const history = this.changes.get(sent.group)?.get(event.typeUrl) ?? [];
    let change: { changedAtMs: number } | undefined;
    for (const c of history) if (c.changedAtMs <= sent.sentAtMs) change = c;
    // Not a change this client saw happen (it connected after it), or one already measured (a resend).
    if (!change || change.changedAtMs < stream.sinceMs || stream.measured.get(event.typeUrl) === change.changedAtMs) return;
    stream.measured.set(event.typeUrl, change.changedAtMs);
    this.convergence.observe({ type: SHORT_NAMES[event.typeUrl] }, Math.max(0, this.deps.clock.now() - change.changedAtMs) / 1000);
  }

  nacked(event: StreamReplyEvent & { readonly message: string }): void {
    this.nacks.inc({ type: SHORT_NAMES[event.typeUrl] });
    this.tracked.get(event.streamId)?.awaiting.delete(event.typeUrl);
  }

  streamClosed(event: { readonly streamId: number }): void {
    this.tracked.delete(event.streamId);
  }

  private setShardsWithoutMaster(): void {
    const gauge = this.registry.getSingleMetric('shardvoy_shards_without_master') as Gauge;
    const view = this.deps.routingView();
    const shards = new Set<string>();
    for (const group of this.deps.config().groups) for (const shard of group.shards) shards.add(shardKey(group.database, shard.name));
    const mastered = new Set<string>();
    for (const node of view.nodes) {
      const key = shardKey(node.database, node.shard);
      shards.add(key);
      const verdict = view.health.get(node.id);
      if (node.role === 'master' && verdict !== undefined && isRoutable(verdict)) mastered.add(key);
    }
    let without = 0;
    for (const key of shards) if (!mastered.has(key)) without++;
    gauge.set(without);
  }
}
