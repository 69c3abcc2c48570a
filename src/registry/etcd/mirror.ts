/**
 * A local copy of every key under the prefix, kept by one linearizable list and then a watch from
 * the revision after it. What etcd 3.4's known watch faults would break is checked here, once:
 * - duplicated events and a watch "travelling back in time" (resumed from an older revision):
 *   an event at or below the revision already applied is dropped, so each change applies once
 *   and in order;
 * - a compacted revision (the watch cannot resume): the watch is cancelled and the prefix listed
 *   afresh at the current revision, never resumed past the gap;
 * - events lost (after compaction) or a stalled watch: every `checkIntervalMs` a linearizable read
 *   of the newest key and the key count is compared with the copy. A newer key that the watch has
 *   still not delivered one check later, or a count that differs once the copy has reached the
 *   read's revision, means the watch cannot be trusted: it is recreated from a fresh list.
 * The judge writes a tick key on every check, so a stalled watch always has a newer key to miss.
 */
import type { Etcd3, IKeyValue, IRangeResponse, Watcher } from 'etcd3';
import type { Logger } from 'pino';

/** Keys per page of a full list. */
const LIST_PAGE = 2000;
/** A check unanswered this long counts etcd out of reach (its requests time out at 5 s). */
const CHECK_TIMEOUT_MS = 2000;

export interface KeyChange {
  readonly type: 'put' | 'delete';
  readonly key: Buffer;
  readonly value: Buffer;
  readonly modRevision: number;
}

export interface MirrorSink {
  /** The whole prefix as listed at `revision`: replaces what the sink holds. */
  reset(kvs: readonly KeyChange[], revision: number): void;
  /** The changes of one watch response, in revision order. */
  apply(changes: readonly KeyChange[], revision: number): void;
}

export interface MirrorOptions {
  readonly client: Etcd3;
  readonly range: readonly [Buffer, Buffer];
  readonly sink: MirrorSink;
  readonly logger: Logger;
  readonly checkIntervalMs?: number;
  /** A request to etcd that takes longer has failed. */
  readonly requestTimeoutMs?: number;
}

export class EtcdMirror {
  /** The revision the copy is complete up to. */
  revision = 0;
  private listed = false;
  private watcher: Watcher | undefined;
  private connectedFlag = false;
  private problem: { reason: string; sinceMs: number } | undefined = { reason: 'not yet connected to etcd', sinceMs: Date.now() };
  private keyCount = 0;
  private readonly modOf = new Map<string, number>();
  private checkTimer: NodeJS.Timeout | undefined;
  private lagging: number | undefined;
  /** The last periodic read failed. */
  private unreachable = false;
  private checking = false;
  private stopped = false;
  private relisting: Promise<void> | undefined;
  private readonly waiters: Array<{ revision: number; resolve: () => void }> = [];

  constructor(private readonly options: MirrorOptions) {}

  /** Lists the prefix and starts watching; resolves once the first list is in. */
  async start(): Promise<void> {
    await this.relist('start');
    this.scheduleCheck(this.options.checkIntervalMs ?? 5000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.checkTimer) clearTimeout(this.checkTimer);
    await this.watcher?.cancel().catch(() => undefined);
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
  }

  /** True while the watch is connected and the copy trusted. */
  get connected(): boolean {
    return this.listed && this.connectedFlag;
  }

  /** Why the copy may be behind etcd, and since when; undefined while connected. */
  get trouble(): { reason: string; sinceMs: number } | undefined {
    return this.connected ? undefined : this.problem;
  }

  /**
   * A request to etcd failed (a write, a lease): look now whether etcd is out of reach, rather
   * than at the next check. One slow answer from one member is not an outage: only a failed
   * check marks the copy suspect.
   */
  reportFailure(_reason: string): void {
    if (this.stopped || this.checking) return;
    this.scheduleCheck(0);
  }

  /** Resolves once the copy holds every change up to `revision` (read your own writes). */
  caughtUp(revision: number, timeoutMs = this.options.requestTimeoutMs ?? 5000): Promise<void> {
    if (this.revision >= revision || this.stopped) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the watch did not deliver revision ${revision} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ revision, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  private async relist(reason: string): Promise<void> {
    this.relisting ??= this.doRelist(reason).finally(() => (this.relisting = undefined));
    return this.relisting;
  }

  private async doRelist(reason: string): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      // The old watch's events are ignored from now on; it is cancelled once the new one exists
      // (etcd3 ends its whole watch stream when the last watcher on it is cancelled).
      const old = this.watcher;
      this.watcher = undefined;
      try {
        const { kvs, revision } = await this.listAll();
        this.modOf.clear();
        for (const kv of kvs) this.modOf.set(kv.key.toString('latin1'), kv.modRevision);
        this.keyCount = kvs.length;
        this.options.sink.reset(kvs, revision);
        this.revision = revision;
        this.lagging = undefined;
        this.listed = true;
        await this.watchFrom(revision + 1);
        if (reason !== 'start') this.options.logger.warn({ reason, revision, keys: kvs.length }, 'etcd watch recreated from a fresh list');
        this.release();
        return;
      } catch (error) {
        this.markTrouble(`cannot list the registry in etcd: ${(error as Error).message}`);
        if (reason === 'start' && attempt === 0) this.options.logger.warn({ err: error }, 'etcd not reachable yet; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempt)).unref());
      } finally {
        // A watch on a dead connection may never confirm its cancel: do not wait for it.
        void old?.cancel().catch(() => undefined);
      }
    }
  }

  /** Every key under the prefix at one revision, in pages (a large registry is many MB). */
  private async listAll(): Promise<{ kvs: KeyChange[]; revision: number }> {
    const [start, rangeEnd] = this.options.range;
    const kvs: KeyChange[] = [];
    let key = start;
    let revision: number | undefined;
    for (;;) {
      const page = await this.options.client.kv.range(
        { key, range_end: rangeEnd, limit: LIST_PAGE, ...(revision === undefined ? {} : { revision }) },
        { deadline: this.deadline() },
      );
      revision ??= Number(page.header.revision);
      for (const kv of page.kvs) kvs.push(change('put', kv));
      const last = page.kvs.at(-1);
      if (!page.more || !last) return { kvs, revision };
      key = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  private async watchFrom(revision: number): Promise<void> {
    const [key] = this.options.range;
    const watcher = await this.options.client.watch().prefix(key.toString()).startRevision(String(revision)).create();
    this.watcher = watcher;
    this.markHealthy();
    watcher.on('connected', () => {
      if (this.watcher === watcher) this.markHealthy();
    });
    watcher.on('disconnected', (error: Error) => {
      if (this.watcher === watcher) this.markTrouble(`etcd watch disconnected: ${error.message}`);
    });
    watcher.on('error', (error: Error) => {
      if (this.watcher !== watcher || this.stopped) return;
      // Compacted past our revision, or cancelled by etcd: never resume past a gap.
      this.markTrouble(`etcd watch cancelled: ${error.message}`);
      void this.relist(error.message);
    });
    watcher.on('data', (response) => {
      if (this.watcher === watcher) this.onResponse(response.events.map((e) => change(e.type === 'Delete' ? 'delete' : 'put', e.kv)), Number(response.header.revision));
    });
  }

  private onResponse(changes: KeyChange[], headerRevision: number): void {
    // Only what is newer than the copy: duplicates and replays of older revisions are dropped.
    const fresh = changes.filter((c) => c.modRevision > this.revision);
    for (const c of fresh) {
      const id = c.key.toString('latin1');
      const had = this.modOf.has(id);
      if (c.type === 'put') {
        this.modOf.set(id, c.modRevision);
        if (!had) this.keyCount++;
      } else if (had) {
        this.modOf.delete(id);
        this.keyCount--;
      }
    }
    // An empty response is a progress notification: everything up to its revision was sent.
    const revision = fresh.length > 0 ? fresh[fresh.length - 1]!.modRevision : changes.length === 0 ? headerRevision : this.revision;
    if (fresh.length > 0) this.options.sink.apply(fresh, revision);
    this.revision = Math.max(this.revision, revision);
    this.release();
  }

  private scheduleCheck(delayMs: number): void {
    if (this.stopped) return;
    if (this.checkTimer) clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => {
      this.checking = true;
      void this.check()
        .finally(() => (this.checking = false))
        // After a failure, look again soon: the outage or its end is noticed in half a second.
        .then(() => this.scheduleCheck(this.unreachable ? 500 : (this.options.checkIntervalMs ?? 5000)));
    }, delayMs);
    this.checkTimer.unref();
  }

  /** The periodic linearizable read that catches a stalled watch, lost events or an etcd out of reach. */
  private async check(): Promise<void> {
    if (this.stopped || this.relisting) return;
    const [key, rangeEnd] = this.options.range;
    let newest: IRangeResponse;
    try {
      newest = await this.options.client.kv.range(
        { key, range_end: rangeEnd, limit: 1, sort_order: 'Descend', sort_target: 'Mod', keys_only: true },
        { deadline: new Date(Date.now() + CHECK_TIMEOUT_MS) },
      );
    } catch (error) {
      this.unreachable = true;
      this.markTrouble(`etcd not reachable: ${(error as Error).message}`);
      return;
    }
    if (this.unreachable) {
      // Back after reads failed: the watch's connection may be a dead one that never said so.
      this.unreachable = false;
      return void this.relist('etcd reachable again');
    }
    const newestMod = Number(newest.kvs[0]?.mod_revision ?? 0);
    const atRevision = Number(newest.header.revision);
    if (newestMod > this.revision) {
      if (this.lagging !== undefined && this.lagging <= this.revision) this.lagging = undefined;
      if (this.lagging !== undefined) return void this.relist(`the watch did not deliver revision ${this.lagging} within a check interval`);
      this.lagging = newestMod;
      return;
    }
    this.lagging = undefined;
    // Only at exactly that revision: a copy that has already applied later writes counts their keys too.
    if (this.revision === atRevision && Number(newest.count) !== this.keyCount) {
      void this.relist(`etcd holds ${newest.count} keys under the prefix but the watched copy ${this.keyCount}: events were lost`);
    }
  }

  private release(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (waiter.revision <= this.revision) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  private markHealthy(): void {
    this.connectedFlag = true;
    this.problem = undefined;
  }

  /** Keeps the time the trouble began across its changing reasons. */
  private markTrouble(reason: string): void {
    this.connectedFlag = false;
    this.problem = { reason, sinceMs: this.problem?.sinceMs ?? Date.now() };
  }

  private deadline(): Date {
    return new Date(Date.now() + (this.options.requestTimeoutMs ?? 5000));
  }
}

function change(type: 'put' | 'delete', kv: IKeyValue): KeyChange {
  return { type, key: kv.key, value: kv.value ?? Buffer.alloc(0), modRevision: Number(kv.mod_revision) };
}
