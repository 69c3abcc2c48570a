/**
 * The registry shared by several instances through etcd (contract 14). Reads come from a local
 * copy kept by a watch (mirror.ts), so the watcher and the API read as fast as from memory and
 * every instance that has reached the same revision holds the same nodes, ports and verdicts, and
 * so builds the same snapshots with the same versions. Writes are etcd transactions that compare
 * the revisions the copy saw: a port is taken only if its key does not exist yet, a node changes
 * only from the version this instance read, so two instances racing never both win; the loser
 * catches up and tries again. A heartbeat that changes nothing renews the node's lease and writes
 * nothing (leases.ts). Expiry and forgetting are the judge's (judge.ts), never a host's clock.
 */
import { performance } from 'node:perf_hooks';
import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { JudgedElsewhere } from '../judged-elsewhere.js';
import { MemoryRegistry } from '../memory-registry.js';
import { sameRouting, type Heartbeat, type Maintenance, type NodeRecord } from '../node.js';
import type { DroppedPort, PortAssignment, PortPool, PortView } from '../ports.js';
import { RegistryFullError, StoreUnavailableError, type NodeRegistry, type RecordOutcome, type RegistryState } from '../registry.js';
import type { LoadedNode } from '../state-entries.js';
import { RepeatLimiter } from '../../util/log-limits.js';
import { EtcdKeys, decodeNodeDoc, decodePortDoc, encodeNodeDoc, encodePortDoc, type NodeDoc } from './keys.js';
import { LeaseKeeper } from './leases.js';
import { EtcdMirror, type KeyChange, type MirrorSink } from './mirror.js';

export interface EtcdRegistryOptions {
  readonly client: Etcd3;
  readonly prefix: string;
  readonly leaseSeconds: number;
  readonly portPools: readonly PortPool[];
  readonly portReuseSeconds: number;
  readonly maxNodes: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How often the copy is checked against etcd (mirror.ts); tests use less. */
  readonly checkIntervalMs?: number;
}

export interface StoredDoc {
  readonly doc: NodeDoc;
  readonly modRevision: number;
}

interface StoredPort {
  readonly assignment: PortAssignment;
  readonly modRevision: number;
}

export type EtcdOp = 'txn' | 'lease_grant' | 'lease_renew';

/** What the store announces to observers (the judge, metrics, events); they must not throw. */
export interface StoreObserver {
  /** For the judge: a lease ended, the copy was listed afresh, or an operator asked to resume expiry. */
  copyChanged?(kind: 'alive-ended' | 'reset' | 'resume'): void;
  roundTrip?(op: EtcdOp, seconds: number): void;
  instanceJoined?(name: string): void;
  instanceLeft?(name: string): void;
}

export interface JudgeStatus {
  readonly judge: string;
  readonly preserving: boolean;
  readonly preserved: number;
}

function parseJudgeStatus(value: Buffer): JudgeStatus | undefined {
  try {
    const raw = JSON.parse(value.toString()) as Partial<JudgeStatus>;
    if (typeof raw.judge === 'string' && typeof raw.preserving === 'boolean' && typeof raw.preserved === 'number') {
      return { judge: raw.judge.slice(0, 256), preserving: raw.preserving, preserved: raw.preserved };
    }
  } catch {
    // A foreign value: no status.
  }
  return undefined;
}

/** Attempts of one write before its caller is told to retry (the others kept winning races). */
const MAX_ATTEMPTS = 16;

export class EtcdRegistry extends JudgedElsewhere implements NodeRegistry, MirrorSink {
  leaseMs: number;
  readonly keys: EtcdKeys;
  readonly mirror: EtcdMirror;
  private leases: LeaseKeeper;
  /** The nodes in the shape the watcher reads; its own clock never expires anyone (leases: never). */
  protected readonly view: MemoryRegistry;
  private readonly docs = new Map<string, StoredDoc>();
  /** Nodes whose alive key exists (their lease is running), and when this instance saw the others' end. */
  private readonly alive = new Set<string>();
  private readonly aliveEndedAt = new Map<string, number>();
  /** When this instance first saw each node's expired verdict: retention counts from there. */
  private readonly expiredSeenAt = new Map<string, number>();
  /** group -> port -> holder, and group -> node -> holder. */
  private readonly portKeys = new Map<string, Map<number, StoredPort>>();
  private readonly portOfNode = new Map<string, Map<string, PortAssignment>>();
  /** Keys this instance cannot read (not shardvoy's, or tampered with), by mod revision: a write replaces them, never races them forever. */
  private readonly unreadableNodes = new Map<string, number>();
  private readonly unreadablePorts = new Set<string>();
  /** Renewals heard here, for /v1/nodes' lastHeartbeat (they are not written to etcd). */
  private readonly lastHeard = new Map<string, number>();
  /** Ports this instance's writes in flight are claiming: its concurrent new nodes claim different ones. */
  private readonly claiming = new Set<string>();
  /** One write per node at a time from this instance. */
  private readonly writing = new Map<string, Promise<unknown>>();
  private readonly listeners = new Set<() => void>();
  private readonly storeObservers = new Set<StoreObserver>();
  /** Candidacy key (election lease) -> instance name: the instances sharing this registry. */
  private readonly members = new Map<string, string>();
  private readonly warnings = new RepeatLimiter();
  private pools: readonly PortPool[];
  private reuseMs: number;
  private maxNodes: number;
  private lastJudgeStatus: JudgeStatus | undefined;
  /** The registry has been read from etcd once. */
  listed = false;
  /** How many nodes the first list found: none means a new registry, which warms up like memory. */
  listedNodes = 0;

  constructor(private readonly options: EtcdRegistryOptions) {
    super();
    // etcd leases are whole seconds.
    const ttl = Math.max(1, Math.ceil(options.leaseSeconds));
    this.leaseMs = ttl * 1000;
    this.keys = new EtcdKeys(options.prefix);
    this.pools = options.portPools;
    this.reuseMs = options.portReuseSeconds * 1000;
    this.maxNodes = options.maxNodes;
    this.view = new MemoryRegistry({ leaseSeconds: Number.POSITIVE_INFINITY, expiredRetentionSeconds: 0, clock: options.clock });
    this.view.onChange(() => this.notify());
    this.leases = new LeaseKeeper(options.client, ttl);
    this.mirror = new EtcdMirror({
      client: options.client,
      range: this.keys.all,
      sink: this,
      logger: options.logger,
      ...(options.checkIntervalMs === undefined ? {} : { checkIntervalMs: options.checkIntervalMs }),
    });
  }

  async start(): Promise<void> {
    await this.mirror.start();
  }

  async stop(): Promise<void> {
    await this.mirror.stop();
    this.leases.close();
  }

  /** A reloaded configuration's pools, limits and lease (new leases get it); what is stored stays. */
  reconfigure(options: { portPools: readonly PortPool[]; portReuseSeconds: number; maxNodes: number; leaseSeconds: number }): void {
    const ttl = Math.max(1, Math.ceil(options.leaseSeconds));
    if (ttl * 1000 !== this.leaseMs) {
      const old = this.leases;
      this.leases = new LeaseKeeper(this.options.client, ttl);
      this.leaseMs = ttl * 1000;
      old.close();
    }
    this.pools = options.portPools;
    this.reuseMs = options.portReuseSeconds * 1000;
    this.maxNodes = options.maxNodes;
  }

  // ---- the copy (MirrorSink) ----

  reset(kvs: readonly KeyChange[], _revision: number): void {
    const before = new Set(this.docs.keys());
    this.docs.clear();
    this.alive.clear();
    this.portKeys.clear();
    this.portOfNode.clear();
    this.unreadableNodes.clear();
    this.unreadablePorts.clear();
    const membersBefore = new Map(this.members);
    this.members.clear();
    for (const kv of kvs) this.take(kv, false);
    // Who came and went while the copy was not watching (none on the first list: that is the start).
    if (this.listed) {
      for (const [lease, name] of this.members) if (!membersBefore.has(lease)) for (const o of this.storeObservers) o.instanceJoined?.(name);
      for (const [lease, name] of membersBefore) if (!this.members.has(lease)) for (const o of this.storeObservers) o.instanceLeft?.(name);
    }
    // A node listed without its alive key: its lease had ended when this copy was made.
    const now = this.options.clock.now();
    for (const id of this.docs.keys()) if (!this.alive.has(id) && !this.aliveEndedAt.has(id)) this.aliveEndedAt.set(id, now);
    if (!this.listed) this.listedNodes = this.docs.size;
    this.listed = true;
    for (const id of before) if (!this.docs.has(id)) this.view.forget(id);
    this.view.restore({ nodes: [...this.docs.values()].map(({ doc }) => this.record_(doc)), ports: [] });
    for (const o of this.storeObservers) o.copyChanged?.('reset');
  }

  apply(changes: readonly KeyChange[]): void {
    for (const change of changes) this.take(change, true);
  }

  private take(change: KeyChange, live: boolean): void {
    const key = this.keys.parse(change.key);
    const now = this.options.clock.now();
    if (key.kind === 'node') {
      const decoded = change.type === 'put' ? decodeNodeDoc(key.id, change.value) : undefined;
      if (typeof decoded === 'string') {
        this.warnings.log(this.options.logger, 'warn', 'etcd-bad-node', { key: change.key.toString().slice(0, 200), reason: decoded }, 'etcd node entry ignored');
      }
      if (typeof decoded === 'string') this.unreadableNodes.set(key.id, change.modRevision);
      else this.unreadableNodes.delete(key.id);
      if (decoded === undefined || typeof decoded === 'string') {
        this.docs.delete(key.id);
        this.expiredSeenAt.delete(key.id);
        this.aliveEndedAt.delete(key.id);
        this.lastHeard.delete(key.id);
        if (live) this.view.forget(key.id);
        return;
      }
      this.docs.set(key.id, { doc: decoded, modRevision: change.modRevision });
      if (decoded.expired && !this.expiredSeenAt.has(key.id)) this.expiredSeenAt.set(key.id, now);
      if (!decoded.expired) this.expiredSeenAt.delete(key.id);
      if (live) this.view.restore({ nodes: [this.record_(decoded)], ports: [] });
    } else if (key.kind === 'alive') {
      if (change.type === 'put') {
        this.alive.add(key.id);
        this.aliveEndedAt.delete(key.id);
      } else {
        this.alive.delete(key.id);
        this.aliveEndedAt.set(key.id, now);
        if (live) for (const o of this.storeObservers) o.copyChanged?.('alive-ended');
      }
    } else if (key.kind === 'port') {
      const held = this.portKeys.get(key.group) ?? new Map<number, StoredPort>();
      this.portKeys.set(key.group, held);
      const previous = held.get(key.port);
      if (previous) this.portOfNode.get(key.group)?.delete(previous.assignment.nodeId);
      const decoded = change.type === 'put' ? decodePortDoc(key.group, key.port, change.value) : undefined;
      // An unreadable port key is never taken for free: its create-only claim could only fail.
      if (typeof decoded === 'string') this.unreadablePorts.add(`${key.group}/${key.port}`);
      else this.unreadablePorts.delete(`${key.group}/${key.port}`);
      if (decoded === undefined || typeof decoded === 'string') held.delete(key.port);
      else {
        held.set(key.port, { assignment: decoded, modRevision: change.modRevision });
        const byNode = this.portOfNode.get(key.group) ?? new Map<string, PortAssignment>();
        this.portOfNode.set(key.group, byNode);
        byNode.set(decoded.nodeId, decoded);
      }
      // The holder's node listener changes: its shard is judged again.
      const touched = [previous?.assignment.nodeId, typeof decoded === 'object' ? decoded.nodeId : undefined];
      if (live) for (const id of new Set(touched)) if (id && this.docs.has(id)) this.view.restore({ nodes: [this.record_(this.docs.get(id)!.doc)], ports: [] });
    } else if (key.kind === 'instance') {
      const name = change.type === 'put' ? change.value.toString().slice(0, 256) : undefined;
      const was = this.members.get(key.lease);
      if (name === undefined) this.members.delete(key.lease);
      else this.members.set(key.lease, name);
      if (live && was === undefined && name !== undefined) for (const o of this.storeObservers) o.instanceJoined?.(name);
      if (live && was !== undefined && name === undefined) for (const o of this.storeObservers) o.instanceLeft?.(was);
    } else if (key.kind === 'tick') {
      this.lastJudgeStatus = change.type === 'put' ? parseJudgeStatus(change.value) : undefined;
    } else if (key.kind === 'resume' && change.type === 'put' && live) {
      for (const o of this.storeObservers) o.copyChanged?.('resume');
    }
  }

  private record_(doc: NodeDoc): LoadedNode & { expired: boolean } {
    return { ...doc.node, expired: doc.expired };
  }

  // ---- reads (NodeRegistry) ----

  get ports(): PortView {
    return {
      portOf: (group, nodeId) => {
        const assignment = this.portOfNode.get(group)?.get(nodeId);
        return assignment?.releasedAtMs === undefined ? assignment : undefined;
      },
      all: () => [...this.portOfNode.values()].flatMap((byNode) => [...byNode.values()]),
    };
  }

  override get(id: string): NodeRecord | undefined {
    const node = this.view.get(id);
    const heard = this.lastHeard.get(id);
    return node && heard !== undefined && heard > node.lastHeartbeatMs ? { ...node, lastHeartbeatMs: heard } : node;
  }

  state(): RegistryState {
    return { nodes: [...this.docs.values()].map(({ doc }) => doc.node), ports: this.ports.all() };
  }

  /** State files go in with `shardvoy state import`, not at start. */
  restore(): DroppedPort[] {
    throw new Error('the etcd store is filled by heartbeats or `shardvoy state import`, not by restore()');
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }


  /** Tells `observer` what the store announces (below). Returns an unsubscribe function. */
  observe(observer: StoreObserver): () => void {
    this.storeObservers.add(observer);
    return () => this.storeObservers.delete(observer);
  }

  /** The instances sharing this registry, by name. */
  instances(): string[] {
    return [...new Set(this.members.values())].sort();
  }

  /** What the judge reads: every node's document, whether its lease runs, since when it ended. */
  judgeView(): { docs: ReadonlyMap<string, StoredDoc>; alive: ReadonlySet<string>; aliveEndedAt: ReadonlyMap<string, number>; expiredSeenAt: ReadonlyMap<string, number> } {
    return { docs: this.docs, alive: this.alive, aliveEndedAt: this.aliveEndedAt, expiredSeenAt: this.expiredSeenAt };
  }

  /** Why writes are refused now, if they are. */
  trouble(): { reason: string; sinceMs: number } | undefined {
    return this.mirror.trouble;
  }

  // ---- writes ----

  record(heartbeat: Heartbeat): Promise<RecordOutcome> {
    return this.serially(heartbeat.id, () => this.recordNow(heartbeat));
  }

  setMaintenance(id: string, maintenance: Maintenance | undefined): Promise<NodeRecord | undefined> {
    return this.serially(id, () =>
      this.rewrite(id, (doc) => {
        const { maintenance: _old, ...node } = doc.node;
        return { ...doc, node: maintenance ? { ...node, maintenance: { reason: maintenance.reason, sinceMs: maintenance.sinceMs } } : node };
      }),
    );
  }

  forget(id: string): Promise<NodeRecord | undefined> {
    return this.serially(id, async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        this.writable();
        const stored = this.docs.get(id);
        const node = this.get(id);
        if (!stored || !node) return undefined;
        const done = await this.commit([this.unchanged(id, stored)], [...this.deleteNode(id), ...this.releasePorts(id)]);
        if (done) {
          this.leases.revoke(stored.doc.lease);
          return node;
        }
      }
      throw this.contended(id);
    });
  }

  /** The judge's verdict: the node's lease ran out and self-preservation does not keep it. */
  async expire(id: string, stored: StoredDoc, judge: ICompare): Promise<boolean> {
    const expired = { ...stored.doc, expired: true };
    // Only if nobody heard from it meanwhile: its alive key must still be absent.
    const aliveAbsent: ICompare = { key: this.keys.alive(id), target: 'Create', result: 'Equal', create_revision: 0 };
    return this.commit([judge, this.unchanged(id, stored), aliveAbsent], [{ request_put: { key: this.keys.node(id), value: encodeNodeDoc(expired) } }]);
  }

  /** The judge forgets a node expired for the whole retention; its ports are held for it. */
  async forgetExpired(id: string, stored: StoredDoc, judge: ICompare): Promise<boolean> {
    return this.commit([judge, this.unchanged(id, stored)], [...this.deleteNode(id), ...this.releasePorts(id)]);
  }

  /** Asks the judge, wherever it runs, to end self-preservation. */
  async requestResume(): Promise<void> {
    this.writable();
    await this.options.client.kv.put({ key: this.keys.resume, value: Buffer.from(String(Date.now())) }, { deadline: this.deadline() }).catch((error: Error) => {
      throw this.unavailable(error);
    });
  }

  /**
   * The judge's tick: a write every few seconds, so a stalled watch always has a key to miss;
   * it carries the judge's name and whether self-preservation holds, for every instance.
   */
  async tick(status: JudgeStatus): Promise<void> {
    await this.options.client.kv.put({ key: this.keys.tick, value: Buffer.from(JSON.stringify(status)) }, { deadline: this.deadline() });
  }

  /** The judge as its last tick told (undefined before the first). */
  judgeStatus(): JudgeStatus | undefined {
    return this.lastJudgeStatus;
  }

  private async recordNow(heartbeat: Heartbeat): Promise<RecordOutcome> {
    // One new lease for all attempts (a lease is a raft write); given back unless a write used it.
    let lease: string | undefined;
    let used = false;
    try {
      return await this.recordAttempts(heartbeat, async () => (lease ??= await this.grantLease()), () => (used = true));
    } finally {
      if (lease !== undefined && !used) this.leases.revoke(lease);
    }
  }

  private async grantLease(): Promise<string> {
    return this.timed('lease_grant', this.leases.grant()).catch((error: Error) => {
      throw this.unavailable(error);
    });
  }

  private async recordAttempts(heartbeat: Heartbeat, newLease: () => Promise<string>, leaseUsed: () => void): Promise<RecordOutcome> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      this.writable();
      const stored = this.docs.get(heartbeat.id);
      const plan = this.planPorts(heartbeat);
      const unchanged = stored && !stored.doc.expired && sameStored(stored.doc.node, heartbeat) && plan.ops.length === 0;
      if (unchanged && this.alive.has(heartbeat.id)) {
        const ttl = await this.timed('lease_renew', this.leases.renew(stored.doc.lease)).catch((error: Error) => {
          throw this.unavailable(error);
        });
        if (ttl > 0) {
          this.lastHeard.set(heartbeat.id, this.options.clock.now());
          return { node: this.get(heartbeat.id)!, routingChanged: false, portsExhausted: plan.exhausted };
        }
      }
      const evictions = stored ? [] : this.makeRoom();
      const lease = await newLease();
      const doc: NodeDoc = {
        node: {
          ...heartbeat,
          firstSeenMs: stored?.doc.node.firstSeenMs ?? this.options.clock.now(),
          ...(stored?.doc.node.maintenance ? { maintenance: stored.doc.node.maintenance } : {}),
        },
        lease,
        expired: false,
      };
      const compares = [stored ? this.unchanged(heartbeat.id, stored) : this.absent(heartbeat.id), ...plan.compares, ...evictions.flatMap((e) => e.compares)];
      for (const claim of plan.claims) this.claiming.add(claim);
      const ops: IRequestOp[] = [
        { request_put: { key: this.keys.node(heartbeat.id), value: encodeNodeDoc(doc) } },
        { request_put: { key: this.keys.alive(heartbeat.id), value: Buffer.alloc(0), lease } },
        ...plan.ops,
        ...evictions.flatMap((e) => e.ops),
      ];
      const applied = await this.commit(compares, ops).finally(() => {
        for (const claim of plan.claims) this.claiming.delete(claim);
      });
      if (applied) {
        leaseUsed();
        if (stored) this.leases.revoke(stored.doc.lease);
        this.lastHeard.set(heartbeat.id, this.options.clock.now());
        const routingChanged = !stored || stored.doc.expired || !sameRouting(stored.doc.node, heartbeat) || plan.ops.length > 0;
        return { node: this.get(heartbeat.id)!, routingChanged, portsExhausted: plan.exhausted };
      }
      // Another instance won the race: try again once the copy shows its write, a little apart from the other losers.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (attempt + 1)));
    }
    throw this.contended(heartbeat.id);
  }

  /** Changes a stored node's document, as read, unless another instance changed it first. */
  private async rewrite(id: string, change: (doc: NodeDoc) => NodeDoc): Promise<NodeRecord | undefined> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      this.writable();
      const stored = this.docs.get(id);
      if (!stored) return undefined;
      if (await this.commit([this.unchanged(id, stored)], [{ request_put: { key: this.keys.node(id), value: encodeNodeDoc(change(stored.doc)) } }])) {
        return this.get(id);
      }
    }
    throw this.contended(id);
  }

  /**
   * The port changes a heartbeat needs: a free port in each group of its database it holds none
   * in (taken only if still free when the transaction runs), its own held port back, and its
   * ports in groups of another database released.
   */
  private planPorts(heartbeat: Heartbeat): { compares: ICompare[]; ops: IRequestOp[]; exhausted: string[]; claims: string[] } {
    const claims: string[] = [];
    const compares: ICompare[] = [];
    const ops: IRequestOp[] = [];
    const exhausted: string[] = [];
    const now = this.options.clock.now();
    for (const pool of this.pools) {
      const own = this.portOfNode.get(pool.group)?.get(heartbeat.id);
      const ownKey = own && this.portKeys.get(pool.group)?.get(own.port);
      if (pool.database !== heartbeat.database) {
        if (own && ownKey && own.releasedAtMs === undefined) {
          compares.push(this.modIs(this.keys.port(pool.group, own.port), ownKey.modRevision));
          ops.push(this.putPort(pool.group, own.port, { nodeId: own.nodeId, advertisedHost: own.advertisedHost, releasedAtMs: now }));
        }
        continue;
      }
      if (own && ownKey) {
        if (own.releasedAtMs !== undefined) {
          compares.push(this.modIs(this.keys.port(pool.group, own.port), ownKey.modRevision));
          ops.push(this.putPort(pool.group, own.port, { nodeId: own.nodeId, advertisedHost: own.advertisedHost, releasedAtMs: undefined }));
        }
        continue;
      }
      const free = this.lowestFree(pool, now);
      if (!free) {
        exhausted.push(pool.group);
        continue;
      }
      const key = this.keys.port(pool.group, free.port);
      claims.push(`${pool.group}/${free.port}`);
      compares.push(free.held ? this.modIs(key, free.held.modRevision) : { key, target: 'Create', result: 'Equal', create_revision: 0 });
      ops.push(this.putPort(pool.group, free.port, { nodeId: heartbeat.id, advertisedHost: free.advertisedHost, releasedAtMs: undefined }));
    }
    return { compares, ops, exhausted, claims };
  }

  private lowestFree(pool: PortPool, now: number): { port: number; advertisedHost: string; held: StoredPort | undefined } | undefined {
    const held = this.portKeys.get(pool.group);
    for (const frontEnd of pool.frontEnds) {
      for (let port = frontEnd.firstPort; port <= frontEnd.lastPort; port++) {
        if (this.claiming.has(`${pool.group}/${port}`) || this.unreadablePorts.has(`${pool.group}/${port}`)) continue;
        const holder = held?.get(port);
        // A forgotten node's port goes to another only after the reuse period (ports.ts).
        const reusable = holder && holder.assignment.releasedAtMs !== undefined && now - holder.assignment.releasedAtMs >= this.reuseMs;
        if (!holder || reusable) return { port, advertisedHost: frontEnd.advertisedHost, held: holder };
      }
    }
    return undefined;
  }

  /**
   * A new node beyond maxNodes takes the place of expired nodes, the longest expired first (as
   * in memory); none: refused. Checked against this instance's copy: instances admitting new
   * nodes at the same moment can pass the limit by the few they admit together.
   */
  private makeRoom(): Array<{ compares: ICompare[]; ops: IRequestOp[] }> {
    if (this.docs.size < this.maxNodes) return [];
    const needed = this.docs.size - this.maxNodes + 1;
    const expired = [...this.expiredSeenAt].sort((a, b) => a[1] - b[1]).slice(0, needed);
    if (expired.length < needed) throw new RegistryFullError(this.maxNodes);
    return expired.map(([id]) => ({ compares: [this.unchanged(id, this.docs.get(id)!)], ops: [...this.deleteNode(id), ...this.releasePorts(id)] }));
  }

  private deleteNode(id: string): IRequestOp[] {
    return [{ request_delete_range: { key: this.keys.node(id) } }, { request_delete_range: { key: this.keys.alive(id) } }];
  }

  private releasePorts(id: string): IRequestOp[] {
    const now = this.options.clock.now();
    const ops: IRequestOp[] = [];
    for (const [group, byNode] of this.portOfNode) {
      const own = byNode.get(id);
      if (own && own.releasedAtMs === undefined) ops.push(this.putPort(group, own.port, { nodeId: id, advertisedHost: own.advertisedHost, releasedAtMs: now }));
    }
    return ops;
  }

  private putPort(group: string, port: number, doc: { nodeId: string; advertisedHost: string; releasedAtMs: number | undefined }): IRequestOp {
    return { request_put: { key: this.keys.port(group, port), value: encodePortDoc(doc) } };
  }

  private unchanged(id: string, stored: StoredDoc): ICompare {
    return this.modIs(this.keys.node(id), stored.modRevision);
  }

  /** No node document, or one this instance could not read, as it was read. */
  private absent(id: string): ICompare {
    const unreadable = this.unreadableNodes.get(id);
    if (unreadable !== undefined) return this.modIs(this.keys.node(id), unreadable);
    return { key: this.keys.node(id), target: 'Create', result: 'Equal', create_revision: 0 };
  }

  private modIs(key: Buffer, modRevision: number): ICompare {
    return { key, target: 'Mod', result: 'Equal', mod_revision: modRevision };
  }

  /** Runs a transaction; true if it applied. Either way the copy has caught up with it when this returns. */
  private async commit(compare: ICompare[], success: IRequestOp[]): Promise<boolean> {
    let response;
    try {
      response = await this.timed('txn', this.options.client.kv.txn({ compare, success, failure: [] }, { deadline: this.deadline() }));
    } catch (error) {
      throw this.unavailable(error as Error);
    }
    await this.mirror.caughtUp(Number(response.header.revision)).catch((error: Error) => {
      throw this.unavailable(error);
    });
    return response.succeeded;
  }

  /** Announces how long one request to etcd took, answered or failed. */
  private async timed<T>(op: EtcdOp, request: Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await request;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      for (const o of this.storeObservers) o.roundTrip?.(op, seconds);
    }
  }

  private unavailable(error: Error): StoreUnavailableError {
    this.mirror.reportFailure(error.message);
    return new StoreUnavailableError(error.message, 1);
  }

  private writable(): void {
    const trouble = this.mirror.trouble;
    if (trouble) throw new StoreUnavailableError(trouble.reason, 1);
  }

  private contended(id: string): StoreUnavailableError {
    return new StoreUnavailableError(`node ${JSON.stringify(id.slice(0, 64))} kept changing through other instances (${MAX_ATTEMPTS} attempts)`, 1);
  }

  private serially<T>(id: string, write: () => Promise<T>): Promise<T> {
    const before = this.writing.get(id) ?? Promise.resolve();
    const mine = before.then(write, write);
    const settled = mine.catch(() => undefined);
    this.writing.set(id, settled);
    void settled.then(() => {
      if (this.writing.get(id) === settled) this.writing.delete(id);
    });
    return mine;
  }

  private deadline(): Date {
    return new Date(Date.now() + 5000);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}

/** Nothing to write: the routing fields, the labels and the DKV details but their timestamp are as stored. */
function sameStored(stored: LoadedNode, heartbeat: Heartbeat): boolean {
  if (!sameRouting(stored, heartbeat) || stored.host !== heartbeat.host || stored.port !== heartbeat.port) return false;
  const labels = Object.entries(heartbeat.labels);
  if (labels.length !== Object.keys(stored.labels).length || labels.some(([k, v]) => stored.labels[k] !== v)) return false;
  // DKV sends a new timestamp with every UpdateStatus: it alone is no reason for a consensus write.
  const { timestamp: _a, ...was } = stored.dkv ?? { timestamp: '' };
  const { timestamp: _b, ...now } = heartbeat.dkv ?? { timestamp: '' };
  return JSON.stringify(was) === JSON.stringify(now);
}
