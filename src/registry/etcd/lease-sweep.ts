/**
 * A mass silence counted whole, although etcd ends it over seconds (docs/etcd-store.md). etcd
 * revokes at most 1,000 expired leases a second, so 3,000 nodes that fall silent together lose
 * their alive keys over 3 s; the judge, which sees no renewals, would count them silent one by
 * one, and expire the first before self-preservation saw the rest (227 of 3,000 in the test
 * that shows it). So once many nodes are silent at once, the judge asks etcd how much of every
 * other node's lease is left (LeaseTimeToLive): a node not renewed for over half a lease is
 * marked silent since then, as the memory store would count it. A mark is checked again at
 * most every `everyMs` until the node's alive key goes or its lease changes, so a node whose
 * heartbeats come back is no longer counted.
 */
import type { Logger } from 'pino';
import type { StoredDoc } from './etcd-registry.js';

/** Fewer silent nodes than this end within 0.1 s in etcd: well inside the judge's wait. */
export const SWEEP_AT = 100;
/** LeaseTimeToLive requests in flight at once. */
const CONCURRENCY = 64;

export interface LeaseTimeLeft {
  /** Whole seconds left (negative once past, -1 for a lease etcd no longer has), and the lease's granted seconds. */
  readonly ttl: number;
  readonly granted: number;
}

interface Mark {
  readonly lease: string;
  readonly silentSinceMs: number;
}

export class LeaseSweep {
  private readonly marks = new Map<string, Mark>();
  private lastSweepMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly timeLeft: (lease: string) => Promise<LeaseTimeLeft>,
    private readonly logger: Logger,
  ) {}

  /**
   * Sweeps if due: every alive node when `silentCount` (lease ended, not expired) reaches
   * SWEEP_AT, else the marked ones again; at most once per `everyMs`.
   */
  async run(silentCount: number, docs: ReadonlyMap<string, StoredDoc>, alive: ReadonlySet<string>, leaseMs: number, now: number, everyMs: number): Promise<void> {
    this.prune(docs, alive);
    const full = silentCount >= SWEEP_AT;
    if ((!full && this.marks.size === 0) || now - this.lastSweepMs < everyMs) return;
    this.lastSweepMs = now;
    const ids = full ? [...alive].filter((id) => docs.has(id)) : [...this.marks.keys()];
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        const lease = docs.get(id)?.doc.lease;
        if (lease === undefined) continue;
        const left = await this.timeLeft(lease);
        // ttl is whole seconds, cut down: at least granted - ttl - 1 seconds went by unrenewed.
        const unrenewedMs = (left.granted - left.ttl - 1) * 1000;
        if (unrenewedMs > leaseMs / 2) this.marks.set(id, { lease, silentSinceMs: this.marks.get(id)?.silentSinceMs ?? now - unrenewedMs });
        else this.marks.delete(id);
      }
    };
    const started = Date.now();
    try {
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, ids.length) }, worker));
    } catch (error) {
      // No worse than without a sweep: the alive keys still go as etcd revokes them.
      this.logger.warn({ err: error }, 'lease sweep failed; silent nodes are counted as etcd ends their leases');
      return;
    }
    if (full) this.logger.info({ silent: silentCount, asked: ids.length, silentToo: this.marks.size, ms: Date.now() - started }, 'many nodes silent at once: asked etcd for every lease left');
  }

  /** When a node that still has its alive key was last renewed, if a sweep found it silent. */
  silentSince(id: string): number | undefined {
    return this.marks.get(id)?.silentSinceMs;
  }

  private prune(docs: ReadonlyMap<string, StoredDoc>, alive: ReadonlySet<string>): void {
    for (const [id, mark] of this.marks) if (!alive.has(id) || docs.get(id)?.doc.lease !== mark.lease) this.marks.delete(id);
  }
}
